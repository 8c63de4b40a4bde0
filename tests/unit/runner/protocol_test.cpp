#include "extension_runner/runner/protocol.hpp"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "extension_runner/core/json.hpp"

using namespace extension_runner;

TEST_CASE("protocol: StartupRequest encodes every field with the seed's names") {
  StartupRequest r;
  r.handler = "app.handle";
  r.env = {{"AWS_LAMBDA_FUNCTION_NAME", "fn"}, {"Q", "a\"b\nc"}};
  r.name = "ext";
  r.mode = "emulate";
  CHECK(encode_startup_request(r) ==
        R"({"handler":"app.handle","env":{"AWS_LAMBDA_FUNCTION_NAME":"fn","Q":"a\"b\nc"},)"
        R"("version":1,"name":"ext","mode":"emulate","function":{},"platform":"lambda"})");
  CHECK(encode_startup_request(StartupRequest{}) ==
        R"({"handler":"","env":{},"version":1,"name":"","mode":"lambda","function":{},)"
        R"("platform":"lambda"})");
}

TEST_CASE("protocol: StartupRequest function and platform [EXT][LMI]") {
  struct Case {
    std::string function_json, platform, expected_tail;
  };
  const std::vector<Case> cases = {
      // The Register answer as received, compacted; unknown fields kept.
      {R"({"functionName":"helloWorld","functionVersion":"$LATEST",
           "handler":"lambda_function.lambda_handler","accountId":"123456789012"})",
       "lambda",
       R"("function":{"functionName":"helloWorld","functionVersion":"$LATEST",)"
       R"("handler":"lambda_function.lambda_handler","accountId":"123456789012"},)"
       R"("platform":"lambda"})"},
      {R"({"functionName":"f","functionVersion":"7","handler":"h","future":[1]})",
       "managed-instances",
       R"("function":{"functionName":"f","functionVersion":"7","handler":"h","future":[1]},)"
       R"("platform":"managed-instances"})"},
      {"{}", "managed-instances", R"("function":{},"platform":"managed-instances"})"},
      // Never anything but an object: a child may read function.functionName blindly.
      {"not json", "lambda", R"("function":{},"platform":"lambda"})"},
      {"[1,2]", "lambda", R"("function":{},"platform":"lambda"})"},
  };
  for (const auto& c : cases) {
    StartupRequest r;
    r.function_json = c.function_json;
    r.platform = c.platform;
    const std::string encoded = encode_startup_request(r);
    INFO(encoded);
    CHECK_THAT(encoded, Catch::EndsWith(c.expected_tail));
  }
}

TEST_CASE("protocol: InvokeRequest encodes context, event and deadline") {
  struct Case {
    const char* what;
    InvokeRequest request;
    std::string expected;
  };
  InvokeRequest full;
  full.context.aws_request_id = "req-1";
  full.context.client_context_json = R"({ "custom": {"k": "v"} })";
  full.context.identity = Identity{"id-1", "pool-1"};
  full.context.invoked_function_arn = "arn:aws:lambda:us-east-1:123:function:fn";
  full.event_json = "{\n  \"eventType\": \"INVOKE\",\n  \"n\": [1, 2]\n}";
  full.deadline_ms = 1700000000123;
  InvokeRequest bare;
  bare.context.aws_request_id = "req-2";
  bare.deadline_ms = 5;
  InvokeRequest compact = bare;  // an event the host wrote itself is copied as it is
  compact.event_json = R"({"eventType":"INVOKE","requestId":"r"})";
  compact.event_compact = true;
  const std::vector<Case> cases = {
      {"an event marked compact is copied verbatim", compact,
       R"({"context":{"aws_request_id":"req-2","client_context":null,"identity":null,)"
       R"("invoked_function_arn":""},"event":{"eventType":"INVOKE","requestId":"r"},)"
       R"("deadline":5})"},
      {"every field, pretty-printed raw JSON made compact", full,
       R"({"context":{"aws_request_id":"req-1","client_context":{"custom":{"k":"v"}},)"
       R"("identity":{"cognito_identity_id":"id-1","cognito_identity_pool_id":"pool-1"},)"
       R"("invoked_function_arn":"arn:aws:lambda:us-east-1:123:function:fn"},)"
       R"("event":{"eventType":"INVOKE","n":[1,2]},"deadline":1700000000123})"},
      {"absent client_context and identity are null", bare,
       R"({"context":{"aws_request_id":"req-2","client_context":null,"identity":null,)"
       R"("invoked_function_arn":""},"event":null,"deadline":5})"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto encoded = encode_invoke_request(c.request);
    REQUIRE(encoded.ok());
    CHECK(*encoded == c.expected);
    CHECK(encoded->find('\n') == std::string::npos);
  }
}

TEST_CASE("protocol: a compact event's line has room for its newline") {
  struct Case {
    const char* what;
    int64_t deadline_ms;
    std::string event;
  };
  const std::vector<Case> cases = {
      {"small event", 5, R"({"eventType":"REQUEST"})"},
      {"negative deadline", -1, "null"},
      {"1 MiB payload", 1700000000123, "\"" + std::string(1 << 20, 'x') + "\""},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    InvokeRequest request;
    request.context.aws_request_id = "req";
    request.event_json = c.event;
    request.event_compact = true;
    request.deadline_ms = c.deadline_ms;
    auto encoded = encode_invoke_request(request);
    REQUIRE(encoded.ok());
    const std::string tail = ",\"deadline\":" + std::to_string(c.deadline_ms) + "}";
    CHECK(encoded->find(",\"event\":" + c.event + tail) != std::string::npos);
    CHECK(encoded->size() >= tail.size());
    CHECK(encoded->compare(encoded->size() - tail.size(), tail.size(), tail) == 0);
    CHECK(encoded->capacity() > encoded->size());
    CHECK(parse_json(*encoded).ok());
    // In pieces, the event is the request's own bytes, not a copy; joined, the same line.
    auto parts = encode_invoke_request_parts(request);
    REQUIRE(parts.ok());
    CHECK(parts->event.data() == request.event_json.data());
    CHECK(parts->event.size() == request.event_json.size());
    CHECK(parts->head + std::string(parts->event) + parts->tail == *encoded + "\n");
  }
}

TEST_CASE("protocol: an event's shared payload piece is written where it lies") {
  struct Case {
    const char* what;
    bool compact;
    std::string expected_event;  // as the line carries it
  };
  const std::vector<Case> cases = {
      {"compact: the piece itself, uncopied", true,
       R"({"eventType":"REQUEST","payload":{"a": 1}})"},
      {"not compact: the joined text, re-encoded", false,
       R"({"eventType":"REQUEST","payload":{"a":1}})"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    InvokeRequest request;
    request.context.aws_request_id = "req";
    request.event_json = R"({"eventType":"REQUEST","payload":)";
    request.event_payload = std::make_shared<const std::string>(R"({"a": 1})");
    request.event_end = "}";
    request.event_compact = c.compact;
    request.deadline_ms = 9;
    auto encoded = encode_invoke_request(request);
    REQUIRE(encoded.ok());
    CHECK(encoded->find(",\"event\":" + c.expected_event + ",\"deadline\":9}") !=
          std::string::npos);
    auto parts = encode_invoke_request_parts(request);
    REQUIRE(parts.ok());
    CHECK((parts->event_payload.data() == request.event_payload->data()) == c.compact);
    CHECK(parts->head + std::string(parts->event) + std::string(parts->event_payload) +
              std::string(parts->event_end) + parts->tail ==
          *encoded + "\n");
    CHECK(parts->size() == encoded->size() + 1);
  }
}

TEST_CASE("protocol: a request whose event is re-encoded comes whole in head and tail") {
  InvokeRequest request;
  request.context.aws_request_id = "req";
  request.event_json = "{ \"a\" : [1, 2] }";  // not compact: written through the encoder
  request.deadline_ms = 7;
  auto parts = encode_invoke_request_parts(request);
  REQUIRE(parts.ok());
  CHECK(parts->event.empty());
  CHECK(parts->tail == "\n");
  CHECK(parts->head.find(R"("event":{"a":[1,2]},"deadline":7})") != std::string::npos);
  CHECK(parts->size() == parts->head.size() + 1);
}

TEST_CASE("protocol: encoders reject raw payloads that are not JSON") {
  InvokeRequest bad_event;
  bad_event.event_json = "{not json";
  CHECK(encode_invoke_request(bad_event).error().kind == ErrorKind::InvalidInput);
  InvokeRequest bad_client;
  bad_client.context.client_context_json = "[";
  CHECK(encode_invoke_request(bad_client).error().kind == ErrorKind::InvalidInput);
  InvokeReply bad_result;
  bad_result.result_json = "";
  CHECK(encode_invoke_reply(bad_result).error().kind == ErrorKind::InvalidInput);
}

TEST_CASE("protocol: InvokeReply encodes errors only when true (omitempty)") {
  InvokeReply ok;
  ok.result_json = R"({"a": 1})";
  ok.invokeid = "req-1";
  ok.billing = Billing{12.5, "128", 31};
  InvokeReply failed = ok;
  failed.errors = true;
  failed.errortype = "Runner.Timeout";
  failed.result_json = "null";
  auto a = encode_invoke_reply(ok);
  auto b = encode_invoke_reply(failed);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(*a == R"({"result":{"a":1},"errortype":"","invokeid":"req-1",)"
              R"("billing":{"duration":12.5,"memory":"128","used":31}})");
  CHECK(*b == R"({"result":null,"errortype":"Runner.Timeout","invokeid":"req-1","errors":true,)"
              R"("billing":{"duration":12.5,"memory":"128","used":31}})");
}

TEST_CASE("protocol: InvokeReply decodes every field, and round-trips") {
  struct Case {
    const char* line;
    std::string result_json;
    std::string errortype;
    std::string invokeid;
    bool errors;
    Billing billing;
  };
  const std::vector<Case> cases = {
      {R"({"result":{"x":[1,"y"]},"errortype":"","invokeid":"r1","billing":{"duration":1.5,"memory":"256","used":40}})",
       R"({"x":[1,"y"]})", "", "r1", false, Billing{1.5, "256", 40}},
      {R"({"result":"boom","errortype":"Handled","invokeid":"r2","errors":true})", R"("boom")",
       "Handled", "r2", true, Billing{}},
      {R"({"invokeid":"r3"})", "null", "", "r3", false, Billing{}},
      {R"({"invokeid":"r4","result":null,"errors":false,"billing":null,"extra":7})", "null", "",
       "r4", false, Billing{}},
      {R"({"invokeid":"r5","result":42,"billing":{"duration":3,"used":2.0}})", "42", "", "r5",
       false, Billing{3, "", 2}},
  };
  for (const auto& c : cases) {
    INFO(c.line);
    auto reply = decode_invoke_reply(c.line);
    REQUIRE(reply.ok());
    CHECK(reply->result_json == c.result_json);
    CHECK(reply->errortype == c.errortype);
    CHECK(reply->invokeid == c.invokeid);
    CHECK(reply->errors == c.errors);
    CHECK(reply->billing.duration_ms == c.billing.duration_ms);
    CHECK(reply->billing.memory == c.billing.memory);
    CHECK(reply->billing.used_mb == c.billing.used_mb);
    auto again = encode_invoke_reply(*reply);
    REQUIRE(again.ok());
    auto back = decode_invoke_reply(*again);
    REQUIRE(back.ok());
    CHECK(back->result_json == reply->result_json);
    CHECK(back->errors == reply->errors);
    CHECK(back->invokeid == reply->invokeid);
  }
}

TEST_CASE("protocol: StartupResponse decodes ok, error and handles") {
  struct Case {
    const char* line;
    bool ok;
    std::string error;
    std::vector<std::string> handles;
    bool says_handles;
  };
  const std::vector<Case> cases = {
      {R"({"ok":true})", true, "", {}, false},
      {R"({"ok":false,"error":"cannot import app"})", false, "cannot import app", {}, false},
      {R"({"ok":false,"error":null,"other":1})", false, "", {}, false},
      {R"({"ok":true,"handles":["INVOKE","TELEMETRY"]})", true, "", {"INVOKE", "TELEMETRY"}, true},
      {R"({"ok":true,"handles":["*"]})", true, "", {"*"}, true},
      {R"({"ok":true,"handles":[]})", true, "", {}, true},
      {R"({"ok":true,"handles":null})", true, "", {}, false},
  };
  for (const auto& c : cases) {
    INFO(c.line);
    auto r = decode_startup_response(c.line);
    REQUIRE(r.ok());
    CHECK(r->ok == c.ok);
    CHECK(r->error == c.error);
    CHECK(r->handles == c.handles);
    CHECK(r->says_handles == c.says_handles);
  }
}

TEST_CASE(
    "protocol: StartupResponse::takes an event type it lists, a catch-all, or any when silent") {
  struct Case {
    const char* line;
    bool invoke, request, telemetry;
  };
  const std::vector<Case> cases = {
      {R"({"ok":true})", true, true, true},
      {R"({"ok":true,"handles":null})", true, true, true},
      {R"({"ok":true,"handles":[]})", false, false, false},
      {R"({"ok":true,"handles":["REQUEST","RESPONSE"]})", false, true, false},
      {R"({"ok":true,"handles":["INVOKE","TELEMETRY"]})", true, false, true},
      {R"({"ok":true,"handles":["*"]})", true, true, true},
  };
  for (const auto& c : cases) {
    INFO(c.line);
    auto r = decode_startup_response(c.line);
    REQUIRE(r.ok());
    CHECK(r->takes("INVOKE") == c.invoke);
    CHECK(r->takes("REQUEST") == c.request);
    CHECK(r->takes("TELEMETRY") == c.telemetry);
  }
}

TEST_CASE("protocol: ProxyRequest and Context decode every field") {
  auto p = decode_proxy_request(
      R"({"context":{"aws_request_id":"r","client_context":{"client":{"app_title":"t"},)"
      R"("custom":{"a":"b"},"env":{}},"identity":{"cognito_identity_id":"i",)"
      R"("cognito_identity_pool_id":"p"},"invoked_function_arn":"arn"},"remaining":3000,)"
      R"("env":{"K":"V"},"event":{"hello":"world"}})");
  REQUIRE(p.ok());
  CHECK(p->context.aws_request_id == "r");
  REQUIRE(p->context.client_context_json.has_value());
  CHECK(*p->context.client_context_json ==
        R"({"client":{"app_title":"t"},"custom":{"a":"b"},"env":{}})");
  REQUIRE(p->context.identity.has_value());
  CHECK(p->context.identity->cognito_identity_id == "i");
  CHECK(p->context.identity->cognito_identity_pool_id == "p");
  CHECK(p->context.invoked_function_arn == "arn");
  CHECK(p->remaining_ms == 3000);
  CHECK(p->env == std::map<std::string, std::string>{{"K", "V"}});
  CHECK(p->event_json == R"({"hello":"world"})");

  auto c = decode_invoke_context(
      R"({"aws_request_id":"r","client_context":null,"identity":null,"invoked_function_arn":"a"})");
  REQUIRE(c.ok());
  CHECK(c->aws_request_id == "r");
  CHECK_FALSE(c->client_context_json.has_value());
  CHECK_FALSE(c->identity.has_value());
  CHECK(c->invoked_function_arn == "a");

  auto empty = decode_proxy_request("{}");
  REQUIRE(empty.ok());
  CHECK(empty->event_json == "null");
  CHECK(empty->remaining_ms == 0);
}

TEST_CASE("protocol: bad input is a ProtocolError naming the problem") {
  struct Case {
    const char* what;
    Result<void> (*decode)(std::string_view);
    const char* text;
    const char* mentions;
  };
  auto reply = [](std::string_view t) -> Result<void> {
    auto r = decode_invoke_reply(t);
    if (!r) return r.error();
    return {};
  };
  auto startup = [](std::string_view t) -> Result<void> {
    auto r = decode_startup_response(t);
    if (!r) return r.error();
    return {};
  };
  auto proxy = [](std::string_view t) -> Result<void> {
    auto r = decode_proxy_request(t);
    if (!r) return r.error();
    return {};
  };
  auto context = [](std::string_view t) -> Result<void> {
    auto r = decode_invoke_context(t);
    if (!r) return r.error();
    return {};
  };
  const std::vector<Case> cases = {
      {"reply not JSON", reply, "hello world", "invalid JSON"},
      {"reply empty", reply, "", "invalid JSON"},
      {"reply not an object", reply, R"(["invokeid"])", "not a JSON object"},
      {"reply without invokeid", reply, R"({"result":1})", "invokeid"},
      {"reply invokeid number", reply, R"({"invokeid":1})", "invokeid"},
      {"reply errortype number", reply, R"({"invokeid":"a","errortype":3})", "errortype"},
      {"reply errors string", reply, R"({"invokeid":"a","errors":"yes"})", "errors"},
      {"reply billing array", reply, R"({"invokeid":"a","billing":[]})", "billing"},
      {"reply billing duration string", reply, R"({"invokeid":"a","billing":{"duration":"1"}})",
       "billing.duration"},
      {"reply billing memory number", reply, R"({"invokeid":"a","billing":{"memory":128}})",
       "billing.memory"},
      {"reply billing used fraction", reply, R"({"invokeid":"a","billing":{"used":1.5}})",
       "billing.used"},
      {"startup not JSON", startup, "ok", "invalid JSON"},
      {"startup not an object", startup, "true", "not a JSON object"},
      {"startup without ok", startup, R"({"error":"x"})", "ok"},
      {"startup ok string", startup, R"({"ok":"true"})", "ok"},
      {"startup error number", startup, R"({"ok":false,"error":5})", "error"},
      {"startup handles not an array", startup, R"({"ok":true,"handles":"INVOKE"})", "handles"},
      {"startup handles a number", startup, R"({"ok":true,"handles":[1]})", "handles"},
      {"proxy remaining string", proxy, R"({"remaining":"5"})", "remaining"},
      {"proxy env not strings", proxy, R"({"env":{"A":1}})", "env.A"},
      {"proxy context string", proxy, R"({"context":"x"})", "context"},
      {"context client_context string", context, R"({"client_context":"x"})",
       "context.client_context"},
      {"context identity array", context, R"({"identity":[]})", "context.identity"},
      {"context identity id number", context, R"({"identity":{"cognito_identity_id":1}})",
       "context.identity.cognito_identity_id"},
      {"context request id number", context, R"({"aws_request_id":1})", "context.aws_request_id"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto r = c.decode(c.text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::ProtocolError);
    CHECK_THAT(r.error().message, Catch::Contains(c.mentions));
  }
}
