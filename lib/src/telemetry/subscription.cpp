#include "extension_runner/telemetry/subscription.hpp"

#include <cerrno>
#include <cstdlib>

#include "extension_runner/core/json.hpp"
#include "extension_runner/lambda/extensions_api.hpp"

namespace extension_runner {
namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

const char* telemetry_api_name(TelemetryMode mode) {
  return mode == TelemetryMode::Logs ? "Logs API" : "Telemetry API";
}

Result<ListenAddress> parse_listen_address(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return make_error(ErrorKind::ConfigInvalid,
                      "listen address '" + listen + "': expected host:port");
  }
  const std::string port_text = listen.substr(colon + 1);
  errno = 0;
  char* end = nullptr;
  const long port = std::strtol(port_text.c_str(), &end, 10);
  if (port_text.empty() || *end != '\0' || errno == ERANGE || port < 0 || port > 65535) {
    return make_error(ErrorKind::ConfigInvalid,
                      "listen address '" + listen + "': port must be 0-65535");
  }
  return ListenAddress{listen.substr(0, colon), static_cast<int>(port)};
}

std::string destination_uri(const std::string& bound_host, int bound_port, Platform platform) {
  const std::string host = bound_host == "0.0.0.0" || platform == Platform::ManagedInstances
                               ? "sandbox.localdomain"
                               : bound_host;
  return "http://" + host + ":" + std::to_string(bound_port) + "/";
}

Subscription subscription_from_options(const TelemetryOptions& telemetry, std::string destination) {
  Subscription sub;
  sub.mode = telemetry.mode == TelemetryMode::Logs ? TelemetryMode::Logs : TelemetryMode::Telemetry;
  sub.schema_version = telemetry.effective_schema();
  sub.types = telemetry.types;
  sub.max_items = telemetry.buffer_max_items;
  sub.max_bytes = telemetry.buffer_max_bytes;
  sub.timeout_ms = telemetry.buffer_timeout_ms;
  sub.destination_uri = std::move(destination);
  sub.protocol = telemetry.protocol;
  return sub;
}

std::string subscription_body(const Subscription& sub) {
  std::string types;
  for (const auto& t : sub.types) types += (types.empty() ? "" : ",") + json_quote(t);
  return "{\"schemaVersion\":" + json_quote(sub.schema_version) + ",\"types\":[" + types +
         "],\"buffering\":{\"maxItems\":" + std::to_string(sub.max_items) +
         ",\"maxBytes\":" + std::to_string(sub.max_bytes) +
         ",\"timeoutMs\":" + std::to_string(sub.timeout_ms) + "},\"destination\":" +
         (sub.protocol == TelemetryProtocol::Tcp
              ? "{\"protocol\":\"TCP\",\"port\":" + std::to_string(sub.tcp_port) + "}}"
              : "{\"protocol\":\"HTTP\",\"URI\":" + json_quote(sub.destination_uri) + "}}");
}

HttpRequest build_subscribe_request(const std::string& identifier, const Subscription& sub) {
  HttpRequest request;
  request.method = "PUT";
  request.path = sub.mode == TelemetryMode::Logs ? kLogsApiPath : kTelemetryApiPath;
  request.headers = {{"Content-Type", "application/json"}, {kIdentifierHeader, identifier}};
  request.body = subscription_body(sub);
  return request;
}

Result<SubscribeAnswer> classify_subscribe_response(TelemetryMode mode,
                                                    const HttpResponse& response) {
  std::string error_type, error_message;
  if (auto doc = parse_json(response.body); doc.ok()) {
    error_type = json_string(*doc, "errorType").value_or("");
    error_message = json_string(*doc, "errorMessage").value_or("");
  }
  const std::string api = telemetry_api_name(mode);
  const std::string detail =
      !error_type.empty() ? error_type + ": " + error_message
                          : (response.body.empty() ? std::string("(empty body)") : response.body);
  if (response.status >= 200 && response.status < 300) {
    if (ends_with(error_type, ".NotSupported") || response.status == 202) {
      return SubscribeAnswer{SubscribeOutcome::Unavailable,
                             api + " unavailable here (HTTP " + std::to_string(response.status) +
                                 " " + detail + "); continuing without telemetry"};
    }
    return SubscribeAnswer{SubscribeOutcome::Subscribed, ""};
  }
  return make_error(ErrorKind::SubscribeFailed, api + " subscription failed: HTTP " +
                                                    std::to_string(response.status) + " " + detail);
}

}  // namespace extension_runner
