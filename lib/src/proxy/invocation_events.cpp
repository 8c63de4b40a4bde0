#include "extension_runner/proxy/invocation_events.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>

#include "extension_runner/core/json.hpp"
#include "extension_runner/proxy/base64.hpp"
#include "extension_runner/proxy/header_mapping.hpp"

namespace extension_runner {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void write_string(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

/** A JSON object's compact text, if `text` is one. */
std::optional<std::string> json_object_text(std::string_view text) {
  auto doc = parse_json(text);
  if (!doc.ok() || !doc->IsObject()) return std::nullopt;
  return to_json(*doc);
}

/**
 * Ends the event begun in `buffer` (an object with members, not yet closed) with
 * `,"payload":<body>}` when the body is JSON, else with `,"payloadBase64":"…"}`. A JSON body on
 * one line becomes the event's `payload` piece as it is: no copy, no per-byte writer call (this
 * is on the billed path, once per invocation and direction); one spanning lines is compacted
 * first, so the event stays on one line.
 */
HookEvent finish_with_payload(rapidjson::StringBuffer& buffer, Writer& w, const SharedBody& body) {
  const std::string_view text = body ? std::string_view(*body) : std::string_view();
  HookEvent event;
  const Result<bool> spans_lines = check_json_spans_lines(text, kMaxPayloadDepth);
  if (!spans_lines.ok()) {
    w.Key("payloadBase64");
    write_string(w, base64_encode(text));
    w.EndObject();
    event.head.assign(buffer.GetString(), buffer.GetSize());
    return event;
  }
  static constexpr std::string_view kMember = ",\"payload\":";
  event.head.reserve(buffer.GetSize() + kMember.size());
  event.head.append(buffer.GetString(), buffer.GetSize());  // `{…,"headers":{…}`: members so far
  event.head.append(kMember);
  if (*spans_lines) {
    event.head.append(to_json(*parse_json(text)));
    event.head.push_back('}');
    return event;
  }
  event.payload = body;
  event.end = "}";
  return event;
}

/** `"headers":{…}`: event_headers() as an object. */
void write_headers(Writer& w, const HeaderList& headers) {
  w.Key("headers");
  w.StartObject();
  for (const auto& [name, value] : event_headers(headers)) {
    write_string(w, name);
    write_string(w, value);
  }
  w.EndObject();
}

std::optional<CognitoIdentity> identity_from(const std::string* header) {
  if (header == nullptr) return std::nullopt;
  auto doc = parse_json(*header);
  if (!doc.ok() || !doc->IsObject()) return std::nullopt;
  CognitoIdentity identity;
  identity.cognito_identity_id = json_string(*doc, "cognitoIdentityId").value_or("");
  identity.cognito_identity_pool_id = json_string(*doc, "cognitoIdentityPoolId").value_or("");
  return identity;
}

std::optional<std::string> client_context_from(const std::string* header) {
  if (header == nullptr) return std::nullopt;
  if (auto object = json_object_text(*header)) return object;
  if (auto decoded = base64_decode(*header)) return json_object_text(*decoded);
  return std::nullopt;
}

}  // namespace

bool is_json_text(std::string_view body) { return check_json(body, kMaxPayloadDepth).ok(); }

HookContext context_from_headers(const HeaderList& headers) {
  HookContext context;
  if (const auto* id = find_header(headers, runtime_header::kRequestId))
    context.aws_request_id = *id;
  if (const auto* arn = find_header(headers, runtime_header::kFunctionArn)) {
    context.invoked_function_arn = *arn;
  }
  context.client_context_json =
      client_context_from(find_header(headers, runtime_header::kClientContext));
  context.identity = identity_from(find_header(headers, runtime_header::kCognitoIdentity));
  return context;
}

std::optional<int64_t> deadline_from_headers(const HeaderList& headers) {
  const std::string* text = find_header(headers, runtime_header::kDeadlineMs);
  if (text == nullptr || text->empty()) return std::nullopt;
  int64_t value = 0;
  const auto r = std::from_chars(text->data(), text->data() + text->size(), value);
  if (r.ec != std::errc() || r.ptr != text->data() + text->size()) return std::nullopt;
  return value;
}

HookEvent request_event(std::string_view request_id, const SharedBody& body,
                        const HeaderList& headers) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  w.Key("eventType");
  w.String("REQUEST");
  w.Key("requestId");
  write_string(w, request_id);
  write_headers(w, headers);
  return finish_with_payload(buffer, w, body);
}

HookEvent response_event(const ResponseFacts& facts) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  w.Key("eventType");
  w.String("RESPONSE");
  w.Key("requestId");
  write_string(w, facts.request_id);
  w.Key("status");
  w.String(facts.error ? "error" : "success");
  if (facts.error) {
    w.Key("errorType");
    write_string(w, facts.error_type);
  }
  write_headers(w, facts.headers);
  if (!facts.streamed) return finish_with_payload(buffer, w, facts.body);
  w.Key("streamed");
  w.Bool(true);
  w.Key("bytes");
  w.Uint64(facts.bytes);
  if (facts.prelude_json) {
    w.Key("prelude");
    w.RawValue(facts.prelude_json->data(), facts.prelude_json->size(), rapidjson::kObjectType);
  }
  w.EndObject();
  HookEvent event;
  event.head.assign(buffer.GetString(), buffer.GetSize());
  return event;
}

std::optional<std::string> http_integration_prelude(std::string_view start) {
  static constexpr std::string_view kSeparator("\0\0\0\0\0\0\0\0", 8);
  const auto at = start.find(kSeparator);
  if (at == std::string_view::npos) return std::nullopt;
  return json_object_text(start.substr(0, at));
}

}  // namespace extension_runner
