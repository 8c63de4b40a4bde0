#include "extension_runner/messages/options.hpp"

namespace extension_runner {

std::string messages_runtime_url(const MessagesOptions& options) {
  if (!options.enabled) return "";
  std::string where = options.listen;
  // An ephemeral port is known only to the host once bound: no URL to hand out in advance.
  if (where.size() >= 2 && where.compare(where.size() - 2, 2, ":0") == 0) return "";
  // The wildcard address is where we listen, not one the function can connect to.
  if (where.rfind("0.0.0.0:", 0) == 0) where = "127.0.0.1" + where.substr(7);
  return "http://" + where + kMessagesPath;
}

}  // namespace extension_runner
