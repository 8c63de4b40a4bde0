// `extension-runner emulate --proxy observe|intercept`: the emulator plays the Runtime API and a
// runtime through the host's proxy; driven as a user would, the JSON trace on stdout.
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <optional>

#include "extension_runner/core/json.hpp"
#include "extension_runner/runner/process.hpp"
#include "support.hpp"

using namespace extension_runner;
using test_support::lines_of;
using test_support::run_binary;

namespace {

const std::string kChild =
    "python3 " + std::string(ER_SOURCE_DIR) + "/tests/data/proxy-child/child.py";
const std::string kRuntime =
    "python3 " + std::string(ER_SOURCE_DIR) + "/tests/data/proxy-child/runtime.py";

/** One invocation line of the JSON trace (`"what":"invocation"`). */
struct Invocation {
  std::string request_id, outcome, errortype, body;
  bool runtime_saw_it = false;  ///< steps_ms.runtime is a number (the built-in function had it).
  bool added_measured = false;  ///< added_ms is a number.
};

struct Trace {
  std::vector<Invocation> invocations;
  std::vector<std::string> whats;  ///< Every line's `what`, in order.
  std::string summary;             ///< The summary's detail.
  std::string proxy_summary;       ///< The summary's `proxy` member, as JSON text.
  std::string runtime_start;       ///< The runtime start line's detail.
};

Trace trace_of(const std::string& out) {
  Trace trace;
  for (const auto& line : lines_of(out)) {
    auto doc = parse_json(line);
    if (!doc.ok() || !doc->IsObject()) continue;
    const std::string what = json_string(*doc, "what").value_or("");
    trace.whats.push_back(what);
    if (what == "invocation") {
      Invocation inv;
      inv.request_id = json_string(*doc, "request_id").value_or("");
      inv.outcome = json_string(*doc, "outcome").value_or("");
      inv.errortype = json_string(*doc, "errortype").value_or("");
      inv.body = json_string(*doc, "body").value_or("");
      const auto* steps = json_member(*doc, "steps_ms");
      const auto* runtime = steps != nullptr ? json_member(*steps, "runtime") : nullptr;
      inv.runtime_saw_it = runtime != nullptr && runtime->IsNumber();
      const auto* added = json_member(*doc, "added_ms");
      inv.added_measured = added != nullptr && added->IsNumber();
      trace.invocations.push_back(inv);
    } else if (what == "summary") {
      trace.summary = json_string(*doc, "detail").value_or("");
      if (const auto* proxy = json_member(*doc, "proxy")) trace.proxy_summary = to_json(*proxy);
    } else if (what == "start" && json_string(*doc, "source") == std::string("runtime")) {
      trace.runtime_start = json_string(*doc, "detail").value_or("");
    }
  }
  return trace;
}

/** A scratch folder (the proxy's address file, the child's log), removed at the end. */
struct Scratch {
  std::string dir;
  Scratch() {
    char tmpl[] = "/tmp/er-emulate-proxy-XXXXXX";
    dir = ::mkdtemp(tmpl);
  }
  ~Scratch() { (void)!std::system(("rm -rf '" + dir + "'").c_str()); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  std::string write(const std::string& name, const std::string& text) const {
    std::string path = dir + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  std::string read(const std::string& name) const {
    std::ifstream in(dir + "/" + name);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  /** The environment of a run: its own TMPDIR (the address file) and the child's settings. */
  std::map<std::string, std::string> env(const std::string& child_mode) const {
    return {{"TMPDIR", dir},
            {"PROXY_CHILD_MODE", child_mode},
            {"PROXY_CHILD_LOG", dir + "/child.log"},
            {"EXTENSION_RUNNER_PROXY_HOOK_TIMEOUT_MS", "10000"}};
  }
};

/** The events of `eventType` the child logged (one JSON line each). */
std::vector<std::string> child_events(const Scratch& scratch, const std::string& type) {
  std::vector<std::string> out;
  for (const auto& line : lines_of(scratch.read("child.log"))) {
    auto doc = parse_json(line);
    if (doc.ok() && doc->IsObject() && json_string(*doc, "eventType") == type) {
      out.push_back(line);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("emulate --proxy: the built-in function's invocations, as the platform gets them") {
  struct Case {
    std::string name;
    std::string proxy;
    std::string child_mode;
    std::string payloads;  ///< The scenario's payloads.
    std::vector<std::string> outcomes;
    std::vector<std::string> errortypes;
    std::vector<std::string> body_has;  ///< What each answer the platform got contains.
    std::vector<bool> runtime_saw_it;
    std::string proxy_summary_has;
  };
  const std::vector<Case> cases = {
      {"observe: the events echoed unchanged, the child sees copies",
       "observe",
       "replace",
       R"([{"apply":true,"n":1},{"n":2}])",
       {"response", "response"},
       {"", ""},
       {R"("n":1)", R"("n":2)"},
       {true, true},
       R"("platform":{"responses":2,"errors":{},"refused":0,"unanswered":0})"},
      {"intercept: a replacing hook changes what the function and then the platform get",
       "intercept",
       "replace",
       R"([{"apply":true},{"n":2}])",
       {"response", "response"},
       {"", ""},
       {R"({"replaced":true})", R"("n":2)"},
       {true, true},
       R"("platform":{"responses":2,"errors":{},"refused":0,"unanswered":0})"},
      {"intercept: a rejecting hook's error reaches the platform, the function never sees it",
       "intercept",
       "reject",
       R"([{"n":1},{"apply":true}])",
       {"response", "error"},
       {"", "Policy.Denied"},
       {R"("n":1)", "Policy.Denied"},
       {true, false},
       R"("errors":{"Policy.Denied":1})"},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      Scratch scratch;
      const auto scenario =
          scratch.write("scenario.json", R"({"invokes":)" + std::to_string(c.outcomes.size()) +
                                             R"(,"payloads":)" + c.payloads + "}");
      auto run = run_binary(
          {"emulate", "--json", "--proxy", c.proxy, "--scenario", scenario, "--runtime", kChild},
          scratch.env(c.child_mode), 60000);
      INFO(run.out << run.err);
      CHECK(run.status.code == 0);
      const auto trace = trace_of(run.out);
      REQUIRE(trace.invocations.size() == c.outcomes.size());
      for (size_t i = 0; i < c.outcomes.size(); ++i) {
        INFO("invocation " << i);
        CHECK(trace.invocations[i].outcome == c.outcomes[i]);
        CHECK(trace.invocations[i].errortype == c.errortypes[i]);
        CHECK_THAT(trace.invocations[i].body, Catch::Contains(c.body_has[i]));
        CHECK(trace.invocations[i].runtime_saw_it == c.runtime_saw_it[i]);
        // The built-in function's own times are known: the added latency is measured.
        CHECK(trace.invocations[i].added_measured == c.runtime_saw_it[i]);
      }
      CHECK_THAT(trace.proxy_summary, Catch::Contains(c.proxy_summary_has));
      CHECK_THAT(trace.proxy_summary, Catch::Contains(R"("mode":")" + c.proxy + "\""));
      CHECK_THAT(trace.summary, Catch::Contains("the platform got"));
      // The INVOKE and the runtime's event are one invocation: the hooks carry its request id.
      const auto requests = child_events(scratch, "REQUEST");
      REQUIRE(requests.size() == c.outcomes.size());
      for (size_t i = 0; i < requests.size(); ++i) {
        CHECK_THAT(requests[i], Catch::Contains(trace.invocations[i].request_id));
      }
      const auto invokes = child_events(scratch, "INVOKE");
      REQUIRE(invokes.size() == c.outcomes.size());
      for (size_t i = 0; i < invokes.size(); ++i) {
        CHECK_THAT(invokes[i], Catch::Contains(trace.invocations[i].request_id));
      }
    }
  }
}

TEST_CASE("emulate --proxy --managed-instances: concurrent invocations through the proxy") {
  Scratch scratch;
  const auto scenario = scratch.write("scenario.json", R"({"payloads":[{"apply":true},{"n":2}]})");
  auto run = run_binary(
      {"emulate", "--json", "--proxy", "intercept", "--managed-instances", "--concurrency", "4",
       "--invokes", "8", "--scenario", scenario, "--runtime", kChild},
      scratch.env("replace"), 60000);
  INFO(run.out << run.err);
  CHECK(run.status.code == 0);
  const auto trace = trace_of(run.out);
  REQUIRE(trace.invocations.size() == 8);
  for (size_t i = 0; i < trace.invocations.size(); ++i) {
    INFO("invocation " << i);
    CHECK(trace.invocations[i].outcome == "response");
    // The payloads in turn: every other event is replaced by the REQUEST hook.
    CHECK_THAT(trace.invocations[i].body,
               Catch::Contains(i % 2 == 0 ? R"({"replaced":true})" : R"("n":2)"));
    CHECK(trace.invocations[i].runtime_saw_it);
  }
  CHECK_THAT(
      trace.proxy_summary,
      Catch::Contains(R"("platform":{"responses":8,"errors":{},"refused":0,"unanswered":0})"));
  CHECK(child_events(scratch, "REQUEST").size() == 8);
  CHECK(child_events(scratch, "INVOKE").empty());
}

TEST_CASE("emulate --proxy --function: a runtime process talks through the proxy") {
  Scratch scratch;
  const auto scenario = scratch.write("scenario.json", R"({"invokes":1,"payloads":[{"k":"v"}]})");
  auto run = run_binary({"emulate", "--json", "--proxy", "observe", "--scenario", scenario,
                         "--runtime", kChild, "--function", kRuntime},
                        scratch.env("null"), 60000);
  INFO(run.out << run.err);
  CHECK(run.status.code == 0);
  const auto trace = trace_of(run.out);
  REQUIRE(trace.invocations.size() == 1);
  CHECK(trace.invocations[0].outcome == "response");
  CHECK_THAT(trace.invocations[0].body, Catch::Contains(R"({"echo": {"k": "v"}})"));
  // Its own times are unknown: no added latency, said so in the summary.
  CHECK_FALSE(trace.invocations[0].added_measured);
  CHECK_THAT(trace.summary, Catch::Contains("added latency not measured"));
  // Started as `wrap` would leave it: AWS_LAMBDA_RUNTIME_API is the proxy's address, and its
  // stdout went to stderr, not into the trace.
  const auto at = trace.runtime_start.find("AWS_LAMBDA_RUNTIME_API=");
  REQUIRE(at != std::string::npos);
  const std::string address = trace.runtime_start.substr(at + 23);
  CHECK_THAT(run.err, Catch::Contains("runtime api=" + address));
  CHECK_THAT(run.err, Catch::Contains("Runtime API proxy listening on " + address));
  CHECK_THAT(run.out, !Catch::Contains("runtime api="));
}

TEST_CASE("emulate --proxy: a function that never answers is an unanswered invocation") {
  Scratch scratch;
  const auto scenario = scratch.write("scenario.json", R"({"invokes":1,"functionTimeoutMs":300})");
  // Takes the event and keeps it.
  const std::string silent =
      "exec python3 -c \"import os, urllib.request; "
      "urllib.request.urlopen('http://' + "
      "os.environ['AWS_LAMBDA_RUNTIME_API'] + "
      "'/2018-06-01/runtime/invocation/next').read(); "
      "import time; time.sleep(60)\"";
  auto run = run_binary({"emulate", "--json", "--proxy", "observe", "--scenario", scenario,
                         "--runtime", kChild, "--function", silent},
                        scratch.env("null"), 60000);
  INFO(run.out << run.err);
  CHECK(run.status.code == 0);
  const auto trace = trace_of(run.out);
  CHECK(std::find(trace.whats.begin(), trace.whats.end(), "timeout") != trace.whats.end());
  REQUIRE(trace.invocations.size() == 1);
  CHECK(trace.invocations[0].outcome == "none");
  CHECK_THAT(trace.proxy_summary, Catch::Contains(R"("unanswered":1)"));
  // The runtime is ended with the emulation: its exit is in the trace.
  CHECK(std::find(trace.whats.begin(), trace.whats.end(), "exit") != trace.whats.end());
}

TEST_CASE("emulate --proxy: combinations it cannot play are usage errors") {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"emulate", "--proxy", "observe"}, "EXTENSION_RUNNER_COMMAND"},
      {{"emulate", "--proxy", "intercept", "--function", "true"}, "EXTENSION_RUNNER_COMMAND"},
      {{"emulate", "--runtime", kChild, "--function", "true"}, "--function needs --proxy"},
      {{"emulate", "--proxy", "sideways", "--runtime", kChild}, "sideways"},
  };
  for (const auto& c : cases) {
    INFO(c.says);
    Scratch scratch;
    auto run = run_binary(c.args, scratch.env("null"));
    CHECK(run.status.code == 2);
    CHECK_THAT(run.err, Catch::Contains(c.says));
    CHECK(trace_of(run.out).invocations.empty());
  }
}

TEST_CASE("emulate --proxy --function: Ctrl-C ends the function's runtime too: no orphans") {
  Scratch scratch;
  const auto scenario = scratch.write("scenario.json", R"({"invokes":3,"spacingMs":60000})");
  // A runtime that serves invocations until its Runtime API goes away.
  const auto loop = scratch.write(
      "loop.py",
      "import os, urllib.request\n"
      "api = 'http://' + os.environ['AWS_LAMBDA_RUNTIME_API'] + '/2018-06-01/runtime/invocation/'\n"
      "while True:\n"
      "    with urllib.request.urlopen(api + 'next') as r:\n"
      "        request_id = r.headers['Lambda-Runtime-Aws-Request-Id']\n"
      "        body = r.read()\n"
      "    urllib.request.urlopen(urllib.request.Request(api + request_id + '/response', "
      "data=body, method='POST')).read()\n");
  SpawnOptions o;
  o.argv = {test_support::binary_path(),
            "emulate",
            "--json",
            "--proxy",
            "observe",
            "--scenario",
            scenario,
            "--runtime",
            kChild,
            "--function",
            "exec python3 " + loop};
  for (const auto& [k, v] : scratch.env("null")) o.set_env[k] = v;
  o.unset_env = {"AWS_LAMBDA_RUNTIME_API"};
  o.pipe_stdin = false;
  auto host = ChildProcess::spawn(o);
  REQUIRE(host.ok());
  test_support::Drain err(std::move(host->stderr_fd()));
  // The first invocation went through: the runtime is up, and emulate waits out the spacing.
  const std::string out =
      test_support::read_until(host->stdout_fd().get(), R"("what":"invocation")");
  REQUIRE(out.find(R"("what":"invocation")") != std::string::npos);
  const auto trace = trace_of(out);
  const auto at = trace.runtime_start.find("(pid ");
  REQUIRE(at != std::string::npos);
  const auto pid = static_cast<pid_t>(std::stol(trace.runtime_start.substr(at + 5)));
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  REQUIRE(pidfd >= 0);
  ::kill(host->pid(), SIGINT);  // what a terminal's Ctrl-C delivers to the foreground process
  test_support::Drain rest(std::move(host->stdout_fd()));
  auto status = host->wait_for(std::chrono::milliseconds(10000));
  REQUIRE(status.has_value());
  CHECK(status->success());
  const std::string after = rest.take();
  CHECK_THAT(after, Catch::Contains("SHUTDOWN reason=SandboxTerminated"));
  pollfd p{pidfd, POLLIN, 0};
  CHECK(::poll(&p, 1, 5000) == 1);  // readable once the runtime has terminated
  ::close(pidfd);
}
