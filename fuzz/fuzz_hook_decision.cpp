// decide (proxy/decision.hpp) on a hook's answer as the host gets it: a child's reply line
// decoded by decode_invoke_reply (runner/protocol.hpp), copied into a HookReply as hook_outcome
// (host/proxy_hooks.cpp) does; base64_decode / base64_encode (proxy/base64.hpp) on the same text.
// Input: byte 0 bit 0 picks the phase (0: REQUEST, 1: RESPONSE), the rest is the reply line.
// Invariants: the kind is the one the header's table gives for the reply (checked against a
// model): Forward exactly when !errors and `result` is null; Respond only in the REQUEST phase;
// Fail has the reply's non-empty errortype without control characters, and a body that is a JSON
// object whose `errorType` is a string (the errortype) unless `result` brought its own; the body
// of Replace/Respond is the compact text of the chosen member (body_is_json, one JSON value) or
// the bytes its base64 string decodes to; Invalid has a reason. Base64: a text that decodes is
// the encoding of its bytes up to the unused low bits of its last symbol (RFC 4648 §3.5, which
// the decoder does not check), and decode(encode(x)) == x for the raw input.
#include <algorithm>
#include <array>
#include <cstring>

#include "extension_runner/proxy/base64.hpp"
#include "extension_runner/proxy/decision.hpp"
#include "extension_runner/runner/protocol.hpp"
#include "fuzz_check.hpp"

using namespace extension_runner;

namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) == 0x7f;
  });
}

std::string_view string_of(const rapidjson::Value& v) {
  return {v.GetString(), v.GetStringLength()};
}

// Base64 both ways on `text`: decode(encode(x)) == x always; a text that decodes re-encodes to
// itself except for the padding bits of its last symbol, which the decoder ignores.
void check_base64(std::string_view text) {
  const std::string encoded = base64_encode(text);
  FUZZ_CHECK(encoded.size() == (text.size() + 2) / 3 * 4);
  const auto round = base64_decode(encoded);
  FUZZ_CHECK(round.has_value() && *round == text);

  const auto decoded = base64_decode(text);
  if (!decoded) return;
  FUZZ_CHECK(text.size() % 4 == 0);
  const size_t padding = text.empty() ? 0 : (text.back() == '=') + (text[text.size() - 2] == '=');
  FUZZ_CHECK(decoded->size() == text.size() / 4 * 3 - padding);
  const std::string again = base64_encode(*decoded);
  FUZZ_CHECK(again.size() == text.size());
  // "xx==" leaves 4 bits of its second symbol unused, "xxx=" 2 bits of its third.
  const size_t last = padding == 0 ? std::string::npos : text.size() - 1 - padding;
  const unsigned unused_bits = padding == 2 ? 4 : 2;
  for (size_t i = 0; i < text.size(); ++i) {
    if (i != last) {
      FUZZ_CHECK(again[i] == text[i]);
      continue;
    }
    const size_t mine = kAlphabet.find(text[i]);
    const size_t canonical = kAlphabet.find(again[i]);
    FUZZ_CHECK(mine != std::string_view::npos && canonical != std::string_view::npos);
    FUZZ_CHECK((canonical & ((1U << unused_bits) - 1)) == 0);
    FUZZ_CHECK((mine >> unused_bits) == (canonical >> unused_bits));
  }
}

void check_fail(const Decision& d, const HookReply& reply, const rapidjson::Value& result) {
  FUZZ_CHECK(!d.error_type.empty());
  FUZZ_CHECK(!has_control(d.error_type));
  FUZZ_CHECK(d.error_type == reply.errortype);
  auto body = parse_json(d.body);
  FUZZ_CHECK(body.ok() && body->IsObject());
  const rapidjson::Value* type = json_member(*body, "errorType");
  FUZZ_CHECK(type != nullptr);
  if (result.IsObject() && result.HasMember("errorType")) {
    // The hook's own object, untouched, whatever its errorType holds (the header's table).
    FUZZ_CHECK(d.body == to_json(result));
    return;
  }
  FUZZ_CHECK(type->IsString() && string_of(*type) == reply.errortype);
  if (result.IsObject()) {
    // The hook's members, then errorType.
    FUZZ_CHECK(body->MemberCount() == result.MemberCount() + 1);
    auto member = body->MemberBegin();
    for (auto it = result.MemberBegin(); it != result.MemberEnd(); ++it, ++member) {
      FUZZ_CHECK(to_json(member->name) == to_json(it->name));
      FUZZ_CHECK(to_json(member->value) == to_json(it->value));
    }
    FUZZ_CHECK(string_of(member->name) == "errorType");
    return;
  }
  FUZZ_CHECK(body->MemberCount() == 2);
  const rapidjson::Value* message = json_member(*body, "errorMessage");
  FUZZ_CHECK(message != nullptr && message->IsString());
  if (result.IsString()) {
    FUZZ_CHECK(string_of(*message) == string_of(result));
  } else {
    FUZZ_CHECK(string_of(*message) == "rejected by the extension");
  }
}

// The kind the header's table gives, and for Replace/Respond the member the body comes from.
Decision::Kind expected_kind(const HookReply& reply, const rapidjson::Value& result,
                             HookPhase phase, const char** member) {
  using Kind = Decision::Kind;
  *member = nullptr;
  if (reply.errors) {
    return reply.errortype.empty() || has_control(reply.errortype) ? Kind::Invalid : Kind::Fail;
  }
  if (result.IsNull()) return Kind::Forward;
  if (!result.IsObject()) return Kind::Invalid;
  static constexpr std::array<const char*, 4> kKeys = {"payload", "payloadBase64", "respond",
                                                       "respondBase64"};
  int found = 0;
  for (const char* key : kKeys) {
    if (result.HasMember(key)) {
      ++found;
      *member = key;
    }
  }
  if (found != 1) return Kind::Invalid;
  const bool respond = std::strncmp(*member, "respond", 7) == 0;
  if (respond && phase == HookPhase::Response) return Kind::Invalid;
  const rapidjson::Value& value = result[*member];
  if (std::strstr(*member, "Base64") != nullptr &&
      (!value.IsString() || !base64_decode(string_of(value)))) {
    return Kind::Invalid;
  }
  return respond ? Kind::Respond : Kind::Replace;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const HookPhase phase = (data[0] & 1) != 0 ? HookPhase::Response : HookPhase::Request;
  const std::string_view line = fuzz::as_text(data + 1, size - 1);
  check_base64(line);

  const auto decoded = decode_invoke_reply(line);
  if (!decoded) return 0;
  HookReply reply;  // as hook_outcome copies it
  reply.result_json = decoded->result_json;
  reply.errortype = decoded->errortype;
  reply.errors = decoded->errors;

  const Decision d = decide(reply, phase);
  auto result = parse_json(reply.result_json);
  FUZZ_CHECK(result.ok());  // decode_invoke_reply keeps `result` as compact JSON

  const char* member = nullptr;
  FUZZ_CHECK(d.kind == expected_kind(reply, *result, phase, &member));
  FUZZ_CHECK((d.kind == Decision::Kind::Forward) == (!reply.errors && result->IsNull()));
  if (d.kind == Decision::Kind::Respond) FUZZ_CHECK(phase == HookPhase::Request);
  if (d.kind == Decision::Kind::Invalid) FUZZ_CHECK(!d.reason.empty());

  switch (d.kind) {
    case Decision::Kind::Forward:
    case Decision::Kind::Invalid:
      break;
    case Decision::Kind::Fail:
      check_fail(d, reply, *result);
      break;
    case Decision::Kind::Replace:
    case Decision::Kind::Respond: {
      const rapidjson::Value& value = (*result)[member];
      FUZZ_CHECK(d.body_is_json == (std::strstr(member, "Base64") == nullptr));
      if (d.body_is_json) {
        FUZZ_CHECK(fuzz::is_json(d.body));
        FUZZ_CHECK(d.body == to_json(value));
      } else {
        const auto bytes = base64_decode(string_of(value));
        FUZZ_CHECK(bytes.has_value() && d.body == *bytes);
      }
      break;
    }
  }
  return 0;
}
