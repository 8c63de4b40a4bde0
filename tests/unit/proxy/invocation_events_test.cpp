#include "extension_runner/proxy/invocation_events.hpp"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "extension_runner/core/json.hpp"
#include "extension_runner/proxy/base64.hpp"

using namespace extension_runner;

namespace {
constexpr const char* kId = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";
constexpr const char* kArn = "arn:aws:lambda:us-east-2:123456789012:function:custom-runtime";
}  // namespace

TEST_CASE("proxy events: the context from an event's headers", "[proxy]") {
  struct Case {
    const char* what;
    HeaderList headers;
    std::string id, arn;
    std::optional<std::string> client_context;
    std::optional<std::pair<std::string, std::string>> identity;
    std::optional<int64_t> deadline;
  };
  const std::string cc =
      R"({"client":{"installation_id":"i","app_title":"t","app_version_name":"1",)"
      R"("app_version_code":"2","app_package_name":"p"},"custom":{"k":"v"},)"
      R"("env":{"platform":"x"}})";
  const std::vector<Case> cases = {
      {"every field",
       {{"Lambda-Runtime-Aws-Request-Id", kId},
        {"Lambda-Runtime-Invoked-Function-Arn", kArn},
        {"Lambda-Runtime-Deadline-Ms", "1542409706888"},
        {"Lambda-Runtime-Client-Context", cc},
        {"Lambda-Runtime-Cognito-Identity",
         R"({"cognitoIdentityId":"us-east-1:abc","cognitoIdentityPoolId":"us-east-1:pool"})"}},
       kId,
       kArn,
       cc,
       std::make_pair("us-east-1:abc", "us-east-1:pool"),
       1542409706888},
      {"nothing but the id",
       {{"lambda-runtime-aws-request-id", "r1"}},
       "r1",
       "",
       std::nullopt,
       std::nullopt,
       std::nullopt},
      {"client context compacted, and accepted base64-encoded",
       {{"Lambda-Runtime-Client-Context", base64_encode("{ \"custom\" : {\"a\": 1} }")}},
       "",
       "",
       std::string(R"({"custom":{"a":1}})"),
       std::nullopt,
       std::nullopt},
      {"undecodable client context and identity are null",
       {{"Lambda-Runtime-Client-Context", "not json"},
        {"Lambda-Runtime-Cognito-Identity", "[1]"},
        {"Lambda-Runtime-Deadline-Ms", "soon"}},
       "",
       "",
       std::nullopt,
       std::nullopt,
       std::nullopt},
      {"a client context that is not an object is null",
       {{"Lambda-Runtime-Client-Context", "[1,2]"}},
       "",
       "",
       std::nullopt,
       std::nullopt,
       std::nullopt},
      {"identity with one id only",
       {{"Lambda-Runtime-Cognito-Identity", R"({"cognitoIdentityPoolId":"pool"})"}},
       "",
       "",
       std::nullopt,
       std::make_pair("", "pool"),
       std::nullopt},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    const HookContext context = context_from_headers(c.headers);
    CHECK(context.aws_request_id == c.id);
    CHECK(context.invoked_function_arn == c.arn);
    CHECK(context.client_context_json == c.client_context);
    REQUIRE(context.identity.has_value() == c.identity.has_value());
    if (c.identity) {
      CHECK(context.identity->cognito_identity_id == c.identity->first);
      CHECK(context.identity->cognito_identity_pool_id == c.identity->second);
    }
    CHECK(deadline_from_headers(c.headers) == c.deadline);
  }
}

namespace {
std::string deep(int levels) { return std::string(levels, '[') + std::string(levels, ']'); }
}  // namespace

TEST_CASE("proxy events: REQUEST carries the payload, or its base64", "[proxy]") {
  const HeaderList headers = {{"Lambda-Runtime-Aws-Request-Id", kId},
                              {"Content-Type", "application/json"},
                              {"Lambda-Runtime-Trace-Id", "Root=1"},
                              {"User-Agent", "not shown"}};
  const std::string head =
      R"({"eventType":"REQUEST","requestId":")" + std::string(kId) +
      R"(","headers":{"Lambda-Runtime-Aws-Request-Id":")" + std::string(kId) +
      R"(","Content-Type":"application/json","Lambda-Runtime-Trace-Id":"Root=1"},)";
  struct Case {
    const char* what;
    std::string body;
    std::string payload;  // the event's payload member
  };
  const std::vector<Case> cases = {
      {"a JSON object as it is", R"({"a":[1,2.5,"x"]})", R"("payload":{"a":[1,2.5,"x"]})"},
      {"any JSON value", "42", R"("payload":42)"},
      {"JSON over several lines is compacted", "{\n  \"a\": 1\r\n}\n", R"("payload":{"a":1})"},
      {"text is not JSON", "hello", R"("payloadBase64":"aGVsbG8=")"},
      {"an empty body", "", R"("payloadBase64":"")"},
      {"two values", "1 2", R"("payloadBase64":"MSAy")"},
      {"bytes", std::string("\0\xff", 2), R"("payloadBase64":"AP8=")"},
      {"a number out of range is not JSON here", "1e400", R"("payloadBase64":"MWU0MDA=")"},
      {"nested as deep as a payload may be", deep(kMaxPayloadDepth),
       "\"payload\":" + deep(kMaxPayloadDepth)},
      // One level more, and the request line around it would be past some readers' limits.
      {"nested deeper", deep(kMaxPayloadDepth + 1),
       "\"payloadBase64\":\"" + base64_encode(deep(kMaxPayloadDepth + 1)) + "\""},
      {"nested as deep as parse_json takes", deep(kMaxJsonDepth),
       "\"payloadBase64\":\"" + base64_encode(deep(kMaxJsonDepth)) + "\""},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    const SharedBody body = std::make_shared<const std::string>(c.body);
    const HookEvent pieces = request_event(kId, body, headers);
    // A body that goes in as it is rides as the event's payload piece, uncopied.
    const bool as_is = c.payload == "\"payload\":" + c.body;
    CHECK((pieces.payload == body) == as_is);
    const std::string event = pieces.text();
    CHECK(event == head + c.payload + "}");
    CHECK(event.find('\n') == std::string::npos);
    CHECK(parse_json(event).ok());
  }
}

TEST_CASE("proxy events: RESPONSE for buffered, error and streamed answers", "[proxy]") {
  struct Case {
    const char* what;
    ResponseFacts facts;
    std::string expected;
  };
  ResponseFacts ok;
  ok.request_id = "r1";
  ok.body = std::make_shared<const std::string>(R"({"statusCode":200})");
  ok.headers = {{"Content-Type", "application/json"}, {"User-Agent", "rt"}};
  ResponseFacts failed;
  failed.request_id = "r2";
  failed.error = true;
  failed.error_type = "Runtime.Unhandled";
  failed.body = std::make_shared<const std::string>(R"({"errorMessage":"boom"})");
  failed.headers = {{"Lambda-Runtime-Function-Error-Type", "Runtime.Unhandled"}};
  ResponseFacts streamed;
  streamed.request_id = "r3";
  streamed.streamed = true;
  streamed.bytes = 104857600;
  streamed.body = std::make_shared<const std::string>("never shown");
  streamed.prelude_json = R"({"statusCode":201})";
  ResponseFacts broken = streamed;
  broken.error = true;
  broken.error_type = "Custom.Error";
  broken.prelude_json.reset();
  const std::vector<Case> cases = {
      {"success", ok,
       R"({"eventType":"RESPONSE","requestId":"r1","status":"success",)"
       R"("headers":{"Content-Type":"application/json"},"payload":{"statusCode":200}})"},
      {"error", failed,
       R"({"eventType":"RESPONSE","requestId":"r2","status":"error","errorType":"Runtime.Unhandled",)"
       R"("headers":{"Lambda-Runtime-Function-Error-Type":"Runtime.Unhandled"},)"
       R"("payload":{"errorMessage":"boom"}})"},
      {"streamed, no body", streamed,
       R"({"eventType":"RESPONSE","requestId":"r3","status":"success","headers":{},)"
       R"("streamed":true,"bytes":104857600,"prelude":{"statusCode":201}})"},
      {"streamed, failed in its trailers", broken,
       R"({"eventType":"RESPONSE","requestId":"r3","status":"error","errorType":"Custom.Error",)"
       R"("headers":{},"streamed":true,"bytes":104857600})"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    CHECK(response_event(c.facts).text() == c.expected);
  }
}

TEST_CASE("proxy events: the http-integration prelude", "[proxy]") {
  const std::string nul8("\0\0\0\0\0\0\0\0", 8);
  CHECK(http_integration_prelude(R"({"statusCode":200,"headers":{"a":"b"}})" + nul8 + "body") ==
        std::string(R"({"statusCode":200,"headers":{"a":"b"}})"));
  CHECK_FALSE(http_integration_prelude(R"({"statusCode":200})").has_value());  // no separator yet
  CHECK_FALSE(http_integration_prelude("not json" + nul8).has_value());
  CHECK_FALSE(http_integration_prelude(R"({"a":1})" + nul8.substr(0, 7) + "x").has_value());
}
