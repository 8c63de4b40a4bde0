// The Runtime API proxy between a runtime and a fake Runtime API: what passes, unchanged.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "extension_runner/core/json.hpp"
#include "extension_runner/proxy/base64.hpp"
#include "proxy_fakes.hpp"

using namespace extension_runner;
using namespace proxy_fakes;

TEST_CASE("proxy: observe hands event and response through unchanged, then copies them",
          "[proxy]") {
  FakeRuntimeApi api;
  RecordingHooks hooks;
  RunningProxy proxy(api.address(), ProxyMode::Observe, hooks);
  const Event event = lambda_event(
      "id-1", R"({"order":7})",
      {{"Lambda-Runtime-Client-Context", R"({"custom":{"tenant":"t1"}})"},
       {"Lambda-Runtime-Cognito-Identity",
        R"({"cognitoIdentityId":"us-east-1:id","cognitoIdentityPoolId":"us-east-1:pool"})"},
       {"Lambda-Runtime-Aws-Tenant-Id", "t1"},
       {"Lambda-Runtime-Some-Future-Field", "kept"}});
  api.push_event(event);

  RawClient runtime(proxy.address);  // one keep-alive connection for both calls
  runtime.send(http_request(
      "GET", kNext,
      {{"User-Agent", "aws-lambda-python/3.12"}, {"Lambda-Runtime-Features", "streaming"}}));
  const RawMessage next = runtime.read_message();
  REQUIRE(next.complete);
  CHECK(next.start_line == "HTTP/1.1 200 OK");
  CHECK(next.body == event.body);
  for (const auto& [name, value] : event.headers) {
    INFO(name);
    CHECK(next.header(name) == value);
  }
  CHECK(next.header("Content-Length") == std::to_string(event.body.size()));
  for (const char* hop : {"Transfer-Encoding", "Keep-Alive", "Connection"})
    CHECK_FALSE(next.has(hop));
  const Recorded asked = api.next_calls().at(0);
  CHECK(asked.header("User-Agent") == "aws-lambda-python/3.12");
  CHECK(asked.header("Lambda-Runtime-Features") == "streaming");

  runtime.send(http_request("POST", response_path("id-1"),
                            {{"Content-Type", "application/json"},
                             {"User-Agent", "aws-lambda-python/3.12"},
                             {"Connection", "keep-alive, X-Hop"},
                             {"X-Hop", "1"},
                             {"Keep-Alive", "timeout=5"},
                             {"TE", "trailers"},
                             {"X-End-To-End", "2"}},
                            R"({"ok":true})"));
  const RawMessage answer = runtime.read_message();
  CHECK(answer.start_line == "HTTP/1.1 202 Accepted");
  CHECK(answer.body == R"({"status":"OK"})");
  const Recorded posted = api.wait_requests(1).at(0);
  CHECK(posted.path == response_path("id-1"));
  CHECK(posted.body == R"({"ok":true})");
  CHECK(posted.header("Content-Type") == "application/json");
  CHECK(posted.header("User-Agent") == "aws-lambda-python/3.12");
  CHECK(posted.header("X-End-To-End") == "2");
  for (const char* hop : {"X-Hop", "Keep-Alive", "TE", "Accept", "Expect"}) {
    INFO(hop);
    CHECK_FALSE(posted.has(hop));
  }

  const auto copies = hooks.wait_observed(2);
  CHECK(hooks.requests().empty());  // observe never asks
  const auto request = parse_json(copies[0].event.text());
  REQUIRE(request.ok());
  CHECK(json_string(*request, "eventType") == "REQUEST");
  CHECK(json_string(*request, "requestId") == "id-1");
  CHECK(to_json((*request)["payload"]) == R"({"order":7})");
  CHECK(json_string((*request)["headers"], "Lambda-Runtime-Aws-Tenant-Id") == "t1");
  CHECK(copies[0].context.aws_request_id == "id-1");
  CHECK(copies[0].context.invoked_function_arn == kArn);
  CHECK(copies[0].context.client_context_json == std::string(R"({"custom":{"tenant":"t1"}})"));
  REQUIRE(copies[0].context.identity.has_value());
  CHECK(copies[0].context.identity->cognito_identity_pool_id == "us-east-1:pool");
  CHECK(copies[1].event.text() ==
        R"({"eventType":"RESPONSE","requestId":"id-1","status":"success",)"
        R"("headers":{"Content-Type":"application/json"},"payload":{"ok":true}})");
  CHECK(copies[1].context.invoked_function_arn == kArn);  // matched by request id
  const ProxyCounters n = proxy.server.counters();
  CHECK(n.invocations == 1);
  CHECK(n.requests == 2);
  CHECK(n.observe_dropped == 0);
}

TEST_CASE("proxy: other paths pass through unchanged, both ways", "[proxy]") {
  struct Case {
    const char* what;
    std::string method, path;
    HeaderList headers;
    std::string body;
    std::string answer;  // what the runtime must get back
  };
  const std::vector<Case> cases = {
      {"init error",
       "POST",
       "/2018-06-01/runtime/init/error",
       {{"Lambda-Runtime-Function-Error-Type", "Runtime.ImportModuleError"},
        {"Content-Type", "application/json"}},
       R"({"errorMessage":"no module"})",
       R"({"status":"OK"})"},
      {"restore next",
       "GET",
       "/2018-06-01/runtime/restore/next",
       {},
       "",
       "echo GET /2018-06-01/runtime/restore/next"},
      {"restore error",
       "POST",
       "/2018-06-01/runtime/restore/error",
       {{"Lambda-Runtime-Function-Error-Type", "Runtime.Restore"}},
       "x",
       R"({"status":"OK"})"},
      {"a path added later, with a query",
       "GET",
       "/2099-01-01/runtime/new?x=1",
       {{"X-A", "b"}},
       "",
       "echo GET /2099-01-01/runtime/new?x=1"},
      {"another API sent here by mistake",
       "PUT",
       "/2022-07-01/telemetry",
       {{"Lambda-Extension-Identifier", "e"}},
       "{}",
       "echo PUT /2022-07-01/telemetry"},
      {"a chunked body",
       "POST",
       "/2018-06-01/runtime/init/error",
       {{"Transfer-Encoding", "chunked"}},
       "3\r\nabc\r\n0\r\n\r\n",
       R"({"status":"OK"})"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    FakeRuntimeApi api;
    RecordingHooks hooks;
    RunningProxy proxy(api.address(), ProxyMode::Intercept, hooks);
    RawClient runtime(proxy.address);
    runtime.send(http_request(c.method, c.path, c.headers, c.body));
    const RawMessage answer = runtime.read_message();
    REQUIRE(answer.complete);
    CHECK(answer.body == c.answer);
    const Recorded got = api.wait_requests(1).at(0);
    CHECK(got.method == c.method);
    CHECK(got.path == c.path);
    CHECK(got.body == (c.body.rfind("3\r\n", 0) == 0 ? "abc" : c.body));
    for (const auto& [name, value] : c.headers) {
      if (name != "Transfer-Encoding") CHECK(got.header(name) == value);
    }
    CHECK(hooks.requests().empty());
    CHECK(hooks.responses().empty());
  }
}

TEST_CASE("proxy: the platform's status codes and bodies reach the runtime unchanged", "[proxy]") {
  struct Case {
    int status;
    std::string body;
    bool on_next;  // answered to /next (else to /response)
  };
  const std::vector<Case> cases = {
      {400, R"({"errorType":"InvalidRequestID","errorMessage":"bad id"})", false},
      {403, R"({"errorType":"InvalidStateTransition","errorMessage":"State transition failed"})",
       false},
      {410, R"({"errorType":"InvokeTimeout","errorMessage":"Invoke timed out"})", false},
      {413, R"({"errorType":"RequestEntityTooLarge","errorMessage":"too large"})", false},
      {500, R"({"errorType":"InternalServerError","errorMessage":"oops"})", false},
      {500, R"({"errorType":"InternalServerError","errorMessage":"next failed"})", true},
      {403, "not json at all", true},
  };
  for (const auto& c : cases) {
    INFO(c.status << " " << c.body);
    FakeRuntimeApi api;
    RecordingHooks hooks;
    RunningProxy proxy(api.address(), ProxyMode::Intercept, hooks);
    RawClient runtime(proxy.address);
    if (c.on_next) {
      Event event = lambda_event("id-1", c.body);
      event.status = c.status;
      api.push_event(event);
      runtime.send(http_request("GET", kNext));
    } else {
      api.set_answer("/response", Answer{c.status, c.body});
      runtime.send(http_request("POST", response_path("id-1"), {}, "{}"));
    }
    const RawMessage answer = runtime.read_message();
    CHECK(answer.start_line.rfind("HTTP/1.1 " + std::to_string(c.status) + " ", 0) == 0);
    CHECK(answer.body == c.body);
    CHECK(answer.header("Content-Type") == "application/json");
    CHECK(hooks.requests().empty());  // an event that is no event is not the hooks' business
  }
}

TEST_CASE("proxy: any bytes, up to and beyond Lambda's 6 MiB, both ways", "[proxy]") {
  FakeRuntimeApi api;
  RecordingHooks hooks;
  RunningProxy proxy(api.address(), ProxyMode::Intercept, hooks);
  RawClient runtime(proxy.address);

  SECTION("a body that is not JSON reaches the hooks as base64 and the runtime as it was") {
    const std::string bytes("\0\x01\xfftext\r\n", 9);
    api.push_event(lambda_event("bin", bytes, {{"Content-Type", "application/octet-stream"}}));
    runtime.send(http_request("GET", kNext));
    const RawMessage next = runtime.read_message();
    CHECK(next.body == bytes);
    CHECK(next.header("Content-Type") == "application/octet-stream");
    const auto event = parse_json(hooks.requests().at(0).event.text());
    CHECK(json_string(*event, "payloadBase64") == base64_encode(bytes));
    CHECK_FALSE(event->HasMember("payload"));
  }
  SECTION("a 6 MiB event sent chunked (as Go sends it) reaches the runtime with its length") {
    std::string big = "\"" + std::string(kLambdaMaxPayloadBytes - 2, 'e') + "\"";
    Event event = lambda_event("big", big);
    event.chunked = true;
    api.push_event(event);
    runtime.send(http_request("GET", kNext));
    const RawMessage next = runtime.read_message();
    CHECK(next.body == big);
    CHECK(next.header("Content-Length") == std::to_string(big.size()));
    CHECK_FALSE(next.has("Transfer-Encoding"));
    CHECK(hooks.requests().at(0).event.text().size() > big.size());  // the hook saw it whole
  }
  SECTION("a 6 MiB response reaches the platform whole, a larger one gets the platform's 413") {
    const std::string largest(kLambdaMaxPayloadBytes, 'r');
    runtime.send(
        http_request("POST", response_path("r1"), {{"Content-Type", "text/plain"}}, largest));
    CHECK(runtime.read_message().start_line == "HTTP/1.1 202 Accepted");
    CHECK(api.wait_requests(1).at(0).body == largest);
    CHECK(hooks.responses().size() == 1);

    const std::string too_large(kLambdaMaxPayloadBytes + 1024 * 1024, 'r');
    runtime.send(
        http_request("POST", response_path("r2"), {{"Content-Type", "text/plain"}}, too_large));
    const RawMessage answer = runtime.read_message();
    CHECK(answer.start_line == "HTTP/1.1 413 Payload Too Large");
    CHECK_THAT(answer.body, Catch::Contains("RequestEntityTooLarge"));
    CHECK(api.wait_requests(2).at(1).body.size() == too_large.size());
    CHECK(hooks.responses().size() == 1);  // unseen by the hooks
    CHECK(proxy.server.counters().unseen == 1);
  }
}

TEST_CASE("proxy: Expect: 100-continue is answered by the proxy", "[proxy]") {
  FakeRuntimeApi api;
  RecordingHooks hooks;
  RunningProxy proxy(api.address(), ProxyMode::Observe, hooks);
  RawClient runtime(proxy.address);
  runtime.send("POST " + response_path("c1") +
               " HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
  CHECK(runtime.read_message().start_line == "HTTP/1.1 100 Continue");
  runtime.send("body");
  CHECK(runtime.read_message().start_line == "HTTP/1.1 202 Accepted");
  const Recorded posted = api.wait_requests(1).at(0);
  CHECK(posted.body == "body");
  CHECK_FALSE(posted.has("Expect"));
}
