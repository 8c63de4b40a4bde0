// `extension-runner emulate` driven as a user would: subprocess, trace on stdout.
#include <dirent.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>

#include "extension_runner/core/json.hpp"
#include "support.hpp"

using namespace extension_runner;
using test_support::lines_of;
using test_support::run_binary;

namespace {

struct TraceLine {
  std::string what, detail;
};

std::vector<TraceLine> trace_of(const std::string& out) {
  std::vector<TraceLine> trace;
  for (const auto& l : lines_of(out)) {
    auto doc = parse_json(l);
    if (!doc.ok()) continue;
    auto what = json_string(*doc, "what");
    if (what) trace.push_back({*what, json_string(*doc, "detail").value_or("")});
  }
  return trace;
}

/** Pids of every live descendant of `root` (read from /proc). */
std::vector<pid_t> descendants_of(pid_t root) {
  std::map<pid_t, pid_t> parent;
  DIR* proc = ::opendir("/proc");
  while (const dirent* e = proc ? ::readdir(proc) : nullptr) {
    const auto pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const auto close_paren = text.rfind(')');
    if (close_paren == std::string::npos) continue;
    char state;
    int ppid;
    if (std::sscanf(text.c_str() + close_paren + 1, " %c %d", &state, &ppid) == 2)
      parent[pid] = ppid;
  }
  if (proc) ::closedir(proc);
  std::vector<pid_t> out;
  for (const auto& [pid, ppid] : parent) {
    for (pid_t p = ppid; p > 1; p = parent.count(p) ? parent[p] : 0) {
      if (p == root) {
        out.push_back(pid);
        break;
      }
    }
  }
  return out;
}

std::string write_scenario(const std::string& json) {
  std::string path = "/tmp/er-scenario-" + std::to_string(::getpid()) + ".json";
  std::ofstream(path) << json;
  return path;
}

/** A Python SDK extension whose on_telemetry runs `body` (one indented line); its path. */
// An SDK child whose one handler (`decorator`, e.g. on_telemetry) runs `body`.
std::string write_sdk_child(const std::string& tag, const std::string& decorator,
                            const std::string& body) {
  std::string path = "/tmp/er-" + tag + "-" + std::to_string(::getpid()) + ".py";
  std::ofstream(path) << "import sys\nsys.path.insert(0, '" << ER_SOURCE_DIR
                      << "/sdk/python')\n"
                         "from extension_runner import Extension\n"
                         "ext = Extension()\n"
                         "@ext."
                      << decorator
                      << "\n"
                         "def handler(event, ctx):\n"
                         "    "
                      << body << "\next.run()\n";
  return path;
}

std::string write_telemetry_child(const std::string& tag, const std::string& body) {
  return write_sdk_child(tag, "on_telemetry", body);
}

}  // namespace

TEST_CASE("emulate: a register fault ends in a non-zero exit with the API's words in the log") {
  const auto path = write_scenario(
      R"({"faults":{"register":{"status":403,"errorMessage":"no such file in /opt/extensions"}}})");
  auto run = run_binary({"emulate", "--json", "--scenario", path}, {});
  CHECK(run.status.code == 1);
  CHECK_THAT(run.err, Catch::Contains("no such file in /opt/extensions"));
  auto trace = trace_of(run.out);
  REQUIRE_FALSE(trace.empty());
  CHECK(trace.back().what == "summary");
  CHECK_THAT(trace.back().detail, Catch::Contains("exit code 1"));
  ::unlink(path.c_str());
}

TEST_CASE("emulate: a /next fault after 2 invokes shows exit/error in the trace") {
  const auto path = write_scenario(R"({"invokes":5,"faults":{"next":{"status":500,"after":2}}})");
  auto run = run_binary({"emulate", "--json", "--scenario", path}, {});
  CHECK(run.status.code == 1);
  int invokes = 0, exit_errors = 0;
  for (const auto& t : trace_of(run.out)) {
    invokes += t.detail.rfind("INVOKE", 0) == 0 ? 1 : 0;
    if (t.what == "exit/error") {
      ++exit_errors;
      CHECK_THAT(t.detail, Catch::StartsWith("Extension.ApiFatal"));
    }
  }
  CHECK(invokes == 2);
  CHECK(exit_errors == 1);
  ::unlink(path.c_str());
}

TEST_CASE("emulate: a bad scenario is a usage error naming the field") {
  const auto path = write_scenario(R"({"invokez":1})");
  auto run = run_binary({"emulate", "--scenario", path}, {});
  CHECK(run.status.code == 2);
  CHECK_THAT(run.err, Catch::Contains("invokez: unknown field"));
  auto missing = run_binary({"emulate", "--scenario", "/nonexistent.json"}, {});
  CHECK(missing.status.code == 2);
  auto flag = run_binary({"emulate", "--invokes", "many"}, {});
  CHECK(flag.status.code == 2);
  ::unlink(path.c_str());
}

TEST_CASE("emulate: SIGINT turns into SHUTDOWN SandboxTerminated and a clean exit") {
  // Long spacing keeps the emulation idle between invokes until we interrupt it.
  const auto path = write_scenario(R"({"invokes":3,"spacingMs":60000})");
  SpawnOptions o;
  o.argv = {test_support::binary_path(), "emulate", "--json", "--scenario", path};
  o.pipe_stdin = false;
  auto child = ChildProcess::spawn(o);
  REQUIRE(child.ok());
  test_support::Drain err(std::move(child->stderr_fd()));
  // Wait for the first INVOKE line on stdout: the emulation is then running.
  std::string out = test_support::read_until(child->stdout_fd().get(), R"("detail":"INVOKE)");
  REQUIRE(out.find(R"("detail":"INVOKE)") != std::string::npos);
  child->signal_group(SIGINT);
  test_support::Drain rest(std::move(child->stdout_fd()));
  auto status = child->wait_for(std::chrono::milliseconds(10000));
  REQUIRE(status.has_value());
  CHECK(status->success());
  out += rest.take();
  CHECK_THAT(out, Catch::Contains("SHUTDOWN reason=SandboxTerminated"));
  ::unlink(path.c_str());
}

TEST_CASE(
    "emulate --telemetry: every published record reaches stdout, each invoke's before the next") {
  // 100 ms: on a starved machine a POST may stay pending past the default 25 ms, and the
  // platform model would then drop the next batch (counts here must be exact).
  auto run = run_binary(
      {"emulate", "--json", "--telemetry", "--buffer-timeout-ms=100", "--invokes", "3"}, {});
  INFO(run.err);
  CHECK(run.status.success());
  // Event lines (from the stdout handler) in order: INVOKE r1, TELEMETRY(start..runtimeDone r1),
  // TELEMETRY(report r1), INVOKE r2, ...
  std::vector<std::string> order;
  int records = 0;
  for (const auto& l : lines_of(run.out)) {
    auto doc = parse_json(l);
    if (!doc.ok()) continue;
    const auto type = json_string(*doc, "eventType");
    if (!type) continue;
    if (*type == "TELEMETRY") {
      for (const auto& r : (*doc)["records"].GetArray()) {
        ++records;
        const std::string rtype = json_string(r, "type").value_or("");
        if (rtype == "platform.runtimeDone")
          order.push_back("done:" + json_string(r["record"], "requestId").value_or(""));
      }
    } else if (*type == "INVOKE") {
      order.push_back("invoke:" + json_string(*doc, "requestId").value_or(""));
    }
  }
  // The 4 init records (initStart, telemetrySubscription, initRuntimeDone, initReport), then
  // per invoke start + 2 function lines + runtimeDone + report.
  CHECK(records == 4 + 3 * 5);
  // The INVOKE line and its telemetry come from two threads, so within an invocation either
  // may print first; but request N's runtimeDone is out before INVOKE N+1 (per-invoke flush).
  REQUIRE(order.size() == 6);
  auto id_of = [](const std::string& entry) { return entry.substr(entry.find(':') + 1); };
  for (size_t i = 0; i < 6; i += 2) {
    INFO(order[i] << " / " << order[i + 1]);
    CHECK(id_of(order[i]) == id_of(order[i + 1]));
    CHECK(order[i].substr(0, 4) != order[i + 1].substr(0, 4));
  }
  CHECK_THAT(run.err, Catch::Contains("received=19 delivered=19 dropped=0"));
}

TEST_CASE("emulate: a NotSupported telemetry answer (sam local) is tolerated") {
  const auto path = write_scenario(R"({"invokes":1,"faults":{"telemetry":"NotSupported"}})");
  auto run = run_binary({"emulate", "--json", "--telemetry", "--scenario", path}, {});
  CHECK(run.status.success());
  CHECK_THAT(run.err, Catch::Contains("NotSupported"));
  auto trace = trace_of(run.out);
  REQUIRE_FALSE(trace.empty());
  CHECK_THAT(trace.back().detail, Catch::Contains("telemetry not subscribed"));
  ::unlink(path.c_str());
}

TEST_CASE(
    "emulate: a telemetry ValidationError is init/error Extension.SubscribeFailed (on-failure "
    "report)") {
  const auto path = write_scenario(R"({"faults":{"telemetry":"ValidationError"}})");
  auto run = run_binary({"emulate", "--json", "--telemetry", "--scenario", path},
                        {{"EXTENSION_RUNNER_ON_FAILURE", "report"}});
  CHECK(run.status.code == 1);
  bool init_error = false;
  for (const auto& t : trace_of(run.out)) {
    if (t.what == "init/error") {
      init_error = true;
      CHECK_THAT(t.detail, Catch::StartsWith("Extension.SubscribeFailed"));
    }
  }
  CHECK(init_error);
  ::unlink(path.c_str());
}

TEST_CASE("emulate: Ctrl-C with a child runtime ends it too: no orphans") {
  const auto path = write_scenario(R"({"invokes":3,"spacingMs":60000})");
  SpawnOptions o;
  o.argv = {test_support::binary_path(),
            "emulate",
            "--json",
            "--scenario",
            path,
            "--runtime",
            "python3 " + std::string(ER_SOURCE_DIR) + "/examples/python/runner.py"};
  o.pipe_stdin = false;
  auto host = ChildProcess::spawn(o);
  REQUIRE(host.ok());
  test_support::Drain err(std::move(host->stderr_fd()));
  const std::string out = test_support::read_until(host->stdout_fd().get(), R"("detail":"INVOKE)");
  REQUIRE(out.find(R"("detail":"INVOKE)") != std::string::npos);
  // The child runtime (a shell and the Python interpreter below it) is up: hold pidfds on them.
  std::vector<int> pidfds;
  for (pid_t pid : descendants_of(host->pid())) {
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd >= 0) pidfds.push_back(fd);
  }
  REQUIRE_FALSE(pidfds.empty());
  ::kill(host->pid(), SIGINT);  // what a terminal's Ctrl-C delivers to the foreground process
  test_support::Drain rest(std::move(host->stdout_fd()));
  auto status = host->wait_for(std::chrono::milliseconds(10000));
  REQUIRE(status.has_value());
  CHECK(status->success());
  CHECK_THAT(rest.take(), Catch::Contains("SHUTDOWN reason=SandboxTerminated"));
  for (int fd : pidfds) {
    pollfd p{fd, POLLIN, 0};
    CHECK(::poll(&p, 1, 5000) == 1);  // readable once that process has terminated
    ::close(fd);
  }
  CHECK_THAT(err.take(), Catch::Contains("echo handler got SHUTDOWN"));
  ::unlink(path.c_str());
}

TEST_CASE("emulate: the summary counts error replies, in words and JSON, as the counters line") {
  // An SDK extension whose telemetry handler raises: every TELEMETRY reply is an error, so no
  // record was delivered to the child, whatever the platform sent.
  const std::string child = write_telemetry_child("raising", "raise RuntimeError('boom')");
  auto run = run_binary(
      {"emulate", "--json", "--telemetry", "--invokes", "2", "--runtime", "python3 " + child}, {});
  INFO(run.out << run.err);
  CHECK(run.status.success());
  rapidjson::Document summary;
  for (const auto& l : lines_of(run.out)) {
    auto doc = parse_json(l);
    if (doc.ok() && json_string(*doc, "what") == std::string("summary")) summary = std::move(*doc);
  }
  REQUIRE(summary.IsObject());
  const std::string detail = json_string(summary, "detail").value_or("");
  const rapidjson::Value* replies = json_member(summary, "replies");
  REQUIRE(replies != nullptr);
  const auto count = [&](const char* type, const char* key) {
    const auto* t = json_member(*replies, type);
    return t == nullptr ? int64_t{-1} : json_int64(*t, key).value_or(-1);
  };
  // It has no INVOKE handler and its startup `handles` say so: it is sent no INVOKE at all.
  CHECK(count("INVOKE", "ok") == -1);
  CHECK(count("SHUTDOWN", "ok") == 1);
  const int64_t telemetry_errors = count("TELEMETRY", "errors");
  CHECK(telemetry_errors >= 1);
  CHECK(count("TELEMETRY", "ok") == 0);
  CHECK_THAT(detail, Catch::Contains("TELEMETRY " + std::to_string(telemetry_errors) + " (0 ok, " +
                                     std::to_string(telemetry_errors) + " errors)"));
  // The platform's side and the child's side, each named for what it counts.
  const auto* t = json_member(summary, "telemetry");
  REQUIRE(t != nullptr);
  const auto sent = json_int64(*t, "records_sent").value_or(-1);
  CHECK(sent > 0);
  CHECK_THAT(detail,
             Catch::Contains("platform sent " + std::to_string(sent) + " telemetry records"));
  CHECK_THAT(detail, Catch::Contains("received=" + std::to_string(sent) +
                                     " delivered=0 dropped=" + std::to_string(sent)));
  ::unlink(child.c_str());
}

TEST_CASE("emulate: a handler the configuration never feeds is a warning, once") {
  // Each handler with its feed off, then the same child with the feed on: no warning.
  struct Row {
    const char* decorator;
    const char* type;
    const char* why;
    std::vector<std::string> feed_on;
  };
  const std::vector<Row> rows = {
      {"on_telemetry", "TELEMETRY", "telemetry is off", {"--telemetry"}},
      {"on_messages", "MESSAGES", "the messages endpoint is off", {"--messages", "on"}},
  };
  for (const auto& row : rows) {
    INFO(row.type);
    const std::string child = write_sdk_child("handles", row.decorator, "pass");
    const std::string warning =
        std::string("the child has a ") + row.type + " handler that will never run: " + row.why;
    auto off = run_binary({"emulate", "--invokes", "1", "--runtime", "python3 " + child}, {});
    INFO(off.err);
    CHECK(off.status.success());
    CHECK_THAT(off.err, Catch::Contains(warning));
    CHECK(off.err.find(warning) == off.err.rfind(warning));
    std::vector<std::string> args = {"emulate", "--invokes", "1", "--runtime", "python3 " + child};
    args.insert(args.end(), row.feed_on.begin(), row.feed_on.end());
    auto on = run_binary(args, {{"EXTENSION_RUNNER_MESSAGES_LISTEN", "127.0.0.1:0"}});
    INFO(on.err);
    CHECK(on.status.success());
    CHECK(on.err.find("will never run") == std::string::npos);
    ::unlink(child.c_str());
  }
}

TEST_CASE(
    "emulate: scenario messages are posted per invocation and reach the child, both platforms") {
  const auto path = write_scenario(R"({"invokes":3,"messages":[{"metric":"n","value":1},"s"]})");
  for (const bool lmi : {false, true}) {
    INFO((lmi ? "managed instances" : "standard"));
    const std::string child =
        std::string("python3 ") + ER_SOURCE_DIR + "/examples/python/runner.py";
    std::vector<std::string> args = {"emulate", "--json", "--scenario", path, "--runtime", child};
    if (lmi) args.emplace_back("--managed-instances");
    auto run = run_binary(args, {{"EXTENSION_RUNNER_MESSAGES_LISTEN", "127.0.0.1:0"}});
    INFO(run.err);
    CHECK(run.status.code == 0);
    int posted = 0, reached = 0;
    for (const auto& t : trace_of(run.out)) {
      if (t.what == "messages") {
        ++posted;
        CHECK_THAT(t.detail, Catch::StartsWith("2 for ") && Catch::EndsWith("-> 202"));
      }
      if (t.what == "reply" && t.detail.rfind("messages-", 0) == 0) {
        const auto at = t.detail.find(" messages");
        const auto open = t.detail.find(" (");
        REQUIRE(open != std::string::npos);
        REQUIRE(at != std::string::npos);
        reached += std::stoi(t.detail.substr(open + 2, at - open - 2));
      }
    }
    CHECK(posted == 3);
    CHECK(reached == 6);
    CHECK_THAT(run.err, Catch::Contains("messages: received=6 delivered=6 refused=0"));
  }
  ::unlink(path.c_str());
}
