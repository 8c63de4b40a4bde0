// Lambda Managed Instances [LMI]: the real binary against the embedded emulator in its
// Managed-Instances mode (SHUTDOWN-only registrations, schema 2025-01-29, no INVOKE events,
// concurrent invocations seen only in telemetry). Also run against the static binary by the
// layer tests (layer/layer.mk BINARY_TEST_SPEC).
#include "extension_runner/fake_platform/managed_instances.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/json.hpp"
#include "extension_runner/fake_platform/extensions_api.hpp"
#include "extension_runner/fake_platform/telemetry_api.hpp"
#include "extension_runner/lambda/extensions_api.hpp"
#include "extension_runner/lambda/http.hpp"
#include "fake_platform.hpp"
#include "support.hpp"

using namespace extension_runner;
using test_support::lines_of;
using test_support::run_binary;

namespace {

constexpr const char* kLmi = "lambda-managed-instances";

// Appends every line it receives to $PROBE_LOG and answers each request.
constexpr const char* kProbe = R"PY(
import json, os, sys
log = open(os.environ["PROBE_LOG"], "a")
for line in sys.stdin:
    log.write(line); log.flush()
    msg = json.loads(line)
    if "handler" in msg:
        print(json.dumps({"ok": True}), flush=True)
        continue
    print(json.dumps({"result": None, "errortype": "", "invokeid": msg["context"]["aws_request_id"]}), flush=True)
)PY";

struct Probe {
  std::string dir, log, script;
  Probe() {
    char tmpl[] = "/tmp/er-lmi-XXXXXX";
    dir = ::mkdtemp(tmpl);
    log = dir + "/requests.log";
    script = dir + "/probe.py";
    std::ofstream(script) << kProbe;
  }
  ~Probe() { (void)!std::system(("rm -rf '" + dir + "'").c_str()); }
  std::vector<rapidjson::Document> requests() const {
    return test_support::json_lines_of_file(log);
  }
};

/** The embedded emulator in Managed-Instances mode, with its Telemetry API. */
struct ManagedInstances : test_support::FakePlatform {
  ManagedInstances() : FakePlatform(Platform::ManagedInstances) { REQUIRE(api.start().ok()); }
};

std::string event_type_of(const rapidjson::Document& request) {
  if (!request.HasMember("event") || !request["event"].IsObject()) return "<startup>";
  return json_string(request["event"], "eventType").value_or("");
}

}  // namespace

TEST_CASE(
    "managed instances: SHUTDOWN-only registration, schema 2025-01-29, telemetry then SHUTDOWN "
    "reach the child, exit 0 before the deadline") {
  ManagedInstances lmi;
  Probe probe;
  int64_t shutdown_deadline = 0;
  int published = -1;
  // Lambda's part: once the extension is subscribed and idle, two invocations' records, then
  // SHUTDOWN spindown.
  std::thread platform([&] {
    if (!lmi.telemetry.wait_for_subscription(std::chrono::seconds(15)) ||
        !lmi.api.wait_for_idle_next(std::chrono::seconds(15))) {
      lmi.api.push_shutdown("spindown", wall_clock_ms() + 2000);
      return;
    }
    ConcurrentInvocations invocations(2, 2, {R"("hello")"});
    std::vector<std::string> records;
    while (!invocations.done()) {
      for (auto& r : invocations.next_round()) records.push_back(std::move(r));
    }
    published = lmi.telemetry.post_until_accepted(TelemetryEmulator::batch(records),
                                                  std::chrono::seconds(5));
    shutdown_deadline = wall_clock_ms() + 2000;
    lmi.api.push_shutdown("spindown", shutdown_deadline);
  });
  auto run = run_binary({}, {{"AWS_LAMBDA_RUNTIME_API", lmi.api.runtime_api()},
                             {"AWS_LAMBDA_INITIALIZATION_TYPE", kLmi},
                             {"EXTENSION_RUNNER_COMMAND", "exec python3 " + probe.script},
                             {"EXTENSION_RUNNER_TELEMETRY", "telemetry"},
                             {"EXTENSION_RUNNER_NAME", "probe-ext"},
                             {"EXTENSION_RUNNER_STARTUP_TIMEOUT_MS", "9000"},
                             {"PROBE_LOG", probe.log}});
  const int64_t exited = wall_clock_ms();
  platform.join();
  INFO(run.err);
  CHECK(run.status.success());
  CHECK(published == 200);
  CHECK(exited < shutdown_deadline);
  CHECK_THAT(run.err, Catch::Contains("config: platform=managed-instances") &&
                          Catch::Contains(" events=SHUTDOWN "));

  const auto reg = lmi.api.calls_to(Endpoint::Register);
  REQUIRE(reg.size() == 1);
  CHECK(reg[0].body == R"({"events":["SHUTDOWN"]})");
  CHECK(reg[0].status == 200);
  const auto sub = lmi.telemetry.subscription();
  REQUIRE(sub.has_value());
  CHECK(sub->schema_version == "2025-01-29");
  CHECK_THAT(sub->uri, Catch::StartsWith("http://sandbox.localdomain:"));
  CHECK(lmi.api.calls_to(Endpoint::InitError).empty());
  CHECK(lmi.api.calls_to(Endpoint::ExitError).empty());

  const auto requests = probe.requests();
  REQUIRE(requests.size() >= 3);
  // The child knows where it runs: the Register answer and the platform.
  const auto& startup = requests.front();
  CHECK(json_string(startup, "platform") == "managed-instances");
  REQUIRE(startup["function"].IsObject());
  CHECK(json_string(startup["function"], "functionName") == "emulated-function");
  CHECK(json_string(startup["function"], "functionVersion") == "$LATEST");
  CHECK(json_string(startup["function"], "accountId") == "123456789012");
  // Telemetry in between, SHUTDOWN last, never an INVOKE.
  size_t records = 0;
  for (size_t i = 1; i + 1 < requests.size(); ++i) {
    CHECK(event_type_of(requests[i]) == "TELEMETRY");
    records += requests[i]["event"]["records"].Size();
  }
  CHECK(records == 2 * 3);
  CHECK(event_type_of(requests.back()) == "SHUTDOWN");
  CHECK(json_string(requests.back()["event"], "shutdownReason") == "spindown");
}

TEST_CASE(
    "managed instances: 4 concurrent invocations x 200 log lines, every record reaches the "
    "child exactly once, SHUTDOWN last (emulate --managed-instances)") {
  Probe probe;
  constexpr int kInvokes = 4, kLines = 200;
  std::string logs;
  for (int i = 0; i < kLines; ++i) logs += (i ? "," : "") + json_quote("line " + std::to_string(i));
  const std::string scenario = probe.dir + "/scenario.json";
  std::ofstream(scenario) << R"({"managedInstances":true,"concurrency":4,"invokes":)" << kInvokes
                          << R"(,"logs":[)" << logs << "]}";
  auto run = run_binary({"emulate", "--json", "--telemetry", "--scenario", scenario, "--runtime",
                         "exec python3 " + probe.script},
                        {{"PROBE_LOG", probe.log},
                         {"EXTENSION_RUNNER_STARTUP_TIMEOUT_MS", "9000"},
                         // Batches 1 s apart, not 25 ms: the emulated platform drops a batch
                         // that is ready while the last one is still being posted, as Lambda
                         // does, and under TSan a POST takes longer than 25 ms (every run here
                         // lost records that way). What this test checks is the extension.
                         {"EXTENSION_RUNNER_BUFFER_TIMEOUT_MS", "1000"}},
                        60000);
  INFO(run.err);
  CHECK(run.status.success());
  CHECK_THAT(run.err, Catch::Contains("logs_dropped_seen=0"));

  const auto requests = probe.requests();
  REQUIRE(requests.size() >= 2);
  CHECK(json_string(requests.front(), "platform") == "managed-instances");
  CHECK(event_type_of(requests.back()) == "SHUTDOWN");
  // Per requestId: platform.start, line 0…199 once each and in order, platform.report last.
  std::map<std::string, std::vector<std::string>> by_request;  // what, in arrival order
  std::vector<std::string> order;                              // requestId of each record
  for (size_t i = 1; i + 1 < requests.size(); ++i) {
    REQUIRE(event_type_of(requests[i]) == "TELEMETRY");
    for (const auto& r : requests[i]["event"]["records"].GetArray()) {
      const std::string type = json_string(r, "type").value_or("");
      if (!r["record"].IsObject()) continue;
      const auto id = json_string(r["record"], "requestId");
      if (!id) continue;  // init records
      order.push_back(*id);
      by_request[*id].push_back(
          type == "function" ? json_string(r["record"], "message").value_or("<altered>") : type);
    }
  }
  REQUIRE(by_request.size() == static_cast<size_t>(kInvokes));
  for (const auto& [id, seen] : by_request) {
    INFO(id);
    REQUIRE(seen.size() == static_cast<size_t>(kLines + 2));
    CHECK(seen.front() == "platform.start");
    CHECK(seen.back() == "platform.report");
    for (int i = 0; i < kLines; ++i)
      CHECK(seen[static_cast<size_t>(i) + 1] == "line " + std::to_string(i));
  }
  // Concurrent: a record of another request arrives between a request's start and its report.
  size_t switches = 0;
  for (size_t i = 1; i < order.size(); ++i) switches += order[i] != order[i - 1] ? 1 : 0;
  CHECK(switches > static_cast<size_t>(kInvokes));
  // The trace names each request once its records reached the child, the summary the rate.
  int request_lines = 0;
  std::string summary;
  for (const auto& l : lines_of(run.out)) {
    auto doc = parse_json(l);
    if (!doc.ok()) continue;
    const auto what = json_string(*doc, "what").value_or("");
    if (what == "request") {
      ++request_lines;
      CHECK_THAT(json_string(*doc, "detail").value_or(""),
                 Catch::Contains(std::to_string(kLines + 2) + " records reached the child"));
    }
    if (what == "summary") summary = json_string(*doc, "detail").value_or("");
    CHECK_FALSE(
        (what == "next" && json_string(*doc, "detail").value_or("").rfind("INVOKE", 0) == 0));
  }
  CHECK(request_lines == kInvokes);
  CHECK_THAT(summary, Catch::Contains("exit code 0"));
  CHECK_THAT(summary, Catch::Contains(std::to_string(kInvokes * (kLines + 2) + 4) +
                                      " records reached the child"));
  CHECK_THAT(summary, Catch::Contains("records/s"));
  CHECK_THAT(summary,
             Catch::Contains(std::to_string(kInvokes) + " requests up to their platform.report"));
}

TEST_CASE(
    "managed instances: a forced INVOKE setting → init/error Extension.ConfigInvalid saying why, "
    "exit 2") {
  ManagedInstances lmi;
  auto run = run_binary({}, {{"AWS_LAMBDA_RUNTIME_API", lmi.api.runtime_api()},
                             {"AWS_LAMBDA_INITIALIZATION_TYPE", kLmi},
                             {"EXTENSION_RUNNER_EVENTS", "INVOKE,SHUTDOWN"}});
  CHECK(run.status.code == 2);
  CHECK_THAT(run.err, Catch::Contains("EXTENSION_RUNNER_EVENTS"));
  const auto reg = lmi.api.calls_to(Endpoint::Register);
  REQUIRE(reg.size() == 1);
  CHECK(reg[0].body == R"({"events":["SHUTDOWN"]})");  // the report's registration is accepted
  const auto errors = lmi.api.calls_to(Endpoint::InitError);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].status == 202);
  CHECK(errors[0].header("Lambda-Extension-Function-Error-Type") == "Extension.ConfigInvalid");
  auto body = parse_json(errors[0].body);
  REQUIRE(body.ok());
  CHECK_THAT(json_string(*body, "errorMessage").value_or(""),
             Catch::Contains("Managed Instances") && Catch::Contains("SHUTDOWN only"));
  CHECK(lmi.api.calls_to(Endpoint::Next).empty());
}

TEST_CASE(
    "managed instances: without the detection an INVOKE registration is refused 403 as AWS "
    "does, exit 1") {
  ManagedInstances lmi;
  auto run = run_binary({}, {{"AWS_LAMBDA_RUNTIME_API", lmi.api.runtime_api()}}, 20000,
                        {"AWS_LAMBDA_INITIALIZATION_TYPE"});
  CHECK(run.status.code == 1);
  CHECK_THAT(run.err, Catch::Contains("Extension.InvalidEventType: INVOKE: ErrorInvalidEventType"));
  const auto reg = lmi.api.calls_to(Endpoint::Register);
  REQUIRE(reg.size() == 1);
  CHECK(reg[0].status == 403);
}

TEST_CASE("managed instances: the Telemetry API validates as Managed Instances do [LMI]") {
  ManagedInstances lmi;
  HttpClient http(lmi.api.runtime_api());
  auto reg = http.send(build_register_request("ext", {"SHUTDOWN"}));
  REQUIRE(reg.ok());
  REQUIRE(reg->status == 200);
  const std::string id = reg->header(kIdentifierHeader);
  const auto put = [&](const std::string& body) {
    HttpRequest r;
    r.method = "PUT";
    r.path = "/2022-07-01/telemetry";
    r.headers = {{"Content-Type", "application/json"}, {kIdentifierHeader, id}};
    r.body = body;
    auto answer = http.send(r);
    REQUIRE(answer.ok());
    return *answer;
  };
  struct Case {
    std::string schema, host;
    long status;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"2022-12-13", "sandbox.localdomain", 400, R"(value must be \"2025-01-29\")"},
      {"2022-07-01", "sandbox", 400, R"(value must be \"2025-01-29\")"},
      {"2025-01-29", "127.0.0.1", 400, "destination.URI host must be sandbox.localdomain"},
      {"2025-01-29", "localhost", 400, "destination.URI host must be sandbox.localdomain"},
      {"2025-01-29", "sandbox", 200, ""},
      {"2025-01-29", "sandbox.localdomain", 500, "already subscribed"},  // twice → 500
  };
  for (const auto& c : cases) {
    INFO(c.schema << " " << c.host);
    const auto answer =
        put(R"({"schemaVersion":")" + c.schema +
            R"(","types":["platform"],"destination":{"protocol":"HTTP","URI":"http://)" + c.host +
            R"(:4243/"}})");
    CHECK(answer.status == c.status);
    CHECK_THAT(answer.body, Catch::Contains(c.message));
  }
  CHECK(lmi.telemetry.subscription()->host == "127.0.0.1");
  HttpRequest logs;
  logs.method = "PUT";
  logs.path = "/2020-08-15/logs";
  logs.headers = {{kIdentifierHeader, id}};
  logs.body =
      R"({"types":["platform"],"destination":{"protocol":"HTTP","URI":"http://sandbox:1/"}})";
  auto no_logs = http.send(logs);
  REQUIRE(no_logs.ok());
  CHECK(no_logs->status == 404);  // no Logs API on Managed Instances
}

TEST_CASE(
    "managed instances: a child written for INVOKE events works shutdown-only "
    "(EXTENSION_RUNNER_EVENTS=SHUTDOWN, the example runner)") {
  Emulator api;
  REQUIRE(api.start().ok());
  const int64_t deadline = wall_clock_ms() + 3000;
  api.push_shutdown("spindown", deadline);
  auto run =
      run_binary({}, {{"AWS_LAMBDA_RUNTIME_API", api.runtime_api()},
                      {"EXTENSION_RUNNER_EVENTS", "SHUTDOWN"},
                      {"EXTENSION_RUNNER_COMMAND",
                       std::string("exec python3 ") + ER_SOURCE_DIR + "/examples/python/runner.py"},
                      {"EXTENSION_RUNNER_STARTUP_TIMEOUT_MS", "9000"}});
  INFO(run.err);
  CHECK(run.status.success());
  CHECK(wall_clock_ms() < deadline);
  const auto reg = api.calls_to(Endpoint::Register);
  REQUIRE(reg.size() == 1);
  CHECK(reg[0].body == R"({"events":["SHUTDOWN"]})");
  CHECK_THAT(run.err, Catch::Contains("config: platform=lambda events=SHUTDOWN "));
  CHECK_THAT(run.err, Catch::Contains("echo handler got SHUTDOWN"));
  CHECK(api.calls_to(Endpoint::ExitError).empty());
}

TEST_CASE("managed instances: emulate refuses what that mode cannot do, exit 2") {
  struct Case {
    std::vector<std::string> args;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{"emulate", "--concurrency", "4"}, "needs --managed-instances"},
      {{"emulate", "--managed-instances", "--events", "INVOKE,SHUTDOWN"}, "SHUTDOWN only"},
      {{"emulate", "--managed-instances", "--telemetry", "--telemetry-schema", "2022-12-13"},
       "2025-01-29 only"},
      {{"emulate", "--managed-instances", "--concurrency", "65"}, "--concurrency"},
  };
  for (const auto& c : cases) {
    INFO(c.expect);
    auto run = run_binary(c.args, {});
    CHECK(run.status.code == 2);
    CHECK_THAT(run.err, Catch::Contains(c.expect));
  }
}
