// context_from_headers, deadline_from_headers, request_event, response_event,
// http_integration_prelude, is_json_text (proxy/invocation_events.hpp): the hook events built
// from what passes through the proxy [docs/runner-protocol.md, "Runtime API proxy"].
// Input: `Name: value` lines separated by `\n` (each through parse_field_line, lines that do not
// parse are skipped), an empty line, then the body bytes (no empty line: no body).
// Invariants: every event is one compact JSON object on one line (parse_json ok, no '\n') with
// the given eventType and requestId and `headers` = event_headers(); the REQUEST and buffered
// RESPONSE events carry `payload` exactly when is_json_text(body) (JSON by parse_json's rules,
// at most kMaxPayloadDepth deep), the same value as the body
// parsed alone, else `payloadBase64`, which decodes to the body's bytes; the streamed RESPONSE
// has `streamed: true`, `bytes` = the body's size, no payload, and `prelude` exactly when
// http_integration_prelude found one, which is the compact JSON object before the first 8 NUL
// bytes; `status`/`errorType` follow the facts. The context: client_context is the compact JSON
// object of the header (or of its base64 bytes), identity is set exactly when the Cognito
// header is a JSON object; the deadline is set exactly when the header is a decimal int64.
#include <algorithm>
#include <charconv>
#include <memory>

#include "extension_runner/proxy/base64.hpp"
#include "extension_runner/proxy/header_mapping.hpp"
#include "extension_runner/proxy/http_message.hpp"
#include "extension_runner/proxy/invocation_events.hpp"
#include "fuzz_check.hpp"

using namespace extension_runner;

namespace {

std::string_view string_of(const rapidjson::Value& v) {
  return {v.GetString(), v.GetStringLength()};
}

bool is_string(const rapidjson::Value* v, std::string_view expected) {
  return v != nullptr && v->IsString() && string_of(*v) == expected;
}

/** The compact text of `text` if it is a JSON object by parse_json's rules. */
std::optional<std::string> object_text(std::string_view text) {
  auto doc = parse_json(text);
  if (!doc.ok() || !doc->IsObject()) return std::nullopt;
  return to_json(*doc);
}

/** Parses an event: one compact JSON object on one line. */
rapidjson::Document parse_event(const std::string& event, const char* type,
                                std::string_view request_id, const HeaderList& headers) {
  FUZZ_CHECK(event.find('\n') == std::string::npos);
  FUZZ_CHECK(event.find('\r') == std::string::npos);
  auto doc = parse_json(event);
  FUZZ_CHECK(doc.ok());
  FUZZ_CHECK(doc->IsObject());
  FUZZ_CHECK(is_string(json_member(*doc, "eventType"), type));
  FUZZ_CHECK(is_string(json_member(*doc, "requestId"), request_id));
  // `headers`: the Lambda-Runtime-* fields and Content-Type, in order, joined.
  const rapidjson::Value* fields = json_member(*doc, "headers");
  FUZZ_CHECK(fields != nullptr && fields->IsObject());
  const HeaderList expected = event_headers(headers);
  FUZZ_CHECK(fields->MemberCount() == expected.size());
  auto field = fields->MemberBegin();
  for (const auto& [name, value] : expected) {
    FUZZ_CHECK(string_of(field->name) == name);
    FUZZ_CHECK(field->value.IsString() && string_of(field->value) == value);
    ++field;
  }
  return std::move(*doc);
}

/** How many arrays and objects deep `value` is nested (0 for a scalar). */
int depth_of(const rapidjson::Value& value) {
  int deepest = 0;
  if (value.IsArray()) {
    for (const auto& item : value.GetArray()) deepest = std::max(deepest, depth_of(item));
  } else if (value.IsObject()) {
    for (const auto& member : value.GetObject())
      deepest = std::max(deepest, depth_of(member.value));
  } else {
    return 0;
  }
  return deepest + 1;
}

/** `payload` (the body's own JSON value) or `payloadBase64` (its bytes), exactly one. */
void check_payload(const rapidjson::Value& event, std::string_view body) {
  const rapidjson::Value* payload = json_member(event, "payload");
  const rapidjson::Value* base64 = json_member(event, "payloadBase64");
  const bool json = is_json_text(body);
  // parse_json's rules without the DOM, and no deeper than kMaxPayloadDepth.
  const auto parsed = parse_json(body);
  FUZZ_CHECK(json == (parsed.ok() && depth_of(*parsed) <= kMaxPayloadDepth));
  FUZZ_CHECK((payload != nullptr) == json);
  FUZZ_CHECK((base64 != nullptr) == !json);
  if (json) {
    FUZZ_CHECK(to_json(*payload) == to_json(*parse_json(body)));
  } else {
    FUZZ_CHECK(base64->IsString());
    const auto bytes = base64_decode(string_of(*base64));
    FUZZ_CHECK(bytes.has_value() && *bytes == body);
  }
}

void check_context(const HookContext& context, const HeaderList& headers) {
  const std::string* id = find_header(headers, runtime_header::kRequestId);
  FUZZ_CHECK(context.aws_request_id == (id != nullptr ? *id : ""));
  const std::string* arn = find_header(headers, runtime_header::kFunctionArn);
  FUZZ_CHECK(context.invoked_function_arn == (arn != nullptr ? *arn : ""));

  const std::string* client = find_header(headers, runtime_header::kClientContext);
  std::optional<std::string> expected_client;
  if (client != nullptr) {
    expected_client = object_text(*client);
    if (!expected_client) {
      if (const auto bytes = base64_decode(*client)) expected_client = object_text(*bytes);
    }
  }
  FUZZ_CHECK(context.client_context_json == expected_client);
  if (context.client_context_json) {
    auto doc = parse_json(*context.client_context_json);
    FUZZ_CHECK(doc.ok() && doc->IsObject());
    FUZZ_CHECK(context.client_context_json->find('\n') == std::string::npos);
  }

  const std::string* cognito = find_header(headers, runtime_header::kCognitoIdentity);
  const auto identity_doc = cognito != nullptr ? object_text(*cognito) : std::nullopt;
  FUZZ_CHECK(context.identity.has_value() == identity_doc.has_value());
  if (context.identity) {
    auto doc = parse_json(*identity_doc);
    FUZZ_CHECK(doc.ok());
    FUZZ_CHECK(context.identity->cognito_identity_id ==
               json_string(*doc, "cognitoIdentityId").value_or(""));
    FUZZ_CHECK(context.identity->cognito_identity_pool_id ==
               json_string(*doc, "cognitoIdentityPoolId").value_or(""));
  }
}

// Set exactly for `-?[0-9]+` within int64, and then its value (leading zeros aside).
void check_deadline(const std::optional<int64_t>& deadline, const HeaderList& headers) {
  const std::string* text = find_header(headers, runtime_header::kDeadlineMs);
  if (text == nullptr) {
    FUZZ_CHECK(!deadline);
    return;
  }
  std::string_view digits = *text;
  const bool negative = !digits.empty() && digits.front() == '-';
  if (negative) digits.remove_prefix(1);
  const bool decimal = !digits.empty() && std::all_of(digits.begin(), digits.end(),
                                                      [](char c) { return c >= '0' && c <= '9'; });
  if (!decimal) {
    FUZZ_CHECK(!deadline);
    return;
  }
  const size_t first = std::min(digits.find_first_not_of('0'), digits.size());
  std::string_view significant = digits.substr(first);
  if (significant.empty()) significant = "0";
  if (significant.size() > 19) {
    FUZZ_CHECK(!deadline);  // beyond int64 in any case
    return;
  }
  if (!deadline) {
    // Only out of range: 19 digits above INT64_MAX (or below INT64_MIN).
    FUZZ_CHECK(significant.size() == 19);
    FUZZ_CHECK(significant > (negative ? "9223372036854775808" : "9223372036854775807"));
    return;
  }
  const std::string expected =
      (negative && significant != "0" ? "-" : "") + std::string(significant);
  FUZZ_CHECK(std::to_string(*deadline) == expected);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = fuzz::as_text(data, size);
  HeaderList headers;
  std::string_view body;
  size_t pos = 0;
  while (pos < input.size()) {
    const size_t end = input.find('\n', pos);
    const std::string_view line =
        input.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    pos = end == std::string_view::npos ? input.size() : end + 1;
    if (line.empty()) {
      body = input.substr(pos);
      break;
    }
    if (auto field = parse_field_line(line)) headers.push_back(std::move(*field));
  }

  const HookContext context = context_from_headers(headers);
  check_context(context, headers);
  check_deadline(deadline_from_headers(headers), headers);
  const std::string& id = context.aws_request_id;

  // REQUEST
  const auto shared = std::make_shared<const std::string>(body);
  const std::string request = request_event(id, shared, headers).text();
  const auto request_doc = parse_event(request, "REQUEST", id, headers);
  FUZZ_CHECK(request_doc.MemberCount() == 4);
  check_payload(request_doc, body);

  // RESPONSE, buffered: an `/error` when the runtime named an error type.
  ResponseFacts facts;
  facts.request_id = id;
  const std::string* error_type = find_header(headers, runtime_header::kErrorType);
  facts.error = error_type != nullptr;
  if (facts.error) facts.error_type = *error_type;
  facts.body = shared;
  facts.headers = headers;
  const std::string buffered = response_event(facts).text();
  const auto buffered_doc = parse_event(buffered, "RESPONSE", id, headers);
  FUZZ_CHECK(buffered_doc.MemberCount() == (facts.error ? 6U : 5U));
  FUZZ_CHECK(is_string(json_member(buffered_doc, "status"), facts.error ? "error" : "success"));
  if (facts.error) FUZZ_CHECK(is_string(json_member(buffered_doc, "errorType"), *error_type));
  FUZZ_CHECK(json_member(buffered_doc, "streamed") == nullptr);
  check_payload(buffered_doc, body);

  // RESPONSE, streamed as a Function URL answer (prelude, 8 NUL bytes, body); no error.
  const auto prelude = http_integration_prelude(body);
  static constexpr std::string_view kSeparator("\0\0\0\0\0\0\0\0", 8);
  const size_t separator = body.find(kSeparator);
  if (separator == std::string_view::npos) {
    FUZZ_CHECK(!prelude);
  } else {
    FUZZ_CHECK(prelude == object_text(body.substr(0, separator)));
  }
  if (prelude) {
    auto doc = parse_json(*prelude);
    FUZZ_CHECK(doc.ok() && doc->IsObject());
    FUZZ_CHECK(prelude->find('\n') == std::string::npos);
  }
  facts.error = false;
  facts.error_type.clear();
  facts.streamed = true;
  facts.bytes = body.size();
  facts.body = nullptr;
  facts.prelude_json = prelude;
  const std::string streamed = response_event(facts).text();
  const auto streamed_doc = parse_event(streamed, "RESPONSE", id, headers);
  FUZZ_CHECK(streamed_doc.MemberCount() == (prelude ? 7U : 6U));
  FUZZ_CHECK(is_string(json_member(streamed_doc, "status"), "success"));
  const rapidjson::Value* flag = json_member(streamed_doc, "streamed");
  FUZZ_CHECK(flag != nullptr && flag->IsBool() && flag->GetBool());
  const rapidjson::Value* bytes = json_member(streamed_doc, "bytes");
  FUZZ_CHECK(bytes != nullptr && bytes->IsUint64() && bytes->GetUint64() == body.size());
  FUZZ_CHECK(json_member(streamed_doc, "payload") == nullptr);
  FUZZ_CHECK(json_member(streamed_doc, "payloadBase64") == nullptr);
  const rapidjson::Value* shown = json_member(streamed_doc, "prelude");
  FUZZ_CHECK((shown != nullptr) == prelude.has_value());
  if (shown != nullptr) FUZZ_CHECK(shown->IsObject() && to_json(*shown) == *prelude);
  return 0;
}
