#include "extension_runner/fake_platform/managed_instances.hpp"

#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "extension_runner/core/json.hpp"
#include "extension_runner/fake_platform/telemetry_api.hpp"
#include "extension_runner/lambda/platform.hpp"

using namespace extension_runner;

namespace {

struct Seen {
  std::string type, request_id, message;
};

Seen seen(const std::string& record_json) {
  auto doc = parse_json(record_json);
  REQUIRE(doc.ok());
  Seen s;
  s.type = json_string(*doc, "type").value_or("");
  const auto& record = (*doc)["record"];
  REQUIRE(record.IsObject());
  s.request_id = json_string(record, "requestId").value_or("");
  s.message = json_string(record, "message").value_or("");
  return s;
}

}  // namespace

TEST_CASE("managed instances: invocations run N at a time and their records interleave [LMI]") {
  struct Case {
    int invokes, concurrency;
    size_t logs;
  };
  const std::vector<Case> cases = {{4, 4, 200}, {6, 4, 3}, {3, 1, 2}, {2, 8, 1}, {0, 2, 5}};
  for (const auto& c : cases) {
    INFO(c.invokes << " invokes, concurrency " << c.concurrency << ", " << c.logs << " logs");
    std::vector<std::string> logs;
    for (size_t i = 0; i < c.logs; ++i) logs.push_back(json_quote("line " + std::to_string(i)));
    ConcurrentInvocations invocations(c.invokes, c.concurrency, logs);
    std::map<std::string, std::vector<Seen>> by_request;
    std::set<std::string> in_flight;
    size_t max_in_flight = 0, rounds_with_several = 0;
    while (!invocations.done()) {
      const auto round = invocations.next_round();
      REQUIRE_FALSE(round.empty());
      std::set<std::string> in_round;
      for (const auto& r : round) {
        const auto s = seen(r);
        CHECK(in_round.insert(s.request_id).second);  // one record per invocation per round
        if (s.type == "platform.start") in_flight.insert(s.request_id);
        max_in_flight = std::max(max_in_flight, in_flight.size());
        if (s.type == "platform.report") in_flight.erase(s.request_id);
        by_request[s.request_id].push_back(s);
      }
      rounds_with_several += in_round.size() > 1 ? 1 : 0;
    }
    CHECK(invocations.next_round().empty());
    CHECK(by_request.size() == static_cast<size_t>(c.invokes));
    CHECK(invocations.request_ids().size() == static_cast<size_t>(c.invokes));
    CHECK(max_in_flight == static_cast<size_t>(std::min(c.invokes, c.concurrency)));
    if (c.invokes > 1 && c.concurrency > 1) CHECK(rounds_with_several > 0);
    for (const auto& [id, records] : by_request) {
      REQUIRE(records.size() == c.logs + 2);
      CHECK(records.front().type == "platform.start");
      CHECK(records.back().type == "platform.report");
      for (size_t i = 0; i < c.logs; ++i) {
        CHECK(records[i + 1].type == "function");
        CHECK(records[i + 1].message == "line " + std::to_string(i));
      }
    }
  }
}

TEST_CASE("managed instances: records have the shapes Managed Instances send [LMI][RIE]") {
  ConcurrentInvocations invocations(
      1, 1, {R"("plain")", R"({"level":"WARN","message":"m"})", R"({"requestId":"mine"})"});
  std::vector<std::string> all;
  while (!invocations.done()) {
    for (auto& r : invocations.next_round()) all.push_back(r);
  }
  REQUIRE(all.size() == 5);
  const std::string id = invocations.request_ids().at(0);
  auto log0 = parse_json(all[1]);
  REQUIRE(log0.ok());
  const auto& r0 = (*log0)["record"];
  CHECK(json_string(r0, "level") == "INFO");
  CHECK(json_string(r0, "requestId") == id);
  CHECK(json_string(r0, "message") == "plain");
  CHECK(json_string(r0, "timestamp").has_value());
  auto log1 = parse_json(all[2]);
  REQUIRE(log1.ok());
  CHECK(json_string((*log1)["record"], "level") == "WARN");
  CHECK(json_string((*log1)["record"], "requestId") == id);
  auto log2 = parse_json(all[3]);
  REQUIRE(log2.ok());
  CHECK(json_string((*log2)["record"], "requestId") == "mine");  // an entry's own id is kept
  auto report = parse_json(all[4]);
  REQUIRE(report.ok());
  CHECK(json_string((*report)["record"], "status") == "success");
  CHECK((*report)["record"]["metrics"]["durationMs"].IsNumber());
  CHECK((*report)["record"]["spans"].IsArray());
  for (const auto& r : all) CHECK(r.find("platform.runtimeDone") == std::string::npos);

  const auto init = TelemetryEmulator::init_records(kManagedInstancesInitType, "ext",
                                                    {"platform", "function"}, 12);
  REQUIRE(init.size() == 4);
  std::vector<std::string> types;
  for (const auto& r : init) {
    auto doc = parse_json(r);
    REQUIRE(doc.ok());
    types.push_back(json_string(*doc, "type").value_or(""));
  }
  CHECK(types == std::vector<std::string>{"platform.initStart", "platform.telemetrySubscription",
                                          "platform.initRuntimeDone", "platform.initReport"});
  CHECK_THAT(init[0], Catch::Contains(R"("initializationType":"lambda-managed-instances")"));
  CHECK_THAT(init[1], Catch::Contains(R"("types":["platform","function"])"));
  CHECK_THAT(init[3], Catch::Contains(R"("durationMs":12)"));
  const auto on_demand = TelemetryEmulator::init_records("on-demand", "ext", {"platform"}, 7);
  REQUIRE(on_demand.size() == 4);
  for (const size_t i : {0, 2, 3})
    CHECK_THAT(on_demand[i], Catch::Contains(R"("initializationType":"on-demand")"));
}
