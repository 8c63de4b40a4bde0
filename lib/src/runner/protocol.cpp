#include "extension_runner/runner/protocol.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <string>
#include <string_view>

#include "extension_runner/core/json.hpp"

namespace extension_runner {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void write_string(Writer& w, const std::string& s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void write_key(Writer& w, const char* key) { w.Key(key); }

// Re-serialises raw JSON through a parse so the output is compact (one line) and valid.
Result<void> write_raw(Writer& w, const std::string& raw, const char* what) {
  auto doc = parse_json(raw);
  if (!doc) {
    return make_error(ErrorKind::InvalidInput, std::string(what) + ": " + doc.error().message);
  }
  doc->Accept(w);
  return {};
}

Result<void> write_context(Writer& w, const InvokeContext& c) {
  w.StartObject();
  write_key(w, "aws_request_id");
  write_string(w, c.aws_request_id);
  write_key(w, "client_context");
  if (c.client_context_json) {
    if (auto r = write_raw(w, *c.client_context_json, "client_context"); !r) return r;
  } else {
    w.Null();
  }
  write_key(w, "identity");
  if (c.identity) {
    w.StartObject();
    write_key(w, "cognito_identity_id");
    write_string(w, c.identity->cognito_identity_id);
    write_key(w, "cognito_identity_pool_id");
    write_string(w, c.identity->cognito_identity_pool_id);
    w.EndObject();
  } else {
    w.Null();
  }
  write_key(w, "invoked_function_arn");
  write_string(w, c.invoked_function_arn);
  w.EndObject();
  return {};
}

std::string text_of(const rapidjson::StringBuffer& b) { return {b.GetString(), b.GetSize()}; }

Error wrong_type(const std::string& field, const char* expected) {
  return make_error(ErrorKind::ProtocolError, "field '" + field + "' must be " + expected);
}

// Field readers: absent (or, where allowed, null) leaves `out` untouched; a present field of
// another type is a ProtocolError naming the field.
Result<void> read_string(const rapidjson::Value& obj, const char* key, std::string& out,
                         const std::string& prefix = "") {
  const auto* m = json_member(obj, key);
  if (m == nullptr) return {};
  if (!m->IsString()) return wrong_type(prefix + key, "a string");
  out.assign(m->GetString(), m->GetStringLength());
  return {};
}

Result<void> read_bool(const rapidjson::Value& obj, const char* key, bool& out) {
  const auto* m = json_member(obj, key);
  if (m == nullptr) return {};
  if (!m->IsBool()) return wrong_type(key, "a boolean");
  out = m->GetBool();
  return {};
}

Result<void> read_int(const rapidjson::Value& obj, const char* key, int64_t& out,
                      const std::string& prefix = "") {
  if (json_member(obj, key) == nullptr) return {};
  const auto v = json_int64(obj, key);
  if (!v) return wrong_type(prefix + key, "an integer");
  out = *v;
  return {};
}

Result<void> read_string_map(const rapidjson::Value& obj, const char* key,
                             std::map<std::string, std::string>& out) {
  const auto* m = json_member(obj, key);
  if (m == nullptr || m->IsNull()) return {};
  if (!m->IsObject()) return wrong_type(key, "an object of strings");
  for (const auto& entry : m->GetObject()) {
    if (!entry.value.IsString()) {
      return wrong_type(std::string(key) + "." + entry.name.GetString(), "a string");
    }
    out[std::string(entry.name.GetString(), entry.name.GetStringLength())] =
        std::string(entry.value.GetString(), entry.value.GetStringLength());
  }
  return {};
}

Result<rapidjson::Document> parse_object(std::string_view text) {
  auto doc = parse_json(text);
  if (!doc) return doc.error();
  if (!doc->IsObject()) return make_error(ErrorKind::ProtocolError, "message is not a JSON object");
  return doc;
}

Result<InvokeContext> context_from(const rapidjson::Value& v) {
  if (!v.IsObject()) return wrong_type("context", "an object");
  InvokeContext c;
  if (auto r = read_string(v, "aws_request_id", c.aws_request_id, "context."); !r) return r.error();
  if (auto r = read_string(v, "invoked_function_arn", c.invoked_function_arn, "context."); !r) {
    return r.error();
  }
  if (const auto* cc = json_member(v, "client_context"); cc != nullptr && !cc->IsNull()) {
    if (!cc->IsObject()) return wrong_type("context.client_context", "an object or null");
    c.client_context_json = to_json(*cc);
  }
  if (const auto* id = json_member(v, "identity"); id != nullptr && !id->IsNull()) {
    if (!id->IsObject()) return wrong_type("context.identity", "an object or null");
    Identity identity;
    if (auto r = read_string(*id, "cognito_identity_id", identity.cognito_identity_id,
                             "context.identity.");
        !r) {
      return r.error();
    }
    if (auto r = read_string(*id, "cognito_identity_pool_id", identity.cognito_identity_pool_id,
                             "context.identity.");
        !r) {
      return r.error();
    }
    c.identity = std::move(identity);
  }
  return c;
}

}  // namespace

std::string encode_startup_request(const StartupRequest& request) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  write_key(w, "handler");
  write_string(w, request.handler);
  write_key(w, "env");
  w.StartObject();
  for (const auto& [k, v] : request.env) {
    w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
    write_string(w, v);
  }
  w.EndObject();
  write_key(w, "version");
  w.Int(request.version);
  write_key(w, "name");
  write_string(w, request.name);
  write_key(w, "mode");
  write_string(w, request.mode);
  write_key(w, "function");
  if (auto doc = parse_json(request.function_json); doc.ok() && doc->IsObject()) {
    doc->Accept(w);
  } else {
    w.StartObject();
    w.EndObject();
  }
  write_key(w, "platform");
  write_string(w, request.platform);
  w.EndObject();
  return text_of(buffer);
}

Result<EncodedRequest> encode_invoke_request_parts(const InvokeRequest& request) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  write_key(w, "context");
  if (auto r = write_context(w, request.context); !r) return r.error();
  EncodedRequest out;
  if (!request.event_compact) {
    write_key(w, "event");
    std::string joined;
    if (request.event_payload)
      joined = request.event_json + *request.event_payload + request.event_end;
    const std::string& event = request.event_payload ? joined : request.event_json;
    if (auto r = write_raw(w, event, "event"); !r) return r.error();
    write_key(w, "deadline");
    w.Int64(request.deadline_ms);
    w.EndObject();
    out.head = text_of(buffer);
    out.tail = "\n";
    return out;
  }
  out.head.reserve(buffer.GetSize() + 16);
  out.head.append(buffer.GetString(), buffer.GetSize());
  out.head.append(",\"event\":");
  out.event = request.event_json;
  if (request.event_payload) {
    out.event_payload = *request.event_payload;
    out.event_end = request.event_end;
  }
  out.tail = ",\"deadline\":" + std::to_string(request.deadline_ms) + "}\n";
  return out;
}

Result<std::string> encode_invoke_request(const InvokeRequest& request) {
  auto parts = encode_invoke_request_parts(request);
  if (!parts) return parts.error();
  std::string line;
  line.reserve(parts->size());
  line.append(parts->head).append(parts->event).append(parts->event_payload);
  line.append(parts->event_end).append(parts->tail);
  line.pop_back();  // the newline
  return line;
}

Result<std::string> encode_invoke_reply(const InvokeReply& reply) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  write_key(w, "result");
  if (auto r = write_raw(w, reply.result_json, "result"); !r) return r.error();
  write_key(w, "errortype");
  write_string(w, reply.errortype);
  write_key(w, "invokeid");
  write_string(w, reply.invokeid);
  if (reply.errors) {
    write_key(w, "errors");
    w.Bool(true);
  }
  write_key(w, "billing");
  w.StartObject();
  write_key(w, "duration");
  w.Double(reply.billing.duration_ms);
  write_key(w, "memory");
  write_string(w, reply.billing.memory);
  write_key(w, "used");
  w.Int64(reply.billing.used_mb);
  w.EndObject();
  w.EndObject();
  return text_of(buffer);
}

bool StartupResponse::takes(const std::string& type) const {
  const auto lists = [this](const char* name) {
    return std::find(handles.begin(), handles.end(), name) != handles.end();
  };
  return !says_handles || lists(type.c_str()) || lists("*");
}

Result<StartupResponse> decode_startup_response(std::string_view line) {
  auto doc = parse_object(line);
  if (!doc) return doc.error();
  StartupResponse response;
  if (json_member(*doc, "ok") == nullptr) {
    return make_error(ErrorKind::ProtocolError, "startup response lacks 'ok'");
  }
  if (auto r = read_bool(*doc, "ok", response.ok); !r) return r.error();
  if (const auto* e = json_member(*doc, "error"); e != nullptr && !e->IsNull()) {
    if (auto r = read_string(*doc, "error", response.error); !r) return r.error();
  }
  if (const auto* h = json_member(*doc, "handles"); h != nullptr && !h->IsNull()) {
    if (!h->IsArray()) return make_error(ErrorKind::ProtocolError, "'handles' is not an array");
    response.says_handles = true;
    for (const auto& type : h->GetArray()) {
      if (!type.IsString())
        return make_error(ErrorKind::ProtocolError, "'handles' holds a non-string");
      response.handles.emplace_back(type.GetString(), type.GetStringLength());
    }
  }
  return response;
}

Result<InvokeReply> decode_invoke_reply(std::string_view line) {
  auto doc = parse_object(line);
  if (!doc) return doc.error();
  return decode_invoke_reply(static_cast<const rapidjson::Value&>(*doc));
}

Result<InvokeReply> decode_invoke_reply(const rapidjson::Value& object) {
  if (!object.IsObject())
    return make_error(ErrorKind::ProtocolError, "message is not a JSON object");
  const rapidjson::Value* doc = &object;
  InvokeReply reply;
  if (json_member(*doc, "invokeid") == nullptr) {
    return make_error(ErrorKind::ProtocolError, "reply lacks 'invokeid'");
  }
  if (auto r = read_string(*doc, "invokeid", reply.invokeid); !r) return r.error();
  if (auto r = read_string(*doc, "errortype", reply.errortype); !r) return r.error();
  if (auto r = read_bool(*doc, "errors", reply.errors); !r) return r.error();
  // A null result keeps the default text: no writer for the commonest answer.
  if (const auto* result = json_member(*doc, "result"); result != nullptr && !result->IsNull()) {
    reply.result_json = to_json(*result);
  }
  if (const auto* b = json_member(*doc, "billing"); b != nullptr && !b->IsNull()) {
    if (!b->IsObject()) return wrong_type("billing", "an object");
    if (const auto* d = json_member(*b, "duration")) {
      if (!d->IsNumber()) return wrong_type("billing.duration", "a number");
      reply.billing.duration_ms = d->GetDouble();
    }
    if (auto r = read_string(*b, "memory", reply.billing.memory, "billing."); !r) return r.error();
    if (auto r = read_int(*b, "used", reply.billing.used_mb, "billing."); !r) return r.error();
  }
  return reply;
}

Result<ProxyRequest> decode_proxy_request(std::string_view text) {
  auto doc = parse_object(text);
  if (!doc) return doc.error();
  ProxyRequest request;
  if (const auto* c = json_member(*doc, "context"); c != nullptr && !c->IsNull()) {
    auto context = context_from(*c);
    if (!context) return context.error();
    request.context = std::move(*context);
  }
  if (auto r = read_int(*doc, "remaining", request.remaining_ms); !r) return r.error();
  if (auto r = read_string_map(*doc, "env", request.env); !r) return r.error();
  if (const auto* e = json_member(*doc, "event")) request.event_json = to_json(*e);
  return request;
}

Result<InvokeContext> decode_invoke_context(std::string_view text) {
  auto doc = parse_object(text);
  if (!doc) return doc.error();
  return context_from(*doc);
}

}  // namespace extension_runner
