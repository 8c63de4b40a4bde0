#include "extension_runner/lambda/events.hpp"

#include <catch2/catch.hpp>

using namespace extension_runner;

TEST_CASE("events: INVOKE shapes from the Extensions API") {
  struct Case {
    const char* name;
    const char* body;
    int64_t deadline;
    const char* request_id;
    const char* arn;
    bool has_tracing;
  };
  const std::vector<Case> cases = {
      {"documented example",
       R"({"eventType":"INVOKE","deadlineMs":676051,"requestId":"3da1f2dc-3222-475e-9205-e2e6c6318895",
           "invokedFunctionArn":"arn:aws:lambda:us-east-1:123456789012:function:ExtensionTest",
           "tracing":{"type":"X-Amzn-Trace-Id","value":"Root=1-5f35ae12-0c0fec141ab77a00bc047aa2;Parent=2be948a625588e32;Sampled=1"}})",
       676051, "3da1f2dc-3222-475e-9205-e2e6c6318895",
       "arn:aws:lambda:us-east-1:123456789012:function:ExtensionTest", true},
      {"no tracing (omitempty in RIE)",
       R"({"eventType":"INVOKE","deadlineMs":1795344973830,"requestId":"r1","invokedFunctionArn":"arn:x"})",
       1795344973830, "r1", "arn:x", false},
      {"extra unknown fields are ignored",
       R"({"eventType":"INVOKE","deadlineMs":5,"requestId":"r2","invokedFunctionArn":"a","future":{"x":[1,2]},"n":null})",
       5, "r2", "a", false},
      {"epoch-ms deadline beyond 32 bits",
       R"({"eventType":"INVOKE","deadlineMs":4102444800000,"requestId":"r3"})", 4102444800000, "r3",
       "", false},
      {"deadline written as a float with no fraction",
       R"({"eventType":"INVOKE","deadlineMs":1.7e12,"requestId":"r4"})", 1700000000000, "r4", "",
       false},
      {"tracing that is not an object is ignored",
       R"({"eventType":"INVOKE","deadlineMs":1,"requestId":"r5","tracing":"Root=1"})", 1, "r5", "",
       false},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto e = parse_event(c.body);
    REQUIRE(e.ok());
    REQUIRE(std::holds_alternative<InvokeEvent>(*e));
    const auto& inv = std::get<InvokeEvent>(*e);
    CHECK(inv.deadline_ms == c.deadline);
    CHECK(inv.request_id == c.request_id);
    CHECK(inv.invoked_function_arn == c.arn);
    CHECK(inv.tracing.has_value() == c.has_tracing);
    CHECK(event_type(*e) == "INVOKE");
    CHECK(inv.raw.find(c.request_id) != std::string::npos);
  }
}

TEST_CASE("events: SHUTDOWN accepts any shutdownReason and keeps it as sent") {
  const std::vector<const char*> reasons = {
      "spindown", "SPINDOWN",          "Timeout",     "timeout", "FAILURE",
      "failure",  "SandboxTerminated", "ReleaseFail", "",
  };
  for (const char* reason : reasons) {
    INFO(reason);
    const std::string body = std::string(R"({"eventType":"SHUTDOWN","shutdownReason":")") + reason +
                             R"(","deadlineMs":1795344973830})";
    auto e = parse_event(body);
    REQUIRE(e.ok());
    const auto& sd = std::get<ShutdownEvent>(*e);
    CHECK(sd.shutdown_reason == reason);
    CHECK(sd.deadline_ms == 1795344973830);
    CHECK(event_type(*e) == "SHUTDOWN");
    CHECK(sd.raw.find(std::string("\"shutdownReason\":\"") + reason + "\"") != std::string::npos);
  }
}

TEST_CASE("events: SHUTDOWN without a reason is still a SHUTDOWN") {
  auto e = parse_event(R"({"eventType":"SHUTDOWN","deadlineMs":10})");
  REQUIRE(e.ok());
  CHECK(std::get<ShutdownEvent>(*e).shutdown_reason.empty());
}

TEST_CASE("events: malformed bodies are protocol errors with a reason") {
  struct Case {
    const char* body;
    const char* expect;
  };
  const std::vector<Case> cases = {
      {"", "invalid JSON"},
      {"not json", "invalid JSON"},
      {"[1,2]", "not a JSON object"},
      {R"({"deadlineMs":1})", "missing eventType"},
      {R"({"eventType":"INVOKE","requestId":"r"})", "deadlineMs"},
      {R"({"eventType":"INVOKE","deadlineMs":"soon","requestId":"r"})", "deadlineMs"},
      {R"({"eventType":"INVOKE","deadlineMs":1})", "requestId"},
      {R"({"eventType":"INVOKE","deadlineMs":1,"requestId":""})", "requestId"},
      {R"({"eventType":"RESTORE","deadlineMs":1})", "unknown eventType 'RESTORE'"},
      {R"({"eventType":"SHUTDOWN","deadlineMs":1.5})", "deadlineMs"},
  };
  for (const auto& c : cases) {
    INFO(c.body);
    auto e = parse_event(c.body);
    REQUIRE_FALSE(e.ok());
    CHECK(e.error().kind == ErrorKind::ProtocolError);
    CHECK_THAT(e.error().message, Catch::Contains(c.expect));
  }
}
