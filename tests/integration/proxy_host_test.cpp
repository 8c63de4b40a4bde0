// The Runtime API proxy in the real binary (Lambda mode): started before /register, its
// address in $TMPDIR for `wrap`, stopped at SHUTDOWN with its counters line.
#include <fcntl.h>
#include <httplib.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/fd.hpp"
#include "extension_runner/fake_platform/extensions_api.hpp"
#include "support.hpp"

using namespace extension_runner;
using test_support::run_binary;

namespace {

struct Fixture {
  Emulator api;
  std::string dir;
  Fixture() {
    REQUIRE(api.start().ok());
    char tmpl[] = "/tmp/er-proxy-host-XXXXXX";
    dir = ::mkdtemp(tmpl);
  }
  ~Fixture() { (void)!std::system(("rm -rf '" + dir + "'").c_str()); }
  std::string address_file() const { return dir + "/extension-runner-proxy-ext.proxy"; }
  // The child prints the address file it finds at its start (after /register) to the log.
  std::map<std::string, std::string> env(std::map<std::string, std::string> extra) const {
    extra["AWS_LAMBDA_RUNTIME_API"] = api.runtime_api();
    extra["EXTENSION_RUNNER_NAME"] = "proxy-ext";
    extra["TMPDIR"] = dir;
    extra.emplace("EXTENSION_RUNNER_COMMAND",
                  "echo \"address file: $(cat '" + address_file() + "')\" >&2; exec sh " +
                      std::string(ER_SOURCE_DIR) + "/tests/data/shell-child/child.sh");
    return extra;
  }
};

}  // namespace

TEST_CASE("proxy host: the address is written before /register and removed at exit") {
  struct Case {
    std::string mode;
    std::optional<std::string> exec_wrapper;
    bool warned;
  };
  const std::vector<Case> cases = {
      {"observe", "/opt/proxy-ext/wrapper", false},
      {"intercept", std::nullopt, true},
      {"intercept", "/opt/other/wrapper", true},
  };
  for (const auto& c : cases) {
    INFO(c.mode << " " << c.exec_wrapper.value_or("(unset)"));
    Fixture f;
    f.api.push_shutdown("spindown", wall_clock_ms() + 2000);
    std::map<std::string, std::string> extra{{"EXTENSION_RUNNER_PROXY", c.mode}};
    if (c.exec_wrapper) extra["AWS_LAMBDA_EXEC_WRAPPER"] = *c.exec_wrapper;
    auto run = run_binary({}, f.env(extra), 20000,
                          c.exec_wrapper ? std::vector<std::string>{}
                                         : std::vector<std::string>{"AWS_LAMBDA_EXEC_WRAPPER"});
    INFO(run.err);
    CHECK(run.status.success());
    CHECK_THAT(run.err, Catch::Contains("address file: 127.0.0.1:"));
    CHECK_THAT(run.err, Catch::Contains("proxy=" + c.mode));
    CHECK_THAT(run.err, Catch::Contains("proxy: 0 invocations"));
    CHECK(::access(f.address_file().c_str(), F_OK) != 0);
    CHECK(Catch::Contains("AWS_LAMBDA_EXEC_WRAPPER").match(run.err) == c.warned);
  }
}

TEST_CASE("proxy host: proxy off writes no address file") {
  Fixture f;
  f.api.push_shutdown("spindown", wall_clock_ms() + 2000);
  auto run = run_binary({}, f.env({}));
  INFO(run.err);
  CHECK(run.status.success());
  CHECK_THAT(run.err, Catch::Contains("address file: "));
  CHECK_THAT(run.err, !Catch::Contains("address file: 127.0.0.1"));
  CHECK_THAT(run.err, !Catch::Contains("proxy: 0 invocations"));
}

TEST_CASE("proxy host: an address file that cannot be written fails per the failure policy") {
  struct Case {
    std::string on_failure;
    bool init_error;
  };
  for (const auto& c : std::vector<Case>{{"continue", false}, {"report", true}}) {
    INFO(c.on_failure);
    Fixture f;
    f.api.push_shutdown("spindown", wall_clock_ms() + 2000);
    auto env = f.env({{"EXTENSION_RUNNER_PROXY", "observe"},
                      {"EXTENSION_RUNNER_ON_FAILURE", c.on_failure},
                      {"AWS_LAMBDA_EXEC_WRAPPER", "/opt/proxy-ext/wrapper"}});
    env["TMPDIR"] = f.dir + "/missing";
    auto run = run_binary({}, env);
    INFO(run.err);
    CHECK_THAT(run.err, Catch::Contains("cannot write the proxy address file"));
    if (!c.init_error) CHECK_THAT(run.err, Catch::Contains("runs without the Runtime API proxy"));
    CHECK(f.api.calls_to(Endpoint::InitError).size() == (c.init_error ? 1U : 0U));
    CHECK(run.status.success() != c.init_error);
  }
}

TEST_CASE("proxy host: wrap runs the command with the proxy's address, or unchanged") {
  // The command prints the Runtime API it was given and its arguments.
  const std::vector<std::string> print = {
      "--",  "sh",
      "-c",  "echo \"api=$AWS_LAMBDA_RUNTIME_API args=$* msg=$EXTENSION_RUNNER_MESSAGES_URL\"",
      "cmd", "a b",
      "c"};
  struct Case {
    std::string what;
    std::map<std::string, std::string> env;
    bool address_file;
    std::string out;       // stdout, exactly
    std::string err_part;  // in stderr ("" = stderr empty)
    int exit_code;
  };
  const std::string real = "127.0.0.1:9001";
  const std::vector<Case> cases = {
      {"proxy off", {}, true, "api=" + real + " args=a b c msg=\n", "", 0},
      {"proxy on, address written",
       {{"EXTENSION_RUNNER_PROXY", "intercept"}},
       true,
       "api=127.0.0.1:4567 args=a b c msg=\n",
       "",
       0},
      {"proxy on, no address file",
       {{"EXTENSION_RUNNER_PROXY", "observe"}},
       false,
       "api=" + real + " args=a b c msg=\n",
       "no proxy address in",
       0},
      {"a bad setting",
       {{"EXTENSION_RUNNER_PROXY", "sometimes"}},
       true,
       "api=" + real + " args=a b c msg=\n",
       "EXTENSION_RUNNER_PROXY",
       0},
      {"messages on: their URL too, proxy or not",
       {{"EXTENSION_RUNNER_MESSAGES", "on"},
        {"EXTENSION_RUNNER_MESSAGES_LISTEN", "127.0.0.1:8500"}},
       true,
       "api=" + real + " args=a b c msg=http://127.0.0.1:8500/v1/messages\n",
       "",
       0},
      {"messages on an ephemeral port: no URL, said once",
       {{"EXTENSION_RUNNER_MESSAGES", "on"}, {"EXTENSION_RUNNER_MESSAGES_LISTEN", "127.0.0.1:0"}},
       true,
       "api=" + real + " args=a b c msg=\n",
       "is an ephemeral port",
       0},
      {"a next wrapper",
       {{"EXTENSION_RUNNER_PROXY", "observe"}, {"EXTENSION_RUNNER_PROXY_NEXT_WRAPPER", "NEXT"}},
       true,
       "next wrapper\napi=127.0.0.1:4567 args=a b c msg=\n",
       "",
       0},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    Fixture f;
    if (c.address_file)
      std::ofstream(f.dir + "/extension-runner-wrapped.proxy") << "127.0.0.1:4567\n";
    auto env = c.env;
    if (env.count("EXTENSION_RUNNER_PROXY_NEXT_WRAPPER") != 0) {
      const std::string next = f.dir + "/next";
      std::ofstream(next) << "#!/bin/sh\necho next wrapper\nexec \"$@\"\n";
      ::chmod(next.c_str(), 0755);
      env["EXTENSION_RUNNER_PROXY_NEXT_WRAPPER"] = next;
    }
    env["AWS_LAMBDA_RUNTIME_API"] = real;
    env["TMPDIR"] = f.dir;
    env["EXTENSION_RUNNER_NAME"] = "wrapped";
    env["EXTENSION_RUNNER_COMMAND"] = "true";
    std::vector<std::string> args{"wrap"};
    args.insert(args.end(), print.begin(), print.end());
    auto run = run_binary(args, env, 20000, {});
    INFO(run.err);
    CHECK(run.status.code == c.exit_code);
    CHECK(run.out == c.out);
    if (c.err_part.empty()) {
      CHECK(run.err.empty());
    } else {
      CHECK_THAT(run.err, Catch::Contains(c.err_part));
    }
  }
}

TEST_CASE("proxy host: wrap without a command or with one that cannot run fails clearly") {
  struct Case {
    std::vector<std::string> args;
    int exit_code;
    std::string err_part;
  };
  const std::vector<Case> cases = {
      {{"wrap"}, 2, "no command to run"},
      {{"wrap", "--"}, 2, "no command to run"},
      {{"wrap", "--", "/no/such/runtime"}, 127, "cannot execute /no/such/runtime"},
  };
  for (const auto& c : cases) {
    INFO(c.err_part);
    auto run = run_binary(c.args, {{"EXTENSION_RUNNER_NAME", "wrapped"}}, 20000, {});
    CHECK(run.status.code == c.exit_code);
    CHECK_THAT(run.err, Catch::Contains(c.err_part));
  }
}

namespace {

/** What the fake platform's Runtime API side got: POSTs to /response and /error. */
struct RuntimeSide {
  std::mutex mutex;
  std::condition_variable taken;                           ///< An event was handed out.
  std::deque<std::pair<std::string, std::string>> events;  // request id, body
  std::vector<std::pair<std::string, std::string>> posts;  // path, body
};

// The function's Runtime API on the Extensions API emulator's server (one AWS_LAMBDA_RUNTIME_API
// serves both, as in Lambda); a /next without a queued event is answered 500 at once.
void add_runtime_routes(Emulator& api, RuntimeSide& side) {
  api.server().Get("/2018-06-01/runtime/invocation/next", [&side](const httplib::Request&,
                                                                  httplib::Response& res) {
    std::lock_guard<std::mutex> lock(side.mutex);
    if (side.events.empty()) {
      res.status = 500;
      return;
    }
    auto [id, body] = side.events.front();
    side.events.pop_front();
    side.taken.notify_all();
    res.set_header("Lambda-Runtime-Aws-Request-Id", id);
    res.set_header("Lambda-Runtime-Deadline-Ms", std::to_string(wall_clock_ms() + 20000));
    res.set_content(body, "application/json");
  });
  api.server().Post(R"(/2018-06-01/runtime/invocation/.*)",
                    [&side](const httplib::Request& req, httplib::Response& res) {
                      std::lock_guard<std::mutex> lock(side.mutex);
                      side.posts.emplace_back(req.path, req.body);
                      res.status = 202;
                      res.set_content(R"({"status":"OK"})", "application/json");
                    });
}

/** A started fake platform whose Runtime API hands out `events`, and a folder removed at the end.
 */
struct FakeFunction {
  using Events = std::deque<std::pair<std::string, std::string>>;  ///< Request id, body.
  RuntimeSide side;
  Emulator api;  ///< After `side`, whose routes it serves: stopped first.
  std::string dir;
  explicit FakeFunction(Events events) {
    side.events = std::move(events);
    add_runtime_routes(api, side);
    REQUIRE(api.start().ok());
    char tmpl[] = "/tmp/er-proxy-host-XXXXXX";
    dir = ::mkdtemp(tmpl);
  }
  ~FakeFunction() { (void)!std::system(("rm -rf '" + dir + "'").c_str()); }
  FakeFunction(const FakeFunction&) = delete;
  FakeFunction& operator=(const FakeFunction&) = delete;
};

/** The environment of an extension named proxy-ext with the proxy on, whose child runs `child`. */
std::map<std::string, std::string> proxy_env(const Emulator& api, const std::string& dir,
                                             const std::string& child, const std::string& proxy,
                                             const std::string& fail, const std::string& timeout) {
  return {
      {"AWS_LAMBDA_RUNTIME_API", api.runtime_api()},
      {"EXTENSION_RUNNER_NAME", "proxy-ext"},
      {"TMPDIR", dir},
      {"AWS_LAMBDA_EXEC_WRAPPER", "/opt/proxy-ext/wrapper"},
      {"EXTENSION_RUNNER_COMMAND", "exec python3 " + std::string(ER_SOURCE_DIR) + "/" + child},
      {"EXTENSION_RUNNER_PROXY", proxy},
      {"EXTENSION_RUNNER_PROXY_FAIL", fail},
      {"EXTENSION_RUNNER_PROXY_HOOK_TIMEOUT_MS", timeout},
  };
}

struct WrappedRun {
  test_support::RunResult host;
  test_support::RunResult runtime;
};

/**
 * The host on a thread, then, once it waits in /next (its child started, the address file
 * written), tests/data/proxy-child/runtime.py through `wrap` on another. Joins both when it
 * goes, so a failed REQUIRE cannot leave a thread running; each run has its own time limit.
 */
class WrappedFunction {
 public:
  WrappedFunction(Emulator& api, const std::map<std::string, std::string>& env,
                  int runtime_timeout_ms) {
    host_thread_ = std::thread([this, env] { run_.host = run_binary({}, env, 30000); });
    host_waiting_ = api.wait_for_idle_next(std::chrono::seconds(20));
    if (!host_waiting_) return;
    runtime_thread_ = std::thread([this, env, runtime_timeout_ms] {
      run_.runtime = run_binary({"wrap", "--", "python3",
                                 std::string(ER_SOURCE_DIR) + "/tests/data/proxy-child/runtime.py"},
                                env, runtime_timeout_ms, {});
    });
  }
  ~WrappedFunction() {
    join_runtime();
    join_host();
  }
  WrappedFunction(const WrappedFunction&) = delete;
  WrappedFunction& operator=(const WrappedFunction&) = delete;

  /** Whether the host reached its /next, so that the runtime was started. */
  bool host_waiting() const { return host_waiting_; }
  const WrappedRun& join_runtime() {
    if (runtime_thread_.joinable()) runtime_thread_.join();
    return run_;
  }
  const WrappedRun& join_host() {
    if (host_thread_.joinable()) host_thread_.join();
    return run_;
  }

 private:
  WrappedRun run_;
  bool host_waiting_ = false;
  std::thread host_thread_;
  std::thread runtime_thread_;
};

/**
 * A WrappedFunction run to its end, then SHUTDOWN: the observe copies reach the child after the
 * response, and SHUTDOWN drains them.
 */
WrappedRun run_wrapped_runtime(Emulator& api, const std::map<std::string, std::string>& env) {
  WrappedFunction fn(api, env, 20000);
  fn.join_runtime();
  api.push_shutdown("spindown", wall_clock_ms() + 3000);
  WrappedRun run = fn.join_host();
  REQUIRE(fn.host_waiting());
  return run;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("proxy host: a runtime started through wrap goes through the proxy to the child") {
  struct Case {
    std::string what, proxy, fail, child_mode;
    std::string runtime_got;    // in the runtime's output
    std::string platform_path;  // the first POST the platform got ends with
    std::string platform_body;  // ... and holds
    std::string handles = {};   // the child's startup `handles`; empty: it does not say
  };
  const std::vector<Case> cases = {
      {"observe", "observe", "open", "replace", "event r1 {\"apply\":true}", "r1/response",
       R"({"echo": {"apply": true}})"},
      {"intercept, hook passes", "intercept", "open", "null", "event r1 {\"apply\":true}",
       "r1/response", R"("echo")"},
      {"intercept, replace", "intercept", "open", "replace", "event r1 {\"replaced\":true}",
       "r1/response", R"({"echo": {"replaced": true}})"},
      {"intercept, respond", "intercept", "open", "respond", "event r2 {\"order\":2}",
       "r1/response", "by the extension"},
      {"intercept, reject", "intercept", "open", "reject", "event r2 {\"order\":2}", "r1/error",
       "not allowed"},
      {"fail open, crash", "intercept", "open", "crash", "event r1 {\"apply\":true}", "r1/response",
       "echo"},
      {"fail open, garbage", "intercept", "open", "garbage", "event r1 {\"apply\":true}",
       "r1/response", "echo"},
      // The next event's hook meets the killed child's restart within 300 ms, or not: the
      // runtime's outcome is left open.
      {"fail closed, slow", "intercept", "closed", "slow", "", "r1/error",
       "Extension.ProxyHookFailed"},
      {"fail closed, crash", "intercept", "closed", "crash", "event r2 {\"order\":2}", "r1/error",
       "Extension.ProxyHookFailed"},
      // It would replace the event, were its REQUEST hook asked; it said it has none.
      {"intercept, the child handles RESPONSE only", "intercept", "open", "replace",
       "event r1 {\"apply\":true}", "r1/response", R"({"echo": {"apply": true}})", "RESPONSE"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    FakeFunction fn(FakeFunction::Events{{"r1", R"({"apply":true})"}, {"r2", R"({"order":2})"}});
    RuntimeSide& side = fn.side;
    Emulator& api = fn.api;
    const std::string& dir = fn.dir;
    const std::string log = dir + "/child.log";
    // Short only where the hook is to time out: a crashed child's restart must fit the next
    // event's hook on a loaded machine.
    auto env = proxy_env(api, dir, "tests/data/proxy-child/child.py", c.proxy, c.fail,
                         c.child_mode == "slow" ? "300" : "10000");
    env["PROXY_CHILD_MODE"] = c.child_mode;
    if (!c.handles.empty()) env["PROXY_CHILD_HANDLES"] = c.handles;
    env["PROXY_CHILD_LOG"] = log;
    auto [host, runtime] = run_wrapped_runtime(api, env);
    INFO("runtime: " << runtime.out << runtime.err);
    INFO("host: " << host.err);
    CHECK_THAT(runtime.out, !Catch::Contains("runtime api=" + api.runtime_api()));
    if (!c.runtime_got.empty()) {
      CHECK(runtime.status.success());
      CHECK_THAT(runtime.out, Catch::Contains(c.runtime_got));
    }
    CHECK(host.status.success());
    if (c.what == "intercept, hook passes") {
      // The counters line bills the hooks the child answered, as the host timed them.
      const auto at = host.err.find(" ms billed (");
      REQUIRE(at != std::string::npos);
      const auto from = host.err.rfind(' ', at - 1) + 1;
      CHECK(std::stod(host.err.substr(from, at - from)) > 0);
    }
    std::vector<std::pair<std::string, std::string>> posts;
    {
      std::lock_guard<std::mutex> lock(side.mutex);
      posts = side.posts;
    }
    REQUIRE_FALSE(posts.empty());
    CHECK_THAT(posts[0].first, Catch::EndsWith(c.platform_path));
    CHECK_THAT(posts[0].second, Catch::Contains(c.platform_body));
    const std::string child_log = read_file(log);
    if (!c.handles.empty()) {
      CHECK_THAT(child_log, !Catch::Contains(R"("eventType": "REQUEST")"));
      CHECK_THAT(child_log, Catch::Contains(R"("eventType": "RESPONSE")"));
    } else if (c.child_mode != "crash") {
      CHECK_THAT(child_log, Catch::Contains(R"("eventType": "REQUEST")"));
      CHECK_THAT(child_log, Catch::Contains(R"("requestId": "r1")"));
    }
    if (c.proxy == "observe") CHECK_THAT(child_log, Catch::Contains(R"("eventType": "RESPONSE")"));
  }
}

TEST_CASE(
    "proxy host: on Lambda the extension asks for its next event once the invocation's copies "
    "reached the child") {
  struct Case {
    std::string what;
    std::string handles;  // the child's startup `handles`; empty: it does not say
    bool gets_invoke;     // the child is sent the INVOKE event
  };
  const std::vector<Case> cases = {
      {"a child that does not say what it handles", "", true},
      {"a child with REQUEST and RESPONSE handlers only", "REQUEST,RESPONSE", false},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    FakeFunction fn(FakeFunction::Events{{"r1", R"({"order":1})"}});
    RuntimeSide& side = fn.side;
    Emulator& api = fn.api;
    const std::string& dir = fn.dir;
    const std::string log = dir + "/child.log";
    auto env = proxy_env(api, dir, "tests/data/proxy-child/child.py", "observe", "open", "10000");
    env["PROXY_CHILD_MODE"] = "slow-copy";  // 300 ms over the RESPONSE copy
    env["PROXY_CHILD_LOG"] = log;
    if (!c.handles.empty()) env["PROXY_CHILD_HANDLES"] = c.handles;
    env["RUNTIME_KEEP_ALIVE"] = "1";  // its connection stays open: no end seen before /response
    WrappedFunction running(api, env, 20000);
    REQUIRE(running.host_waiting());
    {
      // As on Lambda: the runtime already asked (through the proxy) when the invocation starts.
      std::unique_lock<std::mutex> lock(side.mutex);
      REQUIRE(
          side.taken.wait_for(lock, std::chrono::seconds(20), [&] { return side.events.empty(); }));
    }
    api.push_invoke("r1", wall_clock_ms() + 20000);
    running.join_runtime();
    // Back in /next after the INVOKE: by then the slow RESPONSE copy was answered.
    const bool back = api.wait_for_idle_next(std::chrono::seconds(20));
    const std::string child_log = read_file(log);
    api.push_shutdown("spindown", wall_clock_ms() + 3000);
    const auto& [host, runtime] = running.join_host();
    INFO("runtime: " << runtime.out << runtime.err);
    INFO("host: " << host.err);
    INFO("child log: " << child_log);
    REQUIRE(back);
    CHECK(runtime.status.success());
    CHECK(host.status.success());
    CHECK_THAT(child_log, Catch::Contains(R"("eventType": "REQUEST")"));
    CHECK_THAT(child_log, Catch::Contains(R"({"done": "RESPONSE"})"));
    CHECK(child_log.find(R"("eventType": "REQUEST")") <
          child_log.find(R"("eventType": "RESPONSE")"));
    CHECK((child_log.find(R"("eventType": "INVOKE")") != std::string::npos) == c.gets_invoke);
  }
}

TEST_CASE("proxy host: SHUTDOWN while a hook holds an invocation ends everything in time") {
  FakeFunction fn(FakeFunction::Events{{"r1", R"({"apply":true})"}});
  Emulator& api = fn.api;
  const std::string& dir = fn.dir;
  std::map<std::string, std::string> env = {
      {"AWS_LAMBDA_RUNTIME_API", api.runtime_api()},
      {"EXTENSION_RUNNER_NAME", "proxy-ext"},
      {"TMPDIR", dir},
      {"AWS_LAMBDA_EXEC_WRAPPER", "/opt/proxy-ext/wrapper"},
      {"EXTENSION_RUNNER_COMMAND",
       "exec python3 " + std::string(ER_SOURCE_DIR) + "/tests/data/proxy-child/child.py"},
      {"EXTENSION_RUNNER_PROXY", "intercept"},
      {"EXTENSION_RUNNER_PROXY_HOOK_TIMEOUT_MS", "60000"},
      {"PROXY_CHILD_MODE", "slow"},
      {"PROXY_CHILD_LOG", dir + "/child.log"},
      {"PROXY_CHILD_SIGNAL", dir + "/held"},
  };
  const std::string fifo = dir + "/held";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  WrappedFunction running(api, env, 30000);
  REQUIRE(running.host_waiting());
  // The child writes to the FIFO once its hook holds the invocation.
  {
    Fd held(::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    REQUIRE(held.valid());
    pollfd p{held.get(), POLLIN, 0};
    REQUIRE(::poll(&p, 1, 20000) == 1);
  }
  api.push_shutdown("spindown", wall_clock_ms() + 2000);
  running.join_host();
  const auto& [host, runtime] = running.join_runtime();
  INFO("host: " << host.err);
  INFO("runtime: " << runtime.out << runtime.err);
  CHECK_FALSE(host.timed_out);
  CHECK(host.status.success());
  // The held hook is cancelled (a failed hook, failing open) instead of keeping the host past
  // the SHUTDOWN deadline; the runtime's connection is closed.
  CHECK_THAT(host.err, Catch::Contains("hooks 1 calls, 1 failed (1 open, 0 closed)"));
  CHECK_THAT(host.err, Catch::Contains("shutting down"));
  CHECK_FALSE(runtime.timed_out);
  CHECK(::access((dir + "/extension-runner-proxy-ext.proxy").c_str(), F_OK) != 0);
}

TEST_CASE("proxy host: SDK hooks through wrap: the guard example, and a hook that raises") {
  // examples/redactor/guard.py as the child: its validator rejects an event without "tenant"
  // (the runtime never sees it and gets the next one), its redactor masks "ssn" in the response
  // (runtime.py answers {"echo": <event>}). A hook that raises has failed: the fail policy
  // decides, the exception never becomes the function's error.
  struct Case {
    std::string what;
    std::deque<std::pair<std::string, std::string>> events;
    std::string runtime_got;                                    // in the runtime's output
    std::vector<std::pair<std::string, std::string>> platform;  // each POST: path end, body part
    std::string child = "examples/redactor/guard.py";
    std::string fail = "closed";
    std::string hooks_failed = " 0 failed";
  };
  const std::string raising = "tests/data/proxy-child/raising_hook.py";
  const std::vector<Case> cases = {
      {"a response field is masked",
       {{"r1", R"({"tenant":"t1","ssn":"123-45-6789"})"}},
       "event r1 {\"tenant\":\"t1\",\"ssn\":\"123-45-6789\"}",
       {{"r1/response", R"({"echo":{"tenant":"t1","ssn":"***"}})"}}},
      {"an event lacking the field is rejected",
       {{"r1", R"({"ssn":"123-45-6789"})"}, {"r2", R"({"tenant":"t2","ssn":"987-65-4321"})"}},
       "event r2 {\"tenant\":\"t2\",\"ssn\":\"987-65-4321\"}",
       {{"r1/error",
         R"({"errorType":"Validation.MissingField","errorMessage":"the event has no \"tenant\" field"})"},
        {"r2/response", R"({"echo":{"tenant":"t2","ssn":"***"}})"}}},
      {"a hook that raises fails open: the original response goes through",
       {{"r1", R"({"ssn":"1"})"}},
       "event r1",
       {{"r1/response", R"({"echo": {"ssn": "1"}})"}},  // the runtime's own bytes
       raising,
       "open",
       "1 failed (1 open, 0 closed)"},
      {"a hook that raises fails closed: Extension.ProxyHookFailed",
       {{"r1", R"({"ssn":"1"})"}},
       "event r1",
       {{"r1/error", R"("errorType":"Extension.ProxyHookFailed")"}},
       raising,
       "closed",
       "1 failed (0 open, 1 closed)"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    FakeFunction fn(c.events);
    RuntimeSide& side = fn.side;
    Emulator& api = fn.api;
    const std::string& dir = fn.dir;
    // The guard fails closed: a hook that did not run can never look like a forwarded original.
    const auto [host, runtime] =
        run_wrapped_runtime(api, proxy_env(api, dir, c.child, "intercept", c.fail, "10000"));
    INFO("runtime: " << runtime.out << runtime.err);
    INFO("host: " << host.err);
    CHECK(runtime.status.success());
    CHECK_THAT(runtime.out, Catch::Contains(c.runtime_got));
    if (c.child == "examples/redactor/guard.py") {
      CHECK_THAT(runtime.out, !Catch::Contains("event r1 {\"ssn\""));
    }
    CHECK(host.status.success());
    CHECK_THAT(host.err, Catch::Contains(c.hooks_failed));
    std::vector<std::pair<std::string, std::string>> posts;
    {
      std::lock_guard<std::mutex> lock(side.mutex);
      posts = side.posts;
    }
    REQUIRE(posts.size() == c.platform.size());
    for (size_t i = 0; i < posts.size(); ++i) {
      CHECK_THAT(posts[i].first, Catch::EndsWith(c.platform[i].first));
      CHECK_THAT(posts[i].second, Catch::Contains(c.platform[i].second));
    }
  }
}

TEST_CASE("proxy host: a REQUEST/RESPONSE handler with the proxy off is a warning") {
  // The SDK's StartupResponse lists the handlers (`handles`); only the proxy feeds these two.
  struct Case {
    std::string proxy;
    bool warned;
  };
  const std::string warning =
      "the child has a REQUEST handler that will never run: the Runtime API proxy is off";
  for (const auto& c : std::vector<Case>{{"off", true}, {"intercept", false}}) {
    INFO(c.proxy);
    Fixture f;
    f.api.push_shutdown("spindown", wall_clock_ms() + 2000);
    auto env = f.env({{"EXTENSION_RUNNER_PROXY", c.proxy},
                      {"AWS_LAMBDA_EXEC_WRAPPER", "/opt/proxy-ext/wrapper"},
                      {"EXTENSION_RUNNER_COMMAND", "exec python3 " + std::string(ER_SOURCE_DIR) +
                                                       "/examples/redactor/guard.py"}});
    auto run = run_binary({}, env);
    INFO(run.err);
    CHECK(run.status.success());
    CHECK(Catch::Contains(warning).match(run.err) == c.warned);
    CHECK(run.err.find(warning) == run.err.rfind(warning));
    CHECK(Catch::Contains("will never run").match(run.err) == c.warned);
  }
}
