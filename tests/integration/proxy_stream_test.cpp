// Streamed responses, broken connections on either side, and stopping with work in flight.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "extension_runner/core/json.hpp"
#include "extension_runner/proxy/base64.hpp"
#include "proxy_fakes.hpp"

using namespace extension_runner;
using namespace proxy_fakes;

namespace {

const std::string kNul8("\0\0\0\0\0\0\0\0", 8);
const std::string kPrelude = R"({"statusCode":201,"headers":{"X-Custom":"1"},"cookies":[]})";

/** The head of a streamed response as a runtime sends it [RIE invocationresponse.go]. */
std::string stream_head(const std::string& id, const std::string& content_type) {
  return "POST " + response_path(id) +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         "Lambda-Runtime-Function-Response-Mode: streaming\r\n"
         "Transfer-Encoding: chunked\r\n"
         "Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n"
         "Content-Type: " +
         content_type + "\r\n\r\n";
}

std::string chunk(const std::string& data) {
  char size[20];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + data + "\r\n";
}

}  // namespace

TEST_CASE("proxy: a streamed response goes through chunk by chunk, trailers and prelude included",
          "[proxy]") {
  RawUpstream platform;
  RecordingHooks hooks;
  RunningProxy proxy(platform.address(), ProxyMode::Intercept, hooks);
  RawClient runtime(proxy.address);
  runtime.send(stream_head("s-1", "application/vnd.awslambda.http-integration-response"));
  // Each piece reaches the platform before the next one is even written: nothing is held whole.
  runtime.send(chunk(kPrelude + kNul8));
  platform.wait_for(kPrelude + kNul8);
  runtime.send(chunk("hello "));
  platform.wait_for("hello ");
  runtime.send(chunk("world"));
  platform.wait_for("world");
  const std::string body = base64_encode(R"({"errorMessage":"late failure"})");
  runtime.send(
      "0\r\nLambda-Runtime-Function-Error-Type: Custom.LateFailure\r\n"
      "Lambda-Runtime-Function-Error-Body: " +
      body + "\r\n\r\n");
  const RawMessage answer = runtime.read_message();
  CHECK(answer.start_line == "HTTP/1.1 202 Accepted");
  CHECK(answer.body == R"({"status":"OK"})");

  const RawMessage got = platform.wait_request();
  REQUIRE(got.complete);
  CHECK(got.start_line == "POST " + response_path("s-1") + " HTTP/1.1");
  CHECK(got.header("Transfer-Encoding") == "chunked");
  CHECK_FALSE(got.has("Content-Length"));
  CHECK(got.header("Trailer") ==
        "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body");
  CHECK(got.header("Lambda-Runtime-Function-Response-Mode") == "streaming");
  CHECK(got.header("Content-Type") == "application/vnd.awslambda.http-integration-response");
  CHECK(got.body == kPrelude + kNul8 + "hello world");
  CHECK(got.trailers == HeaderList{{"Lambda-Runtime-Function-Error-Type", "Custom.LateFailure"},
                                   {"Lambda-Runtime-Function-Error-Body", body}});

  // The hooks get a copy without the body, in intercept mode too; no RESPONSE decision.
  const auto copy = hooks.wait_observed(1).at(0);
  CHECK(hooks.responses().empty());
  CHECK(
      copy.event.text() ==
      R"({"eventType":"RESPONSE","requestId":"s-1","status":"error","errorType":"Custom.LateFailure",)"
      R"("headers":{"Lambda-Runtime-Function-Response-Mode":"streaming",)"
      R"("Content-Type":"application/vnd.awslambda.http-integration-response"},)"
      R"("streamed":true,"bytes":)" +
          std::to_string((kPrelude + kNul8 + "hello world").size()) + R"(,"prelude":)" + kPrelude +
          "}");
}

TEST_CASE("proxy: the runtime disconnecting mid-body", "[proxy]") {
  RecordingHooks hooks;
  SECTION("a buffered response: nothing reaches the platform, the proxy keeps serving") {
    LogCapture log;
    FakeRuntimeApi api;
    RunningProxy proxy(api.address(), ProxyMode::Intercept, hooks);
    {
      RawClient runtime(proxy.address);
      runtime.send("POST " + response_path("d-1") +
                   " HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly ten b");
      runtime.disconnect();
    }
    CHECK_THAT(log.wait_for("the runtime's connection failed"), Catch::Contains("WARN"));
    CHECK(proxy.server.counters().runtime_disconnects == 1);
    api.push_event(lambda_event("d-2", "{}"));
    RawClient next_runtime(proxy.address);
    next_runtime.send(http_request("GET", kNext));
    CHECK(next_runtime.read_message().header("Lambda-Runtime-Aws-Request-Id") == "d-2");
    CHECK(api.requests().empty());  // no /response for d-1
    CHECK(hooks.responses().empty());
  }
  SECTION("a streamed response: ended for the platform with error trailers") {
    LogCapture log;
    RawUpstream platform;
    RunningProxy proxy(platform.address(), ProxyMode::Observe, hooks);
    {
      RawClient runtime(proxy.address);
      runtime.send(stream_head("d-3", "text/plain"));
      runtime.send(chunk("partial"));
      platform.wait_for("partial");
      runtime.disconnect();
    }
    const RawMessage got = platform.wait_request();
    REQUIRE(got.complete);
    CHECK(got.body == "partial");
    REQUIRE(got.trailers.size() == 2);
    CHECK(got.trailers[0] == std::make_pair(std::string("Lambda-Runtime-Function-Error-Type"),
                                            std::string("Extension.ProxyRuntimeDisconnected")));
    const auto error = parse_json(base64_decode(got.trailers[1].second).value_or(""));
    REQUIRE(error.ok());
    CHECK(json_string(*error, "errorType") == "Extension.ProxyRuntimeDisconnected");
    CHECK_THAT(json_string(*error, "errorMessage").value_or(""), Catch::Contains("after 7 bytes"));
    const auto copy = parse_json(hooks.wait_observed(1).at(0).event.text());
    CHECK(json_string(*copy, "status") == "error");
    CHECK(json_int64(*copy, "bytes") == 7);
    CHECK_THAT(log.wait_for("the runtime's connection failed"),
               Catch::Contains("in the middle of the body"));
    CHECK(proxy.server.counters().runtime_disconnects == 1);
  }
  SECTION("a body with a Content-Length passed through: cut off for the platform too") {
    RawUpstream platform;
    RunningProxy proxy(platform.address(), ProxyMode::Observe, hooks);
    {
      RawClient runtime(proxy.address);
      runtime.send(
          "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: x\r\n"
          "Content-Length: 100\r\n\r\n0123456789");
      platform.wait_for("0123456789");
      runtime.disconnect();
    }
    const RawMessage got = platform.wait_request();
    CHECK_FALSE(got.complete);
    CHECK(platform.cut_off());
  }
}

TEST_CASE("proxy: an unreachable Runtime API is a 502 with a JSON error and an ERROR line",
          "[proxy]") {
  HostPort nowhere;
  {
    RawUpstream closed;  // a port that was free a moment ago, and is again
    nowhere = closed.address();
  }
  LogCapture log;
  RecordingHooks hooks;
  RunningProxy proxy(nowhere, ProxyMode::Intercept, hooks);
  for (const std::string& request :
       {http_request("GET", kNext), http_request("POST", response_path("u-1"), {}, "{}")}) {
    RawClient runtime(proxy.address);
    runtime.send(request);
    const RawMessage answer = runtime.read_message();
    CHECK(answer.start_line == "HTTP/1.1 502 Bad Gateway");
    CHECK(answer.header("Content-Type") == "application/json");
    const auto body = parse_json(answer.body);
    REQUIRE(body.ok());
    CHECK(json_string(*body, "errorType") == "Extension.ApiUnreachable");
    CHECK_THAT(json_string(*body, "errorMessage").value_or(""),
               Catch::Contains("connection refused"));
  }
  CHECK_THAT(log.wait_for("proxy: the Runtime API failed"), Catch::Contains("ERROR"));
  CHECK(proxy.server.counters().upstream_errors == 2);
}

TEST_CASE("proxy: stop() while a runtime waits in /next ends it cleanly", "[proxy]") {
  FakeRuntimeApi api;  // no event: /next is held upstream
  RecordingHooks hooks;
  RunningProxy proxy(api.address(), ProxyMode::Observe, hooks);
  RawClient runtime(proxy.address);
  runtime.send(http_request("GET", kNext));
  api.wait_next_calls(1);
  proxy.server.stop(1000);
  CHECK(runtime.closed_by_peer());
  CHECK(proxy.server.counters().requests == 1);
  proxy.server.stop(0);  // idempotent
}

TEST_CASE("proxy: requests it cannot serve get an answer, and the proxy goes on", "[proxy]") {
  struct Case {
    const char* what;
    std::string request;
    std::string status_line;
  };
  const std::vector<Case> cases = {
      {"not HTTP/1.x", "GET /x HTTP/2.0\r\n\r\n", "HTTP/1.1 400 Bad Request"},
      {"a head over 64 KiB",
       "GET /x HTTP/1.1\r\nX-Big: " + std::string(70 * 1024, 'b') + "\r\n\r\n",
       "HTTP/1.1 431 Request Header Fields Too Large"},
      {"a transfer coding other than chunked",
       "POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "HTTP/1.1 400 Bad Request"},
      {"Content-Length and chunked at once",
       "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
       "HTTP/1.1 400 Bad Request"},
      {"a broken chunked body",
       "POST " + response_path("b-1") + " HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
       "HTTP/1.1 400 Bad Request"},
  };
  FakeRuntimeApi api;
  RecordingHooks hooks;
  RunningProxy proxy(api.address(), ProxyMode::Intercept, hooks);
  for (const auto& c : cases) {
    INFO(c.what);
    RawClient runtime(proxy.address);
    runtime.send(c.request);
    const RawMessage answer = runtime.read_message();
    CHECK(answer.start_line == c.status_line);
    const auto body = parse_json(answer.body);
    REQUIRE(body.ok());
    CHECK(json_string(*body, "errorType") == "Extension.InvalidInput");
    CHECK(runtime.closed_by_peer());
  }
  CHECK(api.requests().empty());
  api.push_event(lambda_event("after", "{}"));
  RawClient runtime(proxy.address);
  runtime.send(http_request("GET", kNext));
  CHECK(runtime.read_message().header("Lambda-Runtime-Aws-Request-Id") == "after");
}

TEST_CASE("proxy: connections beyond the limit get 503", "[proxy]") {
  FakeRuntimeApi api;
  RecordingHooks hooks;
  RunningProxy proxy(api.address(), ProxyMode::Observe, hooks,
                     [](ProxyOptions& o) { o.max_connections = 1; });
  RawClient first(proxy.address);
  first.send(http_request("GET", kNext));
  api.wait_next_calls(1);  // the first connection is being served
  RawClient second(proxy.address);
  const RawMessage refused = second.read_message();
  CHECK(refused.start_line == "HTTP/1.1 503 Service Unavailable");
  CHECK_THAT(refused.body, Catch::Contains("the most at once"));
  api.push_event(lambda_event("one", "{}"));
  CHECK(first.read_message().header("Lambda-Runtime-Aws-Request-Id") == "one");
}

TEST_CASE("proxy: streamed responses one after another on one connection", "[proxy]") {
  // The runtime keeps its connection, and so the proxy its upstream one, across responses.
  struct Case {
    ProxyMode mode;
    bool trailers;
  };
  for (const auto& c : {Case{ProxyMode::Observe, false}, Case{ProxyMode::Observe, true},
                        Case{ProxyMode::Intercept, false}}) {
    INFO("intercept=" << (c.mode == ProxyMode::Intercept) << " trailers=" << c.trailers);
    RawUpstream platform;
    RecordingHooks hooks;
    RunningProxy proxy(platform.address(), c.mode, hooks);
    RawClient runtime(proxy.address);
    constexpr size_t kResponses = 4;
    constexpr size_t kChunks = 3;
    const std::string piece(64 * 1024, 'x');
    for (size_t i = 0; i < kResponses; ++i) {
      const std::string id = "k-" + std::to_string(i);
      runtime.send(stream_head(id, "text/plain"));
      for (size_t k = 0; k < kChunks; ++k) runtime.send(chunk(piece));
      runtime.send(c.trailers ? "0\r\nLambda-Runtime-Function-Error-Type: Custom.Late\r\n\r\n"
                              : "0\r\n\r\n");
      const RawMessage answer = runtime.read_message();
      CHECK(answer.start_line == "HTTP/1.1 202 Accepted");
    }
    const auto got = platform.wait_requests(kResponses);
    REQUIRE(got.size() == kResponses);
    for (size_t i = 0; i < kResponses; ++i) {
      CHECK(got[i].start_line == "POST " + response_path("k-" + std::to_string(i)) + " HTTP/1.1");
      CHECK(got[i].body.size() == kChunks * piece.size());
      CHECK(got[i].body.find_first_not_of('x') == std::string::npos);
      CHECK(got[i].trailers.size() == (c.trailers ? 1U : 0U));
    }
    CHECK(hooks.wait_observed(kResponses).size() == kResponses);
  }
}
