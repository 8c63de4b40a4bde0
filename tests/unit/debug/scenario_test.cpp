#include "extension_runner/debug/scenario.hpp"

#include <catch2/catch.hpp>

using namespace extension_runner;

TEST_CASE("scenario: an empty object is the default scenario") {
  auto s = parse_scenario("{}");
  REQUIRE(s.ok());
  CHECK(s->invokes == 3);
  CHECK(s->shutdown_reason == "spindown");
  CHECK(s->shutdown_budget_ms == 2000);
  CHECK(s->log_records_json.size() == 2);
  CHECK_FALSE(s->register_fault.has_value());
  CHECK(s->telemetry_fault == TelemetryFault::None);
  CHECK_FALSE(s->managed_instances);
  CHECK(s->concurrency == 1);
}

TEST_CASE("scenario: every field is read") {
  auto s = parse_scenario(R"({"invokes":5,"spacingMs":20,"functionTimeoutMs":900,
    "shutdownReason":"timeout","shutdownBudgetMs":1500,
    "logs":["plain",{"level":"WARN","message":"m"}],
    "faults":{"register":{"status":403},"next":{"status":500,"after":2,"errorMessage":"x"},
              "telemetry":"NotSupported"}})");
  REQUIRE(s.ok());
  CHECK(s->invokes == 5);
  CHECK(s->spacing_ms == 20);
  CHECK(s->function_timeout_ms == 900);
  CHECK(s->shutdown_reason == "timeout");
  CHECK(s->shutdown_budget_ms == 1500);
  REQUIRE(s->log_records_json.size() == 2);
  CHECK(s->log_records_json[0] == R"("plain")");
  CHECK(s->log_records_json[1] == R"({"level":"WARN","message":"m"})");
  REQUIRE(s->register_fault.has_value());
  CHECK(s->register_fault->status == 403);
  CHECK(s->register_fault->error_type == "Extension.InvalidExtensionName");
  REQUIRE(s->next_fault.has_value());
  CHECK(s->next_fault->after == 2);
  CHECK(s->next_fault->error_message == "x");
  CHECK(s->telemetry_fault == TelemetryFault::NotSupported);
  CHECK(s->messages_json.empty());
  auto with_messages = parse_scenario(R"({"messages":[{"metric":"n", "value":1},"s",2]})");
  REQUIRE(with_messages.ok());
  CHECK(with_messages->messages_json ==
        std::vector<std::string>{R"({"metric":"n","value":1})", R"("s")", "2"});
  CHECK(s->payloads_json.empty());
  auto with_payloads = parse_scenario(R"({"payloads":[{"order": 1},"text",[2]]})");
  REQUIRE(with_payloads.ok());
  CHECK(with_payloads->payloads_json ==
        std::vector<std::string>{R"({"order":1})", R"("text")", "[2]"});
  auto lmi = parse_scenario(R"({"managedInstances":true,"concurrency":4})");
  REQUIRE(lmi.ok());
  CHECK(lmi->managed_instances);
  CHECK(lmi->concurrency == 4);
}

TEST_CASE("scenario: bad documents name the field") {
  struct Case {
    const char* json;
    const char* expect;
  };
  const std::vector<Case> cases = {
      {"[", "document"},
      {"[]", "expected a JSON object"},
      {R"({"invoke":3})", "invoke: unknown field"},
      {R"({"invokes":-1})", "invokes: must be between"},
      {R"({"invokes":"3"})", "invokes: expected an integer"},
      {R"({"shutdownReason":7})", "shutdownReason"},
      {R"({"logs":[1]})", "logs"},
      {R"({"messages":{"a":1}})", "messages: expected an array"},
      {R"({"payloads":{"a":1}})", "payloads: expected an array"},
      {R"({"faults":{"next":{"status":200}}})", "faults.next.status"},
      {R"({"faults":{"nxt":{}}})", "faults.nxt: unknown field"},
      {R"({"faults":{"telemetry":"Off"}})", "faults.telemetry"},
      {R"({"managedInstances":"yes"})", "managedInstances: expected true or false"},
      {R"({"concurrency":0})", "concurrency: must be between 1 and 64"},
      {R"({"concurrency":65})", "concurrency: must be between 1 and 64"},
  };
  for (const auto& c : cases) {
    INFO(c.json);
    auto s = parse_scenario(c.json);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().kind == ErrorKind::InvalidInput);
    CHECK_THAT(s.error().message, Catch::Contains(c.expect));
  }
}

TEST_CASE("scenario: a missing file is a clear error") {
  auto s = load_scenario("/nonexistent/scenario.json");
  REQUIRE_FALSE(s.ok());
  CHECK_THAT(s.error().message, Catch::Contains("cannot read '/nonexistent/scenario.json'"));
}
