// `extension-runner invoke` driven as a user would, with the real Python example child.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "extension_runner/core/json.hpp"
#include "support.hpp"

using namespace extension_runner;
using test_support::lines_of;
using test_support::run_binary;

namespace {

const std::string kPythonRunner =
    "python3 " + std::string(ER_SOURCE_DIR) + "/examples/python/runner.py";

/** A temp dir with a handler module `probe.py` and input files. */
struct Workdir {
  std::string dir = "/tmp/er-invoke-" + std::to_string(::getpid());
  Workdir() {
    ::mkdir(dir.c_str(), 0755);
    write("probe.py",
          "import os\n"
          "def handler(event, context):\n"
          "    print('user print goes to stderr, not the protocol')\n"
          "    return {'event': event, 'context': context, 'var': os.environ.get('PROBE_VAR')}\n"
          "def fail(event, context):\n"
          "    raise ValueError('handler refused')\n");
  }
  ~Workdir() {
    for (const char* f : {"probe.py", "event.json", "request.json"})
      ::unlink((dir + "/" + f).c_str());
    ::system(("rm -rf " + dir + "/__pycache__").c_str());
    ::rmdir(dir.c_str());
  }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(dir + "/" + name) << text;
    return dir + "/" + name;
  }
  std::map<std::string, std::string> env() const { return {{"EXTENSION_RUNNER_HANDLER_DIR", dir}}; }
};

}  // namespace

TEST_CASE("invoke: one event, reply JSON on stdout with host-measured billing, exit 0") {
  Workdir w;
  const auto event = w.write("event.json", R"({"eventType":"INVOKE","n":42})");
  auto run = run_binary({"invoke", "--runtime", kPythonRunner, "--handler", "probe.handler",
                         "--event", event, "--memory", "512"},
                        w.env());
  INFO(run.err);
  CHECK(run.status.code == 0);
  const auto out = lines_of(run.out);
  REQUIRE(out.size() == 1);
  auto reply = parse_json(out[0]);
  REQUIRE(reply.ok());
  CHECK(json_string(*reply, "errortype") == "");
  CHECK(json_member(*reply, "errors") == nullptr);  // omitted when false
  const auto& result = (*reply)["result"];
  CHECK(json_int64(result["event"], "n") == 42);
  CHECK(json_string(result["context"], "aws_request_id") == json_string(*reply, "invokeid"));
  const auto& billing = (*reply)["billing"];
  REQUIRE(billing.IsObject());
  CHECK(billing["duration"].IsNumber());
  CHECK(billing["duration"].GetDouble() > 0);
  CHECK(billing["duration"].GetDouble() < 3000);  // within the deadline, not a timing target
  CHECK(json_string(billing, "memory") == "512");
  CHECK(json_int64(billing, "used").value_or(0) >= 1);
  CHECK_THAT(run.err, Catch::Contains("user print goes to stderr"));
}

TEST_CASE("invoke: a handler error is errors:true and exit 1") {
  Workdir w;
  const auto event = w.write("event.json", "{}");
  auto run = run_binary(
      {"invoke", "--runtime", kPythonRunner, "--handler", "probe.fail", "--event", event}, w.env());
  CHECK(run.status.code == 1);
  auto reply = parse_json(lines_of(run.out).at(0));
  REQUIRE(reply.ok());
  CHECK(json_bool(*reply, "errors") == true);
  CHECK(json_string(*reply, "errortype") == "ValueError");
}

TEST_CASE("invoke: a ProxyRequest's env reaches the child and its context passes through") {
  Workdir w;
  const auto request = w.write("request.json", R"({
    "context": {"aws_request_id": "proxy-req-1", "invoked_function_arn": "arn:aws:lambda:eu-west-1:1:function:f",
                "client_context": {"client": {"app_title": "demo"}, "custom": {"k": "v"}, "env": {}},
                "identity": {"cognito_identity_id": "id-1", "cognito_identity_pool_id": "pool-1"}},
    "remaining": 2500, "env": {"PROBE_VAR": "from-proxy-request"}, "event": {"hello": "world"}})");
  auto run = run_binary(
      {"invoke", "--runtime", kPythonRunner, "--handler", "probe.handler", "--request", request},
      w.env());
  INFO(run.err);
  CHECK(run.status.code == 0);
  auto reply = parse_json(lines_of(run.out).at(0));
  REQUIRE(reply.ok());
  CHECK(json_string(*reply, "invokeid") == "proxy-req-1");
  const auto& result = (*reply)["result"];
  CHECK(json_string(result, "var") == "from-proxy-request");
  CHECK(json_string(result["event"], "hello") == "world");
  const auto& context = result["context"];
  CHECK(json_string(context, "invoked_function_arn") == "arn:aws:lambda:eu-west-1:1:function:f");
  CHECK(json_string(context["client_context"]["client"], "app_title") == "demo");
  CHECK(json_string(context["identity"], "cognito_identity_pool_id") == "pool-1");
  // `remaining` set the deadline: now + 2500 ms, as epoch milliseconds.
  const auto deadline = json_int64(context, "deadline");
  REQUIRE(deadline.has_value());
  CHECK(*deadline > 1600000000000);
}

TEST_CASE("invoke --repeat prints every reply and a summary line") {
  Workdir w;
  const auto event = w.write("event.json", R"({"x":1})");
  auto run = run_binary({"invoke", "--runtime", kPythonRunner, "--event", event, "--repeat", "4"},
                        w.env());
  CHECK(run.status.code == 0);
  const auto out = lines_of(run.out);
  REQUIRE(out.size() == 5);
  auto summary = parse_json(out.back());
  REQUIRE(summary.ok());
  const auto& s = (*summary)["summary"];
  CHECK(json_int64(s, "invokes") == 4);
  CHECK(json_int64(s, "errors") == 0);
  CHECK(s["duration_ms"]["min"].GetDouble() <= s["duration_ms"]["median"].GetDouble());
  CHECK(s["duration_ms"]["median"].GetDouble() <= s["duration_ms"]["max"].GetDouble());
  CHECK(json_int64(s, "max_used_mb").value_or(0) >= 1);
}

TEST_CASE("invoke: usage errors and startup failures exit 2 with one clear line") {
  Workdir w;
  const auto event = w.write("event.json", "{}");
  const auto bad = w.write("request.json", R"({"context": 5})");
  struct Case {
    std::vector<std::string> args;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{"invoke", "--runtime", kPythonRunner}, "needs --event"},
      {{"invoke", "--event", event}, "needs the child runtime: --command"},
      {{"invoke", "--runtime", kPythonRunner, "--event", event, "--request", event}, "excludes"},
      {{"invoke", "--runtime", kPythonRunner, "--event", "/nonexistent.json"}, "cannot read"},
      {{"invoke", "--runtime", kPythonRunner, "--request", bad}, "--request"},
      {{"invoke", "--runtime", kPythonRunner, "--event", event, "--timeout", "0"}, "--timeout"},
      {{"invoke", "--runtime", "exit 3", "--event", event}, "Extension.ChildStartupFailed"},
      {{"invoke", "--runtime", kPythonRunner, "--handler", "nosuch.module", "--event", event},
       "cannot load handler"},
  };
  for (const auto& c : cases) {
    INFO(c.expect);
    auto run = run_binary(c.args, w.env());
    CHECK(run.status.code == 2);
    CHECK_THAT(run.err, Catch::Contains(c.expect));
  }
}

TEST_CASE("emulate with the Python example child: every event reaches it, make demo's path") {
  // timeoutMs 100: on a starved machine a POST may stay pending past the default 25 ms and the
  // platform model would drop the next batch; the counts below must be exact.
  auto run = run_binary(
      {"emulate", "--json", "--telemetry", "--buffer-timeout-ms=100", "--runtime", kPythonRunner},
      {});
  INFO(run.err);
  CHECK(run.status.success());
  // The echo handler logs one line per request it handled (INVOKE, TELEMETRY, SHUTDOWN).
  int invokes = 0, telemetry = 0, shutdown = 0;
  for (const auto& l : lines_of(run.err)) {
    if (l.find("echo handler got INVOKE") != std::string::npos) ++invokes;
    if (l.find("echo handler got TELEMETRY") != std::string::npos) ++telemetry;
    if (l.find("echo handler got SHUTDOWN") != std::string::npos) ++shutdown;
  }
  CHECK(invokes == 3);
  CHECK(telemetry >= 1);
  CHECK(shutdown == 1);
  CHECK_THAT(run.err, Catch::Contains("received=19 delivered=19 dropped=0"));  // 4 init + 3 × 5
  // The trace shows each child reply: 3 INVOKEs, the SHUTDOWN and the telemetry batches.
  int replies = 0;
  for (const auto& l : lines_of(run.out)) {
    auto doc = parse_json(l);
    if (doc.ok() && json_string(*doc, "what") == "reply") {
      ++replies;
      CHECK_THAT(json_string(*doc, "detail").value_or(""), Catch::Contains(" ok in "));
    }
  }
  CHECK(replies >= 4 + 1);
}
