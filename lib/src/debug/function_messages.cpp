#include "extension_runner/debug/function_messages.hpp"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "extension_runner/core/fd.hpp"
#include "extension_runner/messages/invocation_tag.hpp"

namespace extension_runner {

Result<int> post_function_messages(const std::string& url, const std::string& request_id,
                                   const std::vector<std::string>& messages_json) {
  const auto scheme_end = url.find("://");
  const auto path_start = url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
  if (scheme_end == std::string::npos || path_start == std::string::npos) {
    return make_error(ErrorKind::InvalidInput, "not an http URL: " + url);
  }
  httplib::Client client(url.substr(0, path_start));
  // The emulated function waits no longer than the SDKs' send() does by default.
  client.set_connection_timeout(0, 50000);
  client.set_read_timeout(0, 50000);
  std::string body = "[";
  for (const auto& message : messages_json) body += (body.size() > 1 ? "," : "") + message;
  body += "]";
  httplib::Headers headers;
  if (!request_id.empty()) headers.emplace(kMessagesRequestIdHeader, request_id);
  auto res = client.Post(url.substr(path_start), headers, body, "application/json");
  if (!res) {
    return make_error(ErrorKind::Io, "POST " + url + ": " + httplib::to_string(res.error()));
  }
  return res->status;
}

Result<int> free_loopback_port() {
  Fd sock(::socket(AF_INET, SOCK_STREAM, 0));
  if (!sock.valid()) return io_error("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return io_error("bind a loopback port");
  }
  return static_cast<int>(ntohs(addr.sin_port));
}

}  // namespace extension_runner
