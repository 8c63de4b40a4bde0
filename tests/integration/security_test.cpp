// README "Security": credentials in the environment never appear in any log line, trace, error
// report or request the host makes. Runs the binary in every mode, on good and failure paths, at
// the most verbose log level in both formats, and greps everything it wrote or sent.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/fake_platform/extensions_api.hpp"
#include "extension_runner/fake_platform/telemetry_api.hpp"
#include "fake_platform.hpp"
#include "support.hpp"

using namespace extension_runner;
using test_support::run_binary;

namespace {

// Values no code path could produce by accident.
const std::map<std::string, std::string> kCredentials = {
    {"AWS_ACCESS_KEY_ID", "ASIAXKEYIDFORTHETEST7"},
    {"AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/secret-for-the-test"},
    {"AWS_SESSION_TOKEN", "IQoJb3JpZ2luX2VjEsession-token-for-the-test"},
    {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-auth-token-for-the-test"},
};

// A child that works, crashes once, and never prints its environment (what a child prints is
// its own business: the host logs a child's stderr as it is).
constexpr const char* kChild = R"PY(
import json, os, sys
proto = os.fdopen(os.dup(1), "w"); os.dup2(2, 1)
sys.stdin.readline()
proto.write(json.dumps({"ok": True}) + "\n"); proto.flush()
for line in sys.stdin:
    req = json.loads(line)
    rid = req["context"]["aws_request_id"]
    if rid == "req-crash":
        os._exit(3)
    print("handled", rid, file=sys.stderr, flush=True)
    proto.write(json.dumps({"result": {"ok": 1}, "errortype": "", "invokeid": rid}) + "\n")
    proto.flush()
)PY";

std::map<std::string, std::string> with_credentials(std::map<std::string, std::string> env) {
  for (const auto& [k, v] : kCredentials) env[k] = v;
  return env;
}

void check_clean(const std::string& what, const std::string& text) {
  INFO(what);
  for (const auto& [name, value] : kCredentials) {
    INFO(name);
    CHECK(text.find(value) == std::string::npos);
  }
}

std::string everything_sent(const Emulator& api) {
  std::string all;
  for (const auto& c : api.calls()) {
    all += c.method + " " + c.path + "\n";
    for (const auto& [k, v] : c.headers) all += k + ": " + v + "\n";
    all += c.body + "\n";
  }
  return all;
}

}  // namespace

TEST_CASE("security: no credential from the environment appears in any output of a run") {
  char tmpl[] = "/tmp/er-security-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string child = dir + "/child.py";
  std::ofstream(child) << kChild;
  const std::string command = "exec python3 " + child;
  const std::string event = dir + "/event.json";
  std::ofstream(event) << R"({"a":1})";

  for (const char* format : {"Text", "JSON"}) {
    INFO("log format " << format);
    test_support::FakePlatform fake;
    auto& api = fake.api;
    auto& telemetry = fake.telemetry;
    REQUIRE(api.start().ok());
    api.push_invoke("req-1", wall_clock_ms() + 5000);
    api.push_invoke("req-crash", wall_clock_ms() + 5000);
    api.push_invoke("req-3", wall_clock_ms() + 5000);
    // Then the API fails: the run ends with an exit/error report.
    api.inject(Endpoint::Next, Fault{500, "Runtime.Unknown", "injected", 1, 3});
    auto run = run_binary({}, with_credentials({{"AWS_LAMBDA_RUNTIME_API", api.runtime_api()},
                                                {"EXTENSION_RUNNER_COMMAND", command},
                                                {"EXTENSION_RUNNER_TELEMETRY", "telemetry"},
                                                {"EXTENSION_RUNNER_LISTEN", "127.0.0.1:0"},
                                                {"EXTENSION_RUNNER_FLUSH", "periodic"},
                                                {"AWS_LAMBDA_LOG_LEVEL", "TRACE"},
                                                {"AWS_LAMBDA_LOG_FORMAT", format}}));
    CHECK(run.status.code == 1);
    CHECK(api.calls_to(Endpoint::ExitError).size() == 1);
    CHECK_THAT(run.err, Catch::Contains("handled req-1"));  // the child's stderr is in the log
    check_clean("lambda mode stdout", run.out);
    check_clean("lambda mode stderr", run.err);
    check_clean("lambda mode requests", everything_sent(api));
    if (auto sub = telemetry.subscription()) check_clean("subscription", sub->body);
  }
  {
    auto run = run_binary({"emulate", "--telemetry", "--json", "--runtime", command},
                          with_credentials({{"AWS_LAMBDA_LOG_LEVEL", "TRACE"}}));
    CHECK(run.status.success());
    check_clean("emulate trace", run.out);
    check_clean("emulate log", run.err);
  }
  {
    auto run = run_binary({"invoke", "--runtime", command, "--event", event},
                          with_credentials({{"AWS_LAMBDA_LOG_LEVEL", "TRACE"}}));
    CHECK(run.status.success());
    check_clean("invoke reply", run.out);
    check_clean("invoke log", run.err);
  }
  {
    // A usage error echoes the bad value; the credentials must still not be in it.
    auto run = run_binary({"--log-level", "LOUD"}, with_credentials({}));
    CHECK(run.status.code == 2);
    check_clean("usage error", run.err);
  }
  (void)!std::system(("rm -rf '" + dir + "'").c_str());
}
