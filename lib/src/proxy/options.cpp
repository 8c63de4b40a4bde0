#include "extension_runner/proxy/options.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace extension_runner {
namespace {

Error invalid(std::string message) {
  return make_error(ErrorKind::ConfigInvalid, std::move(message));
}

std::string quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

std::optional<int64_t> parse_integer(std::string_view text) {
  int64_t value = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size())
    return std::nullopt;
  return value;
}

bool is_ipv4_loopback(const std::string& host) {
  in_addr address{};
  if (::inet_pton(AF_INET, host.c_str(), &address) != 1) return false;
  return (ntohl(address.s_addr) >> 24) == 127;
}

}  // namespace

std::string HostPort::to_string() const { return host + ":" + std::to_string(port); }

const char* proxy_mode_name(ProxyMode mode) {
  switch (mode) {
    case ProxyMode::Off:
      return "off";
    case ProxyMode::Observe:
      return "observe";
    case ProxyMode::Intercept:
      return "intercept";
  }
  return "off";
}

const char* fail_policy_name(FailPolicy policy) {
  return policy == FailPolicy::Closed ? "closed" : "open";
}

Result<ProxyMode> parse_proxy_mode(std::string_view text) {
  for (ProxyMode mode : {ProxyMode::Off, ProxyMode::Observe, ProxyMode::Intercept}) {
    if (text == proxy_mode_name(mode)) return mode;
  }
  return invalid("proxy mode " + quoted(text) + " is not one of off, observe, intercept");
}

Result<FailPolicy> parse_fail_policy(std::string_view text) {
  for (FailPolicy policy : {FailPolicy::Open, FailPolicy::Closed}) {
    if (text == fail_policy_name(policy)) return policy;
  }
  return invalid("proxy fail policy " + quoted(text) + " is not one of open, closed");
}

Result<int64_t> parse_hook_timeout_ms(std::string_view text) {
  const auto value = parse_integer(text);
  if (!value || *value < kMinHookTimeoutMs || *value > kMaxHookTimeoutMs) {
    return invalid("proxy hook timeout " + quoted(text) + " is not an integer from " +
                   std::to_string(kMinHookTimeoutMs) + " to " + std::to_string(kMaxHookTimeoutMs) +
                   " (ms)");
  }
  return *value;
}

Result<HostPort> parse_host_port(std::string_view text, std::string_view what) {
  const auto colon = text.rfind(':');
  const std::string_view host = text.substr(0, colon);
  int64_t port = -1;
  if (colon != std::string_view::npos) port = parse_integer(text.substr(colon + 1)).value_or(-1);
  if (host.empty() || host.find_first_of("/ \t") != std::string_view::npos || port < 0 ||
      port > 65535) {
    return invalid(std::string(what) + " " + quoted(text) + " is not host:port (port 0-65535)");
  }
  return HostPort{std::string(host), static_cast<uint16_t>(port)};
}

Result<void> validate_proxy_options(const ProxyOptions& options) {
  if (options.upstream.host.empty() || options.upstream.port == 0) {
    return invalid("the proxy's upstream Runtime API " + quoted(options.upstream.to_string()) +
                   " is not host:port with a port (is AWS_LAMBDA_RUNTIME_API set?)");
  }
  if (!is_ipv4_loopback(options.listen.host)) {
    return invalid("the proxy listens on " + quoted(options.listen.host) +
                   ", which is not an IPv4 loopback address (127.x.x.x): the Runtime API must "
                   "not be reachable from outside the sandbox");
  }
  if (options.listen.port != 0 && options.listen.host == options.upstream.host &&
      options.listen.port == options.upstream.port) {
    return invalid("the proxy cannot listen on its own upstream " +
                   quoted(options.upstream.to_string()));
  }
  if (options.hook_timeout_ms < kMinHookTimeoutMs || options.hook_timeout_ms > kMaxHookTimeoutMs) {
    return invalid("proxy hook timeout " + std::to_string(options.hook_timeout_ms) +
                   " ms is out of range");
  }
  if (options.body_limit_bytes == 0 || options.observe_queue_items == 0 ||
      options.observe_queue_bytes == 0 || options.max_connections == 0 ||
      options.upstream_connect_timeout_ms <= 0) {
    return invalid(
        "the proxy's body limit, observe queue bounds, connection limit and connect "
        "timeout must be positive");
  }
  return {};
}

}  // namespace extension_runner
