#include "extension_runner/lambda/events.hpp"

#include "extension_runner/core/json.hpp"

namespace extension_runner {
namespace {

Error bad_event(const std::string& why) {
  return make_error(ErrorKind::ProtocolError, "malformed event: " + why);
}

}  // namespace

Result<Event> parse_event(std::string_view body) {
  auto doc = parse_json(body);
  if (!doc) return bad_event(doc.error().message);
  const rapidjson::Value& v = *doc;
  if (!v.IsObject()) return bad_event("not a JSON object");
  const auto type = json_string(v, "eventType");
  if (!type) return bad_event("missing eventType");
  const auto deadline = json_int64(v, "deadlineMs");
  if (!deadline) return bad_event("missing or non-integer deadlineMs");

  if (*type == "INVOKE") {
    InvokeEvent e;
    e.deadline_ms = *deadline;
    auto request_id = json_string(v, "requestId");
    if (!request_id || request_id->empty()) return bad_event("INVOKE without requestId");
    e.request_id = std::move(*request_id);
    e.invoked_function_arn = json_string(v, "invokedFunctionArn").value_or("");
    if (const auto* t = json_member(v, "tracing"); t != nullptr && t->IsObject()) {
      e.tracing =
          Tracing{json_string(*t, "type").value_or(""), json_string(*t, "value").value_or("")};
    }
    e.raw = to_json(v);
    return Event(std::move(e));
  }
  if (*type == "SHUTDOWN") {
    ShutdownEvent e;
    e.deadline_ms = *deadline;
    e.shutdown_reason = json_string(v, "shutdownReason").value_or("");
    e.raw = to_json(v);
    return Event(std::move(e));
  }
  return bad_event("unknown eventType '" + *type + "'");
}

std::string_view event_type(const Event& event) {
  return std::holds_alternative<InvokeEvent>(event) ? "INVOKE" : "SHUTDOWN";
}

}  // namespace extension_runner
