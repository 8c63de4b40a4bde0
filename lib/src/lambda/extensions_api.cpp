#include "extension_runner/lambda/extensions_api.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "extension_runner/core/json.hpp"

namespace extension_runner {
namespace {

HttpRequest build_error_request(const char* endpoint, const std::string& identifier,
                                const ErrorReport& report) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key("errorMessage");
  w.String(report.message);
  w.Key("errorType");
  w.String(report.error_type);
  w.Key("stackTrace");
  w.StartArray();
  for (const auto& frame : report.stack_trace) w.String(frame);
  w.EndArray();
  w.EndObject();
  HttpRequest r;
  r.method = "POST";
  r.path = std::string(kExtensionsApiBase) + endpoint;
  r.headers = {{kIdentifierHeader, identifier},
               {kErrorTypeHeader, report.error_type},
               {"Content-Type", "application/json"}};
  r.body.assign(buffer.GetString(), buffer.GetSize());
  return r;
}

}  // namespace

const std::vector<std::string>& default_events() {
  static const std::vector<std::string> kEvents{"INVOKE", "SHUTDOWN"};
  return kEvents;
}

HttpRequest build_register_request(const std::string& name,
                                   const std::vector<std::string>& events) {
  HttpRequest r;
  r.method = "POST";
  r.path = std::string(kExtensionsApiBase) + "/register";
  r.headers = {{kNameHeader, name},
               {kAcceptFeatureHeader, "accountId"},
               {"Content-Type", "application/json"}};
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key("events");
  w.StartArray();
  for (const auto& event : events) w.String(event);
  w.EndArray();
  w.EndObject();
  r.body.assign(buffer.GetString(), buffer.GetSize());
  return r;
}

HttpRequest build_next_request(const std::string& identifier) {
  HttpRequest r;
  r.method = "GET";
  r.path = std::string(kExtensionsApiBase) + "/event/next";
  r.headers = {{kIdentifierHeader, identifier}};
  return r;
}

HttpRequest build_init_error_request(const std::string& identifier, const ErrorReport& report) {
  return build_error_request("/init/error", identifier, report);
}

HttpRequest build_exit_error_request(const std::string& identifier, const ErrorReport& report) {
  return build_error_request("/exit/error", identifier, report);
}

Error api_error(const std::string& what, const HttpResponse& response) {
  std::string detail;
  if (auto doc = parse_json(response.body); doc.ok() && doc->IsObject()) {
    const auto type = json_string(*doc, "errorType");
    const auto message = json_string(*doc, "errorMessage");
    if (type || message) detail = type.value_or("") + ": " + message.value_or("");
  }
  if (detail.empty()) detail = response.body.empty() ? "(empty body)" : response.body;
  const std::string text =
      what + " failed with HTTP " + std::to_string(response.status) + ": " + detail;
  return make_error(response.status >= 500 ? ErrorKind::ApiFatal : ErrorKind::ApiRejected, text);
}

Result<RegisterResponse> parse_register_response(const HttpResponse& response) {
  if (response.status != 200) return api_error("register", response);
  RegisterResponse r;
  r.identifier = response.header(kIdentifierHeader);
  if (r.identifier.empty()) {
    return make_error(ErrorKind::ProtocolError, std::string("register answered 200 without a ") +
                                                    kIdentifierHeader + " header");
  }
  // The body is informative only; a missing or odd body must not fail registration.
  if (auto doc = parse_json(response.body); doc.ok() && doc->IsObject()) {
    r.function_name = json_string(*doc, "functionName").value_or("");
    r.function_version = json_string(*doc, "functionVersion").value_or("");
    r.handler = json_string(*doc, "handler").value_or("");
    r.account_id = json_string(*doc, "accountId");
    r.body_json = to_json(*doc);
  }
  return r;
}

HttpTimeouts bounded_call_timeouts(int64_t total_ms) {
  return HttpTimeouts{std::chrono::milliseconds(1000), std::chrono::milliseconds(total_ms)};
}

ExtensionsClient::ExtensionsClient(std::string runtime_api, HttpTimeouts call_timeouts)
    : runtime_api_(std::move(runtime_api)), call_timeouts_(call_timeouts), http_(runtime_api_) {}

Result<HttpResponse> ExtensionsClient::send_bounded(const HttpRequest& request) {
  auto response = http_.send(request, call_timeouts_);
  if (!response && http_.last_failure() && http_.last_failure()->timed_out()) {
    // The one limit a user can change: say which.
    return make_error(response.error().kind,
                      response.error().message + " (limit EXTENSION_RUNNER_API_TIMEOUT_MS=" +
                          std::to_string(call_timeouts_.total.count()) + ")");
  }
  return response;
}

Result<RegisterResponse> ExtensionsClient::register_extension(
    const std::string& name, const std::vector<std::string>& events) {
  auto response = send_bounded(build_register_request(name, events));
  if (!response) return response.error();
  auto parsed = parse_register_response(*response);
  if (parsed) identifier_ = parsed->identifier;
  return parsed;
}

Result<Event> ExtensionsClient::next_event() {
  // No total timeout: the sandbox is frozen between invokes and the call resumes after [EXT].
  auto response = http_.send(build_next_request(identifier_), HttpTimeouts{});
  if (!response) {
    return make_error(response.error().kind, "event/next failed: " + response.error().message);
  }
  if (response->status != 200) return api_error("event/next", *response);
  return parse_event(response->body);
}

namespace {
Result<void> check_accepted(const std::string& what, const Result<HttpResponse>& response) {
  if (!response) return response.error();
  if (response->status / 100 != 2) return api_error(what, *response);
  return {};
}
}  // namespace

Result<void> ExtensionsClient::init_error(const ErrorReport& report) {
  return check_accepted("init/error", send_bounded(build_init_error_request(identifier_, report)));
}

Result<void> ExtensionsClient::exit_error(const ErrorReport& report) {
  return check_accepted("exit/error", send_bounded(build_exit_error_request(identifier_, report)));
}

Result<HttpResponse> ExtensionsClient::send(const HttpRequest& request) {
  return send_bounded(request);
}

Result<HttpResponse> ExtensionsClient::send(const HttpRequest& request,
                                            const HttpTimeouts& timeouts) {
  return http_.send(request, timeouts);
}

}  // namespace extension_runner
