#include "extension_runner/proxy/decision.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>

#include "extension_runner/core/json.hpp"
#include "extension_runner/proxy/base64.hpp"

namespace extension_runner {
namespace {

Decision invalid(std::string reason) {
  Decision d;
  d.kind = Decision::Kind::Invalid;
  d.reason = std::move(reason);
  return d;
}

Decision fail(const HookReply& reply, const rapidjson::Value& result) {
  Decision d;
  d.kind = Decision::Kind::Fail;
  d.error_type = reply.errortype;
  if (result.IsObject()) {
    rapidjson::Document body;
    body.CopyFrom(result, body.GetAllocator());
    if (!body.HasMember("errorType")) {
      body.AddMember("errorType", rapidjson::Value(reply.errortype.c_str(), body.GetAllocator()),
                     body.GetAllocator());
    }
    d.body = to_json(body);
  } else if (result.IsString()) {
    d.body = error_body_json(reply.errortype,
                             std::string_view(result.GetString(), result.GetStringLength()));
  } else {
    d.body = error_body_json(reply.errortype, "rejected by the extension");
  }
  return d;
}

/** `{"payload": X}` and its kin: the one body-carrying key of `result`. */
Decision body_decision(const rapidjson::Value& result, HookPhase phase) {
  struct Key {
    const char* name;
    Decision::Kind kind;
    bool base64;
  };
  static constexpr Key kKeys[] = {{"payload", Decision::Kind::Replace, false},
                                  {"payloadBase64", Decision::Kind::Replace, true},
                                  {"respond", Decision::Kind::Respond, false},
                                  {"respondBase64", Decision::Kind::Respond, true}};
  const Key* found = nullptr;
  for (const Key& key : kKeys) {
    if (!result.HasMember(key.name)) continue;
    if (found != nullptr) {
      return invalid(std::string("result has both \"") + found->name + "\" and \"" + key.name +
                     "\"");
    }
    found = &key;
  }
  if (found == nullptr) {
    return invalid(
        "result is an object without \"payload\", \"payloadBase64\", \"respond\" or "
        "\"respondBase64\"");
  }
  if (found->kind == Decision::Kind::Respond && phase == HookPhase::Response) {
    return invalid(std::string("\"") + found->name + "\" is for the REQUEST hook only");
  }
  const rapidjson::Value& value = result[found->name];
  Decision d;
  d.kind = found->kind;
  if (!found->base64) {
    d.body = to_json(value);
    d.body_is_json = true;
    return d;
  }
  auto bytes = value.IsString()
                   ? base64_decode(std::string_view(value.GetString(), value.GetStringLength()))
                   : std::nullopt;
  if (!bytes) return invalid(std::string("\"") + found->name + "\" is not a base64 string");
  d.body = std::move(*bytes);
  return d;
}

}  // namespace

Decision decide(const HookReply& reply, HookPhase phase) {
  // The commonest answer by far (a hook lets most invocations through) needs no parse.
  if (!reply.errors && reply.result_json == "null") return Decision{};
  auto result = parse_json(reply.result_json);
  if (!result.ok()) return invalid("result is not JSON: " + result.error().message);
  if (reply.errors) {
    if (reply.errortype.empty()) return invalid("errors is true but errortype is empty");
    // It becomes a header field value: a line break there would forge fields of its own.
    const bool control = std::any_of(reply.errortype.begin(), reply.errortype.end(), [](char c) {
      return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    });
    if (control) return invalid("errortype holds control characters");
    return fail(reply, *result);
  }
  if (result->IsNull()) return Decision{};
  if (!result->IsObject()) return invalid("result is neither null nor an object");
  return body_decision(*result, phase);
}

std::string error_body_json(std::string_view error_type, std::string_view message) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key("errorType");
  w.String(error_type.data(), static_cast<rapidjson::SizeType>(error_type.size()));
  w.Key("errorMessage");
  w.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace extension_runner
