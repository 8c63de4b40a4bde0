// The real binary in Lambda mode with a child runtime, against the in-process emulator.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <future>
#include <string>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/json.hpp"
#include "extension_runner/fake_platform/extensions_api.hpp"
#include "support.hpp"

using namespace extension_runner;
using test_support::lines_of;
using test_support::run_binary;

namespace {

// Appends every line it receives to $PROBE_LOG, then answers; PROBE_MODE picks misbehaviour.
constexpr const char* kProbe = R"PY(
import json, os, sys
log = open(os.environ["PROBE_LOG"], "a")
mode = os.environ.get("PROBE_MODE", "ok")
for line in sys.stdin:
    log.write(line); log.flush()
    msg = json.loads(line)
    if "handler" in msg:
        if mode == "gate":  # the handshake waits until the test opens the FIFO for writing
            open(os.environ["PROBE_GATE"]).close()
        if mode == "refuse":
            print(json.dumps({"ok": False, "error": "handler not found"}), flush=True); sys.exit(1)
        print(json.dumps({"ok": True}), flush=True)
        continue
    if mode == "crash":
        os._exit(2)
    if mode == "hang-first" and not globals().get("hung"):
        hung = True
        import time; time.sleep(3600)
    print(json.dumps({"result": {"ok": 1}, "errortype": "", "invokeid": msg["context"]["aws_request_id"]}), flush=True)
)PY";

struct Fixture {
  Emulator api;
  std::string dir;
  std::string log;
  std::string script;
  Fixture() {
    REQUIRE(api.start().ok());
    char tmpl[] = "/tmp/er-lifecycle-XXXXXX";
    dir = ::mkdtemp(tmpl);
    log = dir + "/requests.log";
    script = dir + "/probe.py";
    std::ofstream(script) << kProbe;
  }
  ~Fixture() { (void)!std::system(("rm -rf '" + dir + "'").c_str()); }
  std::map<std::string, std::string> env(const std::string& mode = "ok") const {
    return {{"AWS_LAMBDA_RUNTIME_API", api.runtime_api()},
            {"EXTENSION_RUNNER_COMMAND", "exec python3 " + script},
            {"EXTENSION_RUNNER_HANDLER", "probe.handle"},
            {"EXTENSION_RUNNER_NAME", "probe-ext"},
            {"EXTENSION_RUNNER_STARTUP_TIMEOUT_MS", "9000"},
            {"EXTENSION_RUNNER_ON_FAILURE", "report"},
            {"PROBE_LOG", log},
            {"PROBE_MODE", mode}};
  }
  std::vector<rapidjson::Document> requests() const {
    return test_support::json_lines_of_file(log);
  }
};

int64_t in_ms(int64_t ms) { return wall_clock_ms() + ms; }

std::string str(const rapidjson::Value& v) {
  return v.IsString() ? v.GetString() : "<not a string>";
}

}  // namespace

TEST_CASE(
    "runner lifecycle: 3 INVOKEs and SHUTDOWN reach the child in order, with context and "
    "deadline") {
  Fixture f;
  std::vector<int64_t> deadlines;
  for (int i = 1; i <= 3; ++i) {
    deadlines.push_back(in_ms(10000 + i));
    f.api.push_invoke("req-" + std::to_string(i), deadlines.back());
  }
  const int64_t shutdown_deadline = in_ms(4000);
  f.api.push_shutdown("spindown", shutdown_deadline);
  auto run = run_binary({}, f.env(), 30000);
  const int64_t exited = wall_clock_ms();
  INFO(run.err);
  CHECK(run.status.success());
  CHECK(exited < shutdown_deadline);
  CHECK(f.api.calls_to(Endpoint::InitError).empty());
  CHECK(f.api.calls_to(Endpoint::ExitError).empty());

  const auto requests = f.requests();
  REQUIRE(requests.size() == 5);
  const auto& startup = requests[0];
  CHECK(str(startup["handler"]) == "probe.handle");
  CHECK(str(startup["name"]) == "probe-ext");
  CHECK(str(startup["mode"]) == "lambda");
  CHECK(startup["version"].GetInt() == 1);
  CHECK(str(startup["platform"]) == "lambda");
  REQUIRE(startup["function"].IsObject());  // the Register answer as received
  CHECK(str(startup["function"]["functionName"]) == "emulated-function");
  CHECK(str(startup["function"]["functionVersion"]) == "$LATEST");
  CHECK(str(startup["function"]["handler"]) == "lambda_function.lambda_handler");
  CHECK(str(startup["function"]["accountId"]) == "123456789012");
  CHECK(str(startup["env"]["AWS_LAMBDA_FUNCTION_NAME"]) == "emulated-function");
  CHECK(str(startup["env"]["AWS_LAMBDA_FUNCTION_VERSION"]) == "$LATEST");
  for (int i = 0; i < 3; ++i) {
    INFO("INVOKE " << i + 1);
    const auto& r = requests[static_cast<size_t>(i) + 1];
    const std::string id = "req-" + std::to_string(i + 1);
    CHECK(str(r["context"]["aws_request_id"]) == id);
    CHECK(str(r["context"]["invoked_function_arn"]) == Emulator::kDefaultArn);
    CHECK(r["context"]["client_context"].IsNull());
    CHECK(r["deadline"].GetInt64() == deadlines[static_cast<size_t>(i)]);
    CHECK(str(r["event"]["eventType"]) == "INVOKE");
    CHECK(str(r["event"]["requestId"]) == id);
    CHECK(r["event"]["deadlineMs"].GetInt64() == deadlines[static_cast<size_t>(i)]);
  }
  const auto& shutdown = requests[4];
  CHECK(str(shutdown["event"]["eventType"]) == "SHUTDOWN");
  CHECK(str(shutdown["event"]["shutdownReason"]) == "spindown");
  CHECK(str(shutdown["context"]["aws_request_id"]).size() == 36);
  CHECK(shutdown["deadline"].GetInt64() < shutdown_deadline);
  CHECK(shutdown["deadline"].GetInt64() > shutdown_deadline - 4000);
}

TEST_CASE("runner lifecycle: a child that refuses to start is init/error ChildStartupFailed") {
  Fixture f;
  f.api.push_invoke("req-1", in_ms(10000));
  auto run = run_binary({}, f.env("refuse"), 30000);
  INFO(run.err);
  CHECK_FALSE(run.status.success());
  const auto errors = f.api.calls_to(Endpoint::InitError);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].header("Lambda-Extension-Function-Error-Type") == "Extension.ChildStartupFailed");
  CHECK_THAT(errors[0].body, Catch::Contains("handler not found"));
}

TEST_CASE("runner lifecycle: a child that keeps crashing is exit/error ChildCrashed") {
  Fixture f;
  for (int i = 1; i <= 5; ++i) f.api.push_invoke("req-" + std::to_string(i), in_ms(10000));
  auto run = run_binary({}, f.env("crash"), 30000);
  INFO(run.err);
  CHECK_FALSE(run.status.success());
  const auto errors = f.api.calls_to(Endpoint::ExitError);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].header("Lambda-Extension-Function-Error-Type") == "Extension.ChildCrashed");
}

TEST_CASE(
    "runner lifecycle: under on-failure continue a child that cannot start or keeps crashing "
    "leaves the function untouched: every event answered, no report, exit 0, the loss counted") {
  struct Case {
    const char* what;
    std::string mode;
    std::map<std::string, std::string> extra;
    const char* error_type;
  };
  const std::vector<Case> cases = {
      {"a missing interpreter",
       "ok",
       {{"EXTENSION_RUNNER_COMMAND", "exec /var/lang/bin/python3-missing probe.py"}},
       "Extension.ChildStartupFailed"},
      {"a child that refuses to start", "refuse", {}, "Extension.ChildStartupFailed"},
      {"a crash-looping child", "crash", {}, "Extension.ChildCrashed"},
      {"a background start that fails",
       "refuse",
       {{"EXTENSION_RUNNER_CHILD_START", "background"}},
       "Extension.ChildStartupFailed"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    Fixture f;
    constexpr int kInvokes = 5;
    for (int i = 1; i <= kInvokes; ++i) f.api.push_invoke("req-" + std::to_string(i), in_ms(10000));
    f.api.push_shutdown("spindown", in_ms(10000));
    auto env = f.env(c.mode);
    env["EXTENSION_RUNNER_ON_FAILURE"] = "continue";
    for (const auto& [key, value] : c.extra) env[key] = value;
    auto run = run_binary({}, env, 30000);
    INFO(run.err);
    CHECK_FALSE(run.timed_out);
    CHECK(run.status.code == 0);
    CHECK(f.api.calls_to(Endpoint::InitError).empty());
    CHECK(f.api.calls_to(Endpoint::ExitError).empty());
    // Every event was fetched: kInvokes INVOKEs and the SHUTDOWN.
    CHECK(f.api.calls_to(Endpoint::Next).size() == kInvokes + 1);
    // One ERROR line says what failed and what is lost; the closing line counts it.
    CHECK_THAT(run.err, Catch::Contains(c.error_type) &&
                            Catch::Contains("EXTENSION_RUNNER_ON_FAILURE=continue"));
    CHECK_THAT(run.err, Catch::Contains("on-failure=continue: failures=1"));
  }
}

TEST_CASE("runner lifecycle: async dispatch keeps fetching events while the child is busy") {
  Fixture f;
  // The child never answers the first INVOKE. With sync dispatch the host would wait for it
  // until its deadline (60 s); with async it fetches every event and shuts down in time.
  for (int i = 1; i <= 3; ++i) f.api.push_invoke("req-" + std::to_string(i), in_ms(60000));
  const int64_t shutdown_deadline = in_ms(2000);
  f.api.push_shutdown("spindown", shutdown_deadline);
  auto env = f.env("hang-first");
  env["EXTENSION_RUNNER_DISPATCH"] = "async";
  auto run = run_binary({}, env, 20000);
  const int64_t exited = wall_clock_ms();
  INFO(run.err);
  CHECK_FALSE(run.timed_out);
  CHECK(run.status.success());
  CHECK(exited < shutdown_deadline);
  CHECK(f.api.calls_to(Endpoint::Next).size() == 4);
  const auto requests = f.requests();
  REQUIRE(requests.size() >= 2);  // startup + the INVOKE it hangs on
  CHECK(str(requests[1]["context"]["aws_request_id"]) == "req-1");
}

TEST_CASE(
    "runner lifecycle: CHILD_START=background calls /next before the handshake; events wait for "
    "it") {
  Fixture f;
  const std::string gate = f.dir + "/gate";
  REQUIRE(::mkfifo(gate.c_str(), 0600) == 0);
  f.api.push_invoke("req-1", in_ms(20000));
  f.api.push_shutdown("spindown", in_ms(20000));
  auto env = f.env("gate");
  env["PROBE_GATE"] = gate;
  env["EXTENSION_RUNNER_CHILD_START"] = "background";
  auto running = std::async(std::launch::async, [&] { return run_binary({}, env, 30000); });
  // The child cannot answer its handshake until the FIFO is opened below, so a /next seen now
  // was called before the handshake completed (with CHILD_START=init it never would be).
  const bool next_first = f.api.wait_until(
      [](const std::vector<RecordedCall>& calls) {
        for (const auto& c : calls) {
          if (c.endpoint == Endpoint::Next) return true;
        }
        return false;
      },
      std::chrono::milliseconds(20000));
  { std::ofstream open_gate(gate); }  // blocks until the child opened its end, then releases it
  auto run = running.get();
  INFO(run.err);
  REQUIRE(next_first);
  CHECK(run.status.success());
  CHECK(f.api.calls_to(Endpoint::InitError).empty());
  CHECK(f.api.calls_to(Endpoint::ExitError).empty());
  const auto requests = f.requests();
  REQUIRE(requests.size() == 3);  // startup, then the INVOKE that waited for it, then SHUTDOWN
  CHECK(requests[0].HasMember("handler"));
  CHECK(str(requests[1]["context"]["aws_request_id"]) == "req-1");
  CHECK(str(requests[2]["event"]["eventType"]) == "SHUTDOWN");
}

TEST_CASE(
    "runner lifecycle: CHILD_START=background turns a startup failure into exit/error at the first "
    "event") {
  struct Case {
    const char* what;
    bool invoke_first;
  };
  const std::vector<Case> cases = {{"first event INVOKE", true}, {"first event SHUTDOWN", false}};
  for (const auto& c : cases) {
    SECTION(c.what) {
      Fixture f;
      if (c.invoke_first) f.api.push_invoke("req-1", in_ms(10000));
      f.api.push_shutdown("spindown", in_ms(10000));
      auto env = f.env("refuse");
      env["EXTENSION_RUNNER_CHILD_START"] = "background";
      auto run = run_binary({}, env, 30000);
      INFO(run.err);
      CHECK_FALSE(run.status.success());
      CHECK(f.api.calls_to(Endpoint::InitError).empty());  // init did not wait for the child
      CHECK(f.api.calls_to(Endpoint::Next).size() == 1);
      const auto errors = f.api.calls_to(Endpoint::ExitError);
      REQUIRE(errors.size() == 1);
      CHECK(errors[0].header("Lambda-Extension-Function-Error-Type") ==
            "Extension.ChildStartupFailed");
      CHECK_THAT(errors[0].body, Catch::Contains("handler not found"));
    }
  }
}
