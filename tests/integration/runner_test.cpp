#include <dirent.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/json.hpp"
#include "extension_runner/core/log.hpp"
#include "extension_runner/runner/child_invoker.hpp"
#include "host_probe.hpp"
#include "support.hpp"

using namespace extension_runner;

namespace {

// A probe child in Python: its startup behaviour comes from PROBE_STARTUP, its per-request
// behaviour from the event's "do" field. Protocol output goes to a dup of fd 1; fd 1 is stderr.
constexpr const char* kProbe = R"PY(
import json, os, subprocess, sys, time
proto = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
def send(obj):
    proto.write(json.dumps(obj) + "\n"); proto.flush()
startup = json.loads(sys.stdin.readline())
mode = os.environ.get("PROBE_STARTUP", "ok")
if mode == "refuse":
    send({"ok": False, "error": "cannot load handler " + startup["handler"]}); sys.exit(1)
if mode == "silent":
    time.sleep(60)
if mode == "exit":
    print("ImportError: no module named nope", file=sys.stderr); sys.exit(4)
send({"ok": True})
for line in sys.stdin:
    req = json.loads(line)
    ev, rid = req["event"], req["context"]["aws_request_id"]
    do = ev.get("do") if isinstance(ev, dict) else None
    result = {"echo": ev, "startup": startup, "pid": os.getpid(),
              "env": os.environ.get("PROBE_ENV", ""), "deadline": req["deadline"],
              "context": req["context"]}
    if do == "crash":
        os._exit(3)
    if do == "hang":
        p = subprocess.Popen(["sleep", "60"])
        open(ev["pidfile"], "w").write(str(p.pid))
        time.sleep(60)
    if do == "spawn":
        p = subprocess.Popen(["sleep", "60"])
        open(ev["pidfile"], "w").write(str(p.pid))
    if do == "garbage":
        proto.write("this is not json\n{\"half\": \n[1,2]\n{\"neither\":1}\n"); proto.flush()
    if do == "flood":
        chunk = "x" * 999 + "\n"
        for _ in range(ev["kb"]):
            sys.stderr.write(chunk)
        sys.stderr.flush()
    if do == "huge":
        proto.write('{"invokeid":"%s","result":"%s"}\n' % (rid, "y" * ev["bytes"])); proto.flush()
        continue
    if do == "wrongid":
        rid = "not-" + rid
    if do == "closestdout":
        proto.close()
        time.sleep(60)
    if do == "twice":
        send({"result": result, "errortype": "", "invokeid": rid})
    if do == "stray":  # its reply, and in the same write one nobody asked for
        proto.write(json.dumps({"result": result, "errortype": "", "invokeid": rid}) + "\n" +
                    json.dumps({"result": None, "errortype": "", "invokeid": "stray"}) + "\n")
        proto.flush()
        continue
    if do == "exit0":
        send({"result": result, "errortype": "", "invokeid": rid}); sys.exit(0)
    if do == "print":
        print("user print that must not reach the protocol")
    send({"result": result, "errortype": "", "invokeid": rid})
)PY";

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/er-runner-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { (void)!std::system(("rm -rf '" + path + "'").c_str()); }
  std::string write(const std::string& name, const std::string& text) const {
    std::string file = path + "/" + name;
    std::ofstream(file) << text;
    return file;
  }
};

ChildInvokerOptions probe_options(const TempDir& dir, const std::string& startup_mode = "ok") {
  ChildInvokerOptions o;
  o.command = "PROBE_STARTUP=" + startup_mode + " exec python3 " + dir.write("probe.py", kProbe);
  o.log_name = "probe";
  o.startup.handler = "app.handler";
  o.startup.name = "test-ext";
  o.startup.env = {{"PROBE_ENV", "from-startup"}};
  o.startup_timeout_ms = 10000;
  o.memory_size = "128";
  o.crash_backoff = std::chrono::milliseconds(10);
  return o;
}

InvokeRequest request(const std::string& id, const std::string& event_json,
                      int64_t timeout_ms = 20000) {
  InvokeRequest r;
  r.context.aws_request_id = id;
  r.context.invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:fn";
  r.event_json = event_json;
  r.deadline_ms = wall_clock_ms() + timeout_ms;
  return r;
}

rapidjson::Document parse(const std::string& text) {
  auto doc = parse_json(text);
  REQUIRE(doc.ok());
  return std::move(*doc);
}

pid_t read_pid_file(const std::string& file) {
  std::ifstream in(file);
  pid_t pid = -1;
  in >> pid;
  return pid;
}

// Members of a process group, from /proc/<pid>/stat field 5.
std::vector<pid_t> group_members(pid_t pgid) {
  std::vector<pid_t> out;
  DIR* dir = ::opendir("/proc");
  while (dirent* e = ::readdir(dir)) {
    const auto pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    std::string state;
    pid_t ppid = 0, pgrp = 0;
    rest >> state >> ppid >> pgrp;
    if (pgrp == pgid && state != "Z") out.push_back(pid);
  }
  ::closedir(dir);
  return out;
}

// Captures log lines for the duration of a test.
struct LogCapture {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::string> lines;
  std::atomic<size_t> count{0};
  LogCapture() {
    set_log_sink([this](const std::string& line) {
      ++count;
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (lines.size() < 1000) lines.push_back(line);
      }
      cv.notify_all();
    });
  }
  ~LogCapture() { set_log_sink(nullptr); }
  bool has(const std::string& text) {
    for (const auto& l : lines) {
      if (l.find(text) != std::string::npos) return true;
    }
    return false;
  }
  /**
   * Whether a line containing `text` was logged, waiting (bounded) for it: the child's stderr
   * is forwarded by its own thread, so a line may be logged just after the reply arrives.
   */
  bool contains(const std::string& text) {
    std::unique_lock<std::mutex> lock(mutex);
    return cv.wait_for(lock, std::chrono::seconds(10), [&] { return has(text); });
  }
};

// The preamble of most tests here: a probe child started for this test alone, its log captured.
// `started(adjust)` lets a test change the options (limits, crash counts) before the start.
struct ProbeTest {
  TempDir dir;
  LogCapture logs;

  ChildInvoker& started(const std::function<void(ChildInvokerOptions&)>& adjust = nullptr) {
    auto options = probe_options(dir);
    if (adjust) adjust(options);
    invoker_ = std::make_unique<ChildInvoker>(options);
    REQUIRE(invoker_->start().ok());
    return *invoker_;
  }

 private:
  std::unique_ptr<ChildInvoker> invoker_;  // declared last: ended while `logs` still captures
};

}  // namespace

TEST_CASE_METHOD(
    ProbeTest, "runner: a request with measure_memory off gets used_mb 0, the next one measures") {
  auto& invoker = started();
  InvokeRequest unmeasured = request("hook-1", R"({"eventType":"REQUEST"})");
  unmeasured.measure_memory = false;
  auto reply = invoker.invoke(unmeasured);
  REQUIRE(reply.ok());
  CHECK(reply->invokeid == "hook-1");
  CHECK(reply->billing.used_mb == 0);
  CHECK(reply->billing.duration_ms > 0);  // the rest of the billing is still measured
  auto measured = invoker.invoke(request("req-2", R"({"eventType":"INVOKE"})"));
  REQUIRE(measured.ok());
  CHECK(measured->billing.used_mb > 0);
}

TEST_CASE_METHOD(ProbeTest, "runner: normal startup and a request round trip with host billing") {
  auto& invoker = started();
  CHECK(invoker.starts() == 1);
  auto reply = invoker.invoke(request("req-1", R"({"eventType":"INVOKE","n":1})"));
  REQUIRE(reply.ok());
  CHECK_FALSE(reply->errors);
  CHECK(reply->errortype.empty());
  CHECK(reply->invokeid == "req-1");
  CHECK(reply->billing.memory == "128");
  CHECK(reply->billing.duration_ms > 0);
  CHECK(reply->billing.used_mb > 0);
  auto result = parse(reply->result_json);
  CHECK(to_json(result["echo"]) == R"({"eventType":"INVOKE","n":1})");
  CHECK(std::string(result["startup"]["handler"].GetString()) == "app.handler");
  CHECK(std::string(result["startup"]["name"].GetString()) == "test-ext");
  CHECK(std::string(result["startup"]["mode"].GetString()) == "lambda");
  CHECK(result["startup"]["version"].GetInt() == 1);
  CHECK(std::string(result["startup"]["env"]["PROBE_ENV"].GetString()) == "from-startup");
  CHECK(std::string(result["env"].GetString()) == "from-startup");
  CHECK(result["pid"].GetInt() == invoker.pid());
  CHECK(std::string(result["context"]["invoked_function_arn"].GetString()) ==
        "arn:aws:lambda:us-east-1:123456789012:function:fn");
  CHECK(result["context"]["client_context"].IsNull());
}

TEST_CASE("runner: startup failures are ChildStartupFailed with the child's words") {
  struct Case {
    const char* mode;
    int64_t timeout_ms;
    const char* mentions;
  };
  const std::vector<Case> cases = {
      {"refuse", 10000, "cannot load handler app.handler"},
      {"silent", 500, "no startup response within 500 ms"},
      {"exit", 10000, "ImportError: no module named nope"},
  };
  for (const auto& c : cases) {
    INFO(c.mode);
    TempDir dir;
    LogCapture logs;
    auto options = probe_options(dir, c.mode);
    options.startup_timeout_ms = c.timeout_ms;
    ChildInvoker invoker(options);
    auto started = invoker.start();
    REQUIRE_FALSE(started.ok());
    CHECK(started.error().kind == ErrorKind::ChildStartupFailed);
    CHECK_THAT(started.error().message, Catch::Contains(c.mentions));
    CHECK(invoker.pid() == -1);
  }
}

TEST_CASE("runner: a command that cannot run fails startup, not the host") {
  ChildInvokerOptions o;
  o.command = "exit 7";
  ChildInvoker invoker(o);
  auto started = invoker.start();
  REQUIRE_FALSE(started.ok());
  CHECK(started.error().kind == ErrorKind::ChildStartupFailed);
  CHECK_THAT(started.error().message, Catch::Contains("exit 7"));
}

TEST_CASE_METHOD(ProbeTest,
                 "runner: a crash mid-request is Runner.Crashed and the child is restarted") {
  auto& invoker = started();
  const pid_t first = invoker.pid();
  auto crashed = invoker.invoke(request("req-c", R"({"do":"crash"})"));
  REQUIRE(crashed.ok());
  CHECK(crashed->errors);
  CHECK(crashed->errortype == kRunnerCrashed);
  CHECK(crashed->invokeid == "req-c");
  CHECK_THAT(crashed->result_json, Catch::Contains("exit 3"));
  CHECK(test_support::process_gone(first));
  auto next = invoker.invoke(request("req-n", R"({"n":2})"));
  REQUIRE(next.ok());
  CHECK_FALSE(next->errors);
  CHECK(invoker.starts() == 2);
  CHECK(invoker.pid() != first);
}

TEST_CASE_METHOD(ProbeTest, "runner: repeated crashes end in ChildCrashed, for good") {
  auto& invoker = started([](ChildInvokerOptions& o) { o.max_crashes = 3; });
  for (int i = 0; i < 2; ++i) {
    auto r = invoker.invoke(request("c" + std::to_string(i), R"({"do":"crash"})"));
    REQUIRE(r.ok());
    CHECK(r->errortype == kRunnerCrashed);
  }
  auto third = invoker.invoke(request("c2", R"({"do":"crash"})"));
  REQUIRE_FALSE(third.ok());
  CHECK(third.error().kind == ErrorKind::ChildCrashed);
  CHECK_THAT(third.error().message, Catch::Contains("3 crashes in a row"));
  auto after = invoker.invoke(request("c3", "{}"));
  REQUIRE_FALSE(after.ok());
  CHECK(after.error().kind == ErrorKind::ChildCrashed);
}

TEST_CASE_METHOD(ProbeTest, "runner: a successful reply resets the crash count") {
  auto& invoker = started([](ChildInvokerOptions& o) { o.max_crashes = 2; });
  for (int i = 0; i < 3; ++i) {
    auto crash = invoker.invoke(request("c" + std::to_string(i), R"({"do":"crash"})"));
    REQUIRE(crash.ok());
    CHECK(crash->errortype == kRunnerCrashed);
    auto fine = invoker.invoke(request("f" + std::to_string(i), "{}"));
    REQUIRE(fine.ok());
    CHECK_FALSE(fine->errors);
  }
}

TEST_CASE_METHOD(ProbeTest,
                 "runner: a hang past the deadline is Runner.Timeout and the group is killed") {
  auto& invoker = started();
  const pid_t first = invoker.pid();
  const std::string pidfile = dir.path + "/grandchild.pid";
  auto r = invoker.invoke(request("req-h", R"({"do":"hang","pidfile":")" + pidfile + "\"}", 1500));
  REQUIRE(r.ok());
  CHECK(r->errors);
  CHECK(r->errortype == kRunnerTimeout);
  CHECK(r->invokeid == "req-h");
  CHECK(invoker.pid() == -1);
  CHECK(test_support::process_gone(first));
  const pid_t grandchild = read_pid_file(pidfile);
  REQUIRE(grandchild > 0);
  CHECK(test_support::process_gone(grandchild));
  CHECK(group_members(first).empty());
  auto next = invoker.invoke(request("req-after", "{}"));
  REQUIRE(next.ok());
  CHECK_FALSE(next->errors);
  CHECK(invoker.starts() == 2);
}

TEST_CASE_METHOD(ProbeTest, "runner: a request whose deadline already passed is not sent") {
  auto& invoker = started();
  const pid_t pid = invoker.pid();
  auto r = invoker.invoke(request("late", "{}", -1000));
  REQUIRE(r.ok());
  CHECK(r->errortype == kRunnerTimeout);
  CHECK(invoker.pid() == pid);  // the healthy child was left alone
}

TEST_CASE_METHOD(ProbeTest, "runner: garbage on stdout is logged and skipped") {
  auto& invoker = started();
  auto r = invoker.invoke(request("req-g", R"({"do":"garbage"})"));
  REQUIRE(r.ok());
  CHECK_FALSE(r->errors);
  CHECK(r->invokeid == "req-g");
  CHECK(logs.contains("not a JSON object: this is not json"));
  CHECK(logs.contains("no protocol message"));
}

TEST_CASE_METHOD(ProbeTest, "runner: user prints go to stderr and never corrupt the protocol") {
  set_log_level(LogLevel::Info);
  auto& invoker = started();
  auto r = invoker.invoke(request("req-p", R"({"do":"print"})"));
  REQUIRE(r.ok());
  CHECK_FALSE(r->errors);
  CHECK(logs.contains("[probe]"));
  CHECK(logs.contains("user print that must not reach the protocol"));
}

TEST_CASE_METHOD(ProbeTest, "runner: a 5 MB stderr flood does not deadlock the child") {
  auto& invoker = started();
  auto r = invoker.invoke(request("req-f", R"({"do":"flood","kb":5000})"));
  REQUIRE(r.ok());
  CHECK_FALSE(r->errors);
  // Lines are logged by a concurrent reader: by the reply, most if not all are through.
  auto again = invoker.invoke(request("req-f2", "{}"));
  REQUIRE(again.ok());
  CHECK(logs.count.load() > 1000);
}

TEST_CASE_METHOD(ProbeTest,
                 "runner: an oversized reply is a protocol error and the child keeps serving") {
  auto& invoker = started([](ChildInvokerOptions& o) { o.max_message_bytes = 1024 * 1024; });
  const pid_t pid = invoker.pid();
  auto r = invoker.invoke(request("req-big", R"({"do":"huge","bytes":8000000})"));
  REQUIRE(r.ok());
  CHECK(r->errors);
  CHECK(r->errortype == kRunnerProtocolError);
  CHECK_THAT(r->result_json, Catch::Contains("max message size"));
  CHECK(r->result_json.size() < 1000);
  auto ok = invoker.invoke(request("req-small", R"({"do":"huge","bytes":10})"));
  REQUIRE(ok.ok());
  CHECK_FALSE(ok->errors);
  CHECK(invoker.pid() == pid);
}

TEST_CASE_METHOD(
    ProbeTest,
    "runner: a reply with a foreign invokeid is a protocol error and the child is restarted") {
  auto& invoker = started();
  auto r = invoker.invoke(request("req-w", R"({"do":"wrongid"})"));
  REQUIRE(r.ok());
  CHECK(r->errors);
  CHECK(r->errortype == kRunnerProtocolError);
  CHECK(r->invokeid == "req-w");
  CHECK_THAT(r->result_json, Catch::Contains("not-req-w"));
  auto next = invoker.invoke(request("req-w2", "{}"));
  REQUIRE(next.ok());
  CHECK_FALSE(next->errors);
  CHECK(invoker.starts() == 2);
}

TEST_CASE_METHOD(ProbeTest,
                 "runner: a 100 MB reply line is dropped as it arrives, memory stays bounded") {
  auto& invoker = started();  // default max message size: 6 MiB
  const long before_kb = peak_rss_kb(::getpid());
  auto r = invoker.invoke(request("req-100mb", R"({"do":"huge","bytes":100000000})"));
  REQUIRE(r.ok());
  CHECK(r->errortype == kRunnerProtocolError);
  // The line is never buffered beyond the limit: this process's peak grows by far less than it
  // (not under a sanitizer, whose shadow memory for the 6 MiB limit's buffer counts in RSS).
  if (!test_support::kSanitized) CHECK(peak_rss_kb(::getpid()) - before_kb < 32 * 1024);
  auto ok = invoker.invoke(request("req-after", "{}"));
  REQUIRE(ok.ok());
  CHECK_FALSE(ok->errors);
}

TEST_CASE_METHOD(ProbeTest,
                 "runner: a child that closes stdout but keeps running is ended and replaced") {
  auto& invoker = started();
  const pid_t first = invoker.pid();
  auto r = invoker.invoke(request("req-c", R"({"do":"closestdout"})"));
  REQUIRE(r.ok());
  CHECK(r->errortype == kRunnerCrashed);
  CHECK(test_support::process_gone(first));
  auto next = invoker.invoke(request("req-c2", "{}"));
  REQUIRE(next.ok());
  CHECK_FALSE(next->errors);
  CHECK(invoker.starts() == 2);
}

TEST_CASE_METHOD(
    ProbeTest, "runner: a second reply to the same request is dropped, the next request unharmed") {
  auto& invoker = started();
  const pid_t pid = invoker.pid();
  for (int i = 0; i < 20; ++i) {
    INFO("round " << i);
    auto r = invoker.invoke(request("req-t" + std::to_string(i), R"({"do":"twice"})"));
    REQUIRE(r.ok());
    CHECK_FALSE(r->errors);
    CHECK(r->invokeid == "req-t" + std::to_string(i));
  }
  CHECK(invoker.pid() == pid);
  CHECK(invoker.starts() == 1);
}

TEST_CASE_METHOD(ProbeTest,
                 "runner: a reply nobody asked for that came with the last one is discarded") {
  auto& invoker = started();
  auto r = invoker.invoke(request("req-s1", R"({"do":"stray"})"));
  REQUIRE(r.ok());
  CHECK_FALSE(r->errors);
  // Taken for the next request's reply, its id would not match: a protocol error, a restart.
  auto next = invoker.invoke(request("req-s2", "{}"));
  REQUIRE(next.ok());
  CHECK_FALSE(next->errors);
  CHECK(next->invokeid == "req-s2");
  CHECK(invoker.starts() == 1);
  CHECK(logs.has("discarding an unrequested message"));
}

TEST_CASE_METHOD(
    ProbeTest, "runner: a child that exits 0 after every request is restarted, no request fails") {
  auto& invoker = started();
  for (int i = 0; i < 5; ++i) {
    INFO("request " << i);
    auto r = invoker.invoke(request("req-e" + std::to_string(i), R"({"do":"exit0"})"));
    REQUIRE(r.ok());
    CHECK_FALSE(r->errors);
  }
  CHECK(invoker.starts() == 5);
}

TEST_CASE("runner: no process outlives the invoker") {
  TempDir dir;
  const std::string pidfile = dir.path + "/spawned.pid";
  pid_t child = -1;
  {
    ChildInvoker invoker(probe_options(dir));
    REQUIRE(invoker.start().ok());
    child = invoker.pid();
    auto r = invoker.invoke(request("req-s", R"({"do":"spawn","pidfile":")" + pidfile + "\"}"));
    REQUIRE(r.ok());
    CHECK(group_members(child).size() == 2);
  }
  const pid_t grandchild = read_pid_file(pidfile);
  REQUIRE(grandchild > 0);
  CHECK(test_support::process_gone(child));
  CHECK(test_support::process_gone(grandchild));
  CHECK(group_members(child).empty());
}

TEST_CASE_METHOD(ProbeTest, "runner: shutdown closes stdin and the child exits on its own") {
  auto& invoker = started();
  const pid_t pid = invoker.pid();
  invoker.shutdown(5000);
  CHECK(invoker.pid() == -1);
  CHECK(test_support::process_gone(pid));
  invoker.shutdown(5000);  // idempotent
}

namespace {
bool have_program(const std::string& name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

void check_example(const std::string& command) {
  TempDir dir;
  LogCapture logs;
  ChildInvokerOptions o;
  o.command = command;
  o.log_name = "example";
  o.startup.name = "example-ext";
  o.startup_timeout_ms = 20000;
  ChildInvoker invoker(o);
  auto started = invoker.start();
  REQUIRE(started.ok());
  auto reply = invoker.invoke(
      request("req-e1", R"({"eventType":"INVOKE","requestId":"req-e1","deadlineMs":1})"));
  REQUIRE(reply.ok());
  CHECK_FALSE(reply->errors);
  CHECK(reply->invokeid == "req-e1");
  CHECK(reply->result_json == R"({"eventType":"INVOKE","requestId":"req-e1"})");
  // The echo handler prints; that line must arrive as the child's stderr, not on the protocol.
  CHECK(logs.contains("echo handler got INVOKE req-e1"));
  auto batch = invoker.invoke(request("req-t", R"({"eventType":"TELEMETRY","records":[]})"));
  REQUIRE(batch.ok());
  CHECK(batch->result_json == R"({"eventType":"TELEMETRY","requestId":null})");
  const pid_t pid = invoker.pid();
  invoker.shutdown(5000);
  CHECK(test_support::process_gone(pid));
}
}  // namespace

TEST_CASE("runner: the Python example answers and keeps user prints off the protocol") {
  check_example("exec python3 " + std::string(ER_SOURCE_DIR) + "/examples/python/runner.py");
}

TEST_CASE("runner: the Node example answers and keeps user prints off the protocol") {
  if (!have_program("node")) {
    WARN("node not installed: skipping the Node example test");
    return;
  }
  check_example("exec node " + std::string(ER_SOURCE_DIR) + "/examples/node/runner.js");
}

TEST_CASE("runner: the Python example loads a user handler and reports its exceptions") {
  TempDir dir;
  LogCapture logs;
  dir.write(
      "my_handler.py",
      "def handle(event, context):\n"
      "    print('user print')\n"
      "    if event.get('fail'):\n"
      "        raise ValueError('bad event')\n"
      "    return {'seen': event.get('eventType'), 'arn': context['invoked_function_arn']}\n");
  ChildInvokerOptions o;
  o.command = "exec python3 " + std::string(ER_SOURCE_DIR) + "/examples/python/runner.py";
  o.startup.handler = "my_handler.handle";
  o.startup.env = {{"EXTENSION_RUNNER_HANDLER_DIR", dir.path}};
  o.startup_timeout_ms = 20000;
  ChildInvoker invoker(o);
  REQUIRE(invoker.start().ok());
  auto ok = invoker.invoke(request("r1", R"({"eventType":"INVOKE"})"));
  REQUIRE(ok.ok());
  CHECK(ok->result_json ==
        R"({"seen":"INVOKE","arn":"arn:aws:lambda:us-east-1:123456789012:function:fn"})");
  auto failed = invoker.invoke(request("r2", R"({"fail":true})"));
  REQUIRE(failed.ok());
  CHECK(failed->errors);
  CHECK(failed->errortype == "ValueError");
  CHECK(failed->result_json == R"({"errorMessage":"bad event"})");

  ChildInvokerOptions missing = o;
  missing.startup.handler = "nope.handle";
  ChildInvoker broken(missing);
  auto started = broken.start();
  REQUIRE_FALSE(started.ok());
  CHECK(started.error().kind == ErrorKind::ChildStartupFailed);
  CHECK_THAT(started.error().message, Catch::Contains("cannot load handler"));
}
