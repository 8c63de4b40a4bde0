#include "extension_runner/core/text.hpp"

namespace extension_runner {

std::string clip(std::string_view text, size_t max) {
  if (text.size() <= max) return std::string(text);
  std::string out(text.substr(0, max));
  out += "…";
  return out;
}

}  // namespace extension_runner
