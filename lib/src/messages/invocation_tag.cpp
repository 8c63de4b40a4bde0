#include "extension_runner/messages/invocation_tag.hpp"

namespace extension_runner {

void InvocationTag::begin(const std::string& request_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  in_flight_ = request_id;
}

std::string InvocationTag::tag(const std::string& header) const {
  if (!header.empty()) return header;
  if (!one_at_a_time_) return "";
  std::lock_guard<std::mutex> lock(mutex_);
  return in_flight_;
}

}  // namespace extension_runner
