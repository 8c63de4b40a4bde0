// docs/faults.md, child-runtime and host rows that need the whole binary: startup failures,
// a child that ignores SIGTERM, SHUTDOWN deadlines already (nearly) past, signals to the host,
// running out of file descriptors, extreme but valid settings.
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/fake_platform/extensions_api.hpp"
#include "extension_runner/fake_platform/telemetry_api.hpp"
#include "fake_platform.hpp"
#include "host_probe.hpp"
#include "support.hpp"

using namespace extension_runner;
using std::chrono::milliseconds;
using test_support::run_binary;

namespace {

// Logs "pids <self> <grandchild>" at start; PROBE_MODE picks misbehaviour. SIGTERM is ignored
// by it and (inherited across exec) by its grandchild, so only SIGKILL ends them.
constexpr const char* kProbe = R"PY(
import json, os, signal, subprocess, sys, time
log = open(os.environ["PROBE_LOG"], "a", buffering=1)
mode = os.environ.get("PROBE_MODE", "ok")
signal.signal(signal.SIGTERM, signal.SIG_IGN)
grandchild = subprocess.Popen(["sleep", "600"])
log.write("pids %d %d\n" % (os.getpid(), grandchild.pid))
sys.stdin.readline()
if mode == "silent-startup":
    time.sleep(600)
print(json.dumps({"ok": True}), flush=True)
for line in sys.stdin:
    msg = json.loads(line)
    print(json.dumps({"result": None, "errortype": "", "invokeid": msg["context"]["aws_request_id"]}), flush=True)
    if msg["event"].get("eventType") == "SHUTDOWN":
        log.write("shutdown\n")
        while mode == "ignore-term":
            time.sleep(1)
)PY";

int64_t in_ms(int64_t ms) { return wall_clock_ms() + ms; }

struct Fixture : test_support::FakePlatform {
  std::string dir, log, script;
  Fixture() {
    REQUIRE(api.start().ok());
    char tmpl[] = "/tmp/er-faults-XXXXXX";
    dir = ::mkdtemp(tmpl);
    log = dir + "/probe.log";
    script = dir + "/probe.py";
    std::ofstream(script) << kProbe;
  }
  ~Fixture() { (void)!std::system(("rm -rf '" + dir + "'").c_str()); }
  std::map<std::string, std::string> env(const std::string& mode = "ok",
                                         std::map<std::string, std::string> extra = {}) const {
    extra["AWS_LAMBDA_RUNTIME_API"] = api.runtime_api();
    extra.emplace("EXTENSION_RUNNER_COMMAND", "exec python3 " + script);
    extra["EXTENSION_RUNNER_NAME"] = "probe-ext";
    extra["PROBE_LOG"] = log;
    extra["PROBE_MODE"] = mode;
    // Unless a test says otherwise, failures are reported (init/error, exit/error).
    extra.emplace("EXTENSION_RUNNER_ON_FAILURE", "report");
    return extra;
  }
  /** The child's and its grandchild's pids, from every start. */
  std::vector<pid_t> pids() const {
    std::ifstream in(log);
    std::vector<pid_t> out;
    for (std::string line; std::getline(in, line);) {
      std::istringstream words(line);
      std::string what;
      pid_t a = 0, b = 0;
      if (words >> what >> a >> b && what == "pids") {
        out.push_back(a);
        out.push_back(b);
      }
    }
    return out;
  }
  std::string accepted_report() const {
    for (auto endpoint : {Endpoint::InitError, Endpoint::ExitError}) {
      for (const auto& c : api.calls_to(endpoint)) {
        if (c.status == 202) return c.header("Lambda-Extension-Function-Error-Type");
      }
    }
    return "";
  }
};

void check_all_gone(const std::vector<pid_t>& pids) {
  for (pid_t pid : pids) {
    INFO("pid " << pid);
    CHECK(test_support::process_gone(pid));
  }
}

}  // namespace

TEST_CASE("faults: a child that fails its startup is init/error ChildStartupFailed, exit 1") {
  struct Case {
    std::string what;
    std::string mode;
    std::map<std::string, std::string> extra;
  };
  const std::vector<Case> cases = {
      {"command not found", "ok", {{"EXTENSION_RUNNER_COMMAND", "exec /nonexistent/runtime"}}},
      {"crashes at startup", "ok", {{"EXTENSION_RUNNER_COMMAND", "echo boom >&2; exit 3"}}},
      {"never answers the startup request",
       "silent-startup",
       {{"EXTENSION_RUNNER_STARTUP_TIMEOUT_MS", "300"}}},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    Fixture f;
    f.api.push_invoke("req-1", in_ms(5000));
    auto run = run_binary({}, f.env(c.mode, c.extra), 30000);
    INFO(run.err);
    CHECK_FALSE(run.timed_out);
    CHECK(run.status.code == 1);
    CHECK(f.accepted_report() == "Extension.ChildStartupFailed");
    CHECK(f.api.calls_to(Endpoint::Next).empty());
    check_all_gone(f.pids());
  }
}

TEST_CASE("faults: SHUTDOWN with a child that ignores SIGTERM and stdin EOF: killed in budget") {
  Fixture f;
  f.api.push_invoke("req-1", in_ms(5000));
  const int64_t deadline = in_ms(2500);
  f.api.push_shutdown("spindown", deadline);
  auto run = run_binary({}, f.env("ignore-term"), 30000);
  const int64_t exited = wall_clock_ms();
  INFO(run.err);
  CHECK(run.status.success());
  CHECK(exited < deadline);  // Lambda would SIGKILL at the deadline [EXT]
  const auto pids = f.pids();
  REQUIRE(pids.size() == 2);
  check_all_gone(pids);
}

TEST_CASE("faults: a SHUTDOWN whose deadline is past or 50 ms away still ends cleanly") {
  for (int64_t budget : {int64_t{-1000}, int64_t{0}, int64_t{50}}) {
    INFO("SHUTDOWN deadline in " << budget << " ms");
    Fixture f;
    f.api.push_invoke("req-1", in_ms(5000));
    // Idle again after the INVOKE: only then is the SHUTDOWN queued, so its deadline is
    // `budget` from when the host receives it.
    std::thread pusher([&] {
      if (f.api.wait_for_idle_next(milliseconds(20000))) {
        f.api.push_shutdown("timeout", in_ms(budget));
      }
    });
    auto run = run_binary({}, f.env("ignore-term"), 30000);
    pusher.join();
    INFO(run.err);
    CHECK_FALSE(run.timed_out);
    CHECK(run.status.success());
    check_all_gone(f.pids());
  }
}

TEST_CASE("faults: SIGTERM or SIGINT to the host ends it and the child's whole process group") {
  for (int sig : {SIGTERM, SIGINT}) {
    INFO("signal " << sig);
    Fixture f;
    SpawnOptions o;
    o.argv = {test_support::binary_path()};
    o.set_env = f.env();
    o.pipe_stdin = false;
    auto host = ChildProcess::spawn(o);
    REQUIRE(host.ok());
    test_support::Drain out(std::move(host->stdout_fd()));
    test_support::Drain err(std::move(host->stderr_fd()));
    // Idle on /next: init is over, the child and its grandchild run.
    REQUIRE(f.api.wait_for_idle_next(milliseconds(20000)));
    const auto pids = f.pids();
    REQUIRE(pids.size() == 2);
    ::kill(host->pid(), sig);
    auto status = host->wait_for(milliseconds(10000));
    INFO(err.take());
    REQUIRE(status.has_value());
    CHECK(status->signaled);
    CHECK(status->code == sig);
    check_all_gone(pids);
  }
}

TEST_CASE("faults: out of file descriptors is a clear error, never a crash") {
  // From "cannot even start" to "enough": every limit ends in exit 0 or 1, never a signal or a
  // hang, and a failure names its cause.
  for (int limit : {6, 8, 10, 12, 14, 16, 18, 20, 24, 32, 64}) {
    INFO("ulimit -n " << limit);
    Fixture f;
    f.api.push_invoke("req-1", in_ms(5000));
    f.api.push_shutdown("spindown", in_ms(3000));
    SpawnOptions o;
    o.argv = {"/bin/sh", "-c", "ulimit -n " + std::to_string(limit) + " && exec \"$0\"",
              test_support::binary_path()};
    o.set_env = f.env("ok", {{"EXTENSION_RUNNER_TELEMETRY", "telemetry"},
                             {"EXTENSION_RUNNER_LISTEN", "127.0.0.1:0"},
                             {"EXTENSION_RUNNER_FLUSH", "periodic"}});
    if (test_support::kSanitized) {
      // UBSan's vptr check needs a pipe to probe memory: out of fds it reports valid objects.
      const char* ubsan = std::getenv("UBSAN_OPTIONS");
      o.set_env["UBSAN_OPTIONS"] = std::string(ubsan != nullptr ? ubsan : "") +
                                   ":suppressions=" + ER_SOURCE_DIR +
                                   "/tests/ubsan-fd-exhaustion.supp";
    }
    o.pipe_stdin = false;
    auto host = ChildProcess::spawn(o);
    REQUIRE(host.ok());
    test_support::Drain out(std::move(host->stdout_fd()));
    test_support::Drain err(std::move(host->stderr_fd()));
    auto status = host->wait_for(milliseconds(30000));
    if (!status) {
      host->signal_group(SIGKILL);
      host->wait();
    }
    const std::string log = err.take();
    INFO(log);
    REQUIRE(status.has_value());
    CHECK_FALSE(status->signaled);
    CHECK((status->code == 0 || status->code == 1));
    if (status->code != 0) {
      CHECK_THAT(log, Catch::Contains("Too many open files") ||
                          Catch::Contains("Couldn't connect") || Catch::Contains("cannot bind"));
    }
    check_all_gone(f.pids());
  }
}

TEST_CASE("faults: extreme but valid settings run a whole lifecycle") {
  const std::vector<std::map<std::string, std::string>> cases = {
      {{"EXTENSION_RUNNER_MAX_MESSAGE_BYTES", "1073741824"},
       {"EXTENSION_RUNNER_QUEUE_MAX_RECORDS", "10000000"},
       {"EXTENSION_RUNNER_QUEUE_MAX_BYTES", "4294967296"},
       {"EXTENSION_RUNNER_BUFFER_MAX_ITEMS", "10000"},
       {"EXTENSION_RUNNER_BUFFER_MAX_BYTES", "1048576"},
       {"EXTENSION_RUNNER_BUFFER_TIMEOUT_MS", "30000"},
       {"EXTENSION_RUNNER_MAX_CRASHES", "1000"},
       {"EXTENSION_RUNNER_STARTUP_TIMEOUT_MS", "9000"}},
      {{"EXTENSION_RUNNER_MAX_MESSAGE_BYTES", "1024"},
       {"EXTENSION_RUNNER_QUEUE_MAX_RECORDS", "1"},
       {"EXTENSION_RUNNER_QUEUE_MAX_BYTES", "65536"},
       {"EXTENSION_RUNNER_BUFFER_MAX_ITEMS", "1000"},
       {"EXTENSION_RUNNER_BUFFER_MAX_BYTES", "262144"},
       {"EXTENSION_RUNNER_BUFFER_TIMEOUT_MS", "25"},
       {"EXTENSION_RUNNER_MAX_CRASHES", "1"},
       {"EXTENSION_RUNNER_STARTUP_TIMEOUT_MS", "100"}},
  };
  for (const auto& settings : cases) {
    INFO(
        "EXTENSION_RUNNER_MAX_MESSAGE_BYTES=" << settings.at("EXTENSION_RUNNER_MAX_MESSAGE_BYTES"));
    Fixture f;
    for (int i = 1; i <= 3; ++i) f.api.push_invoke("req-" + std::to_string(i), in_ms(5000));
    f.api.push_shutdown("spindown", in_ms(3000));
    auto env = f.env("ok", settings);
    env["EXTENSION_RUNNER_TELEMETRY"] = "telemetry";
    env["EXTENSION_RUNNER_LISTEN"] = "127.0.0.1:0";
    env["EXTENSION_RUNNER_FLUSH"] = "periodic";
    env["EXTENSION_RUNNER_STARTUP_TIMEOUT_MS"] = "9000";  // python needs more than 100 ms
    auto run = run_binary({}, env, 30000);
    INFO(run.err);
    CHECK(run.status.success());
    CHECK(f.accepted_report().empty());
    CHECK(f.api.calls_to(Endpoint::Next).size() == 4);
    check_all_gone(f.pids());
  }
}
