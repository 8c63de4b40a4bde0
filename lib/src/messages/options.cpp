#include "extension_runner/messages/options.hpp"

namespace extension_runner {

std::string messages_runtime_url(const MessagesOptions& options) {
  if (!options.enabled) return "";
  std::string where = options.listen;
  // The wildcard address is where we listen, not one the function can connect to.
  if (where.rfind("0.0.0.0:", 0) == 0) where = "127.0.0.1" + where.substr(7);
  return "http://" + where + kMessagesPath;
}

}  // namespace extension_runner
