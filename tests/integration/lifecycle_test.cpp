// The real binary in Lambda mode against the in-process Extensions API emulator.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/json.hpp"
#include "extension_runner/fake_platform/extensions_api.hpp"
#include "support.hpp"

using namespace extension_runner;
using test_support::lines_of;
using test_support::run_binary;

namespace {

struct Lambda {
  Emulator api;
  Lambda() { REQUIRE(api.start().ok()); }
  std::map<std::string, std::string> env(std::map<std::string, std::string> extra = {}) const {
    extra["AWS_LAMBDA_RUNTIME_API"] = api.runtime_api();
    return extra;
  }
};

int64_t in_ms(int64_t ms) { return wall_clock_ms() + ms; }

}  // namespace

TEST_CASE("lifecycle: register shape as AWS documents it") {
  Lambda lambda;
  lambda.api.push_shutdown("spindown", in_ms(2000));
  auto run = run_binary({}, lambda.env(), 20000, {"EXTENSION_RUNNER_NAME"});
  INFO(run.err);
  CHECK(run.status.success());
  const auto reg = lambda.api.calls_to(Endpoint::Register);
  REQUIRE(reg.size() == 1);
  CHECK(reg[0].method == "POST");
  CHECK(reg[0].path == "/2020-01-01/extension/register");
  // The name must equal the executable's file name in /opt/extensions [EXT].
  CHECK(reg[0].header("Lambda-Extension-Name") == "extension-runner");
  CHECK(reg[0].header("Lambda-Extension-Accept-Feature") == "accountId");
  auto body = parse_json(reg[0].body);
  REQUIRE(body.ok());
  REQUIRE((*body)["events"].IsArray());
  CHECK(to_json((*body)["events"]) == R"(["INVOKE","SHUTDOWN"])");
  for (const auto& next : lambda.api.calls_to(Endpoint::Next)) {
    CHECK(next.header("Lambda-Extension-Identifier") == lambda.api.identifier());
  }
}

TEST_CASE(
    "lifecycle: 3 INVOKEs then SHUTDOWN, each printed as a JSON line, exit 0 before the deadline") {
  Lambda lambda;
  for (int i = 1; i <= 3; ++i) lambda.api.push_invoke("req-" + std::to_string(i), in_ms(5000));
  const int64_t shutdown_deadline = in_ms(2000);
  lambda.api.push_shutdown("SandboxTerminated", shutdown_deadline);
  auto run = run_binary({}, lambda.env());
  const int64_t exited = wall_clock_ms();
  INFO(run.err);
  CHECK(run.status.success());
  CHECK(exited < shutdown_deadline);
  const auto out = lines_of(run.out);
  REQUIRE(out.size() == 4);
  for (int i = 0; i < 3; ++i) {
    auto doc = parse_json(out[static_cast<size_t>(i)]);
    REQUIRE(doc.ok());
    CHECK(json_string(*doc, "eventType") == "INVOKE");
    CHECK(json_string(*doc, "requestId") == "req-" + std::to_string(i + 1));
  }
  auto last = parse_json(out[3]);
  REQUIRE(last.ok());
  CHECK(json_string(*last, "shutdownReason") == "SandboxTerminated");
  CHECK(lambda.api.calls_to(Endpoint::Next).size() == 4);
  CHECK(lambda.api.calls_to(Endpoint::ExitError).empty());
  CHECK(lambda.api.calls_to(Endpoint::InitError).empty());
}

TEST_CASE("lifecycle: 500 on /next → exit/error and a non-zero exit") {
  Lambda lambda;
  lambda.api.push_invoke("req-1", in_ms(5000));
  lambda.api.inject(Endpoint::Next, Fault{500, "Runtime.Unknown", "sandbox broke", 1, 1});
  auto run = run_binary({}, lambda.env());
  CHECK(run.status.code == 1);
  const auto errors = lambda.api.calls_to(Endpoint::ExitError);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].header("Lambda-Extension-Function-Error-Type") == "Extension.ApiFatal");
  auto body = parse_json(errors[0].body);
  REQUIRE(body.ok());
  CHECK(json_string(*body, "errorType") == "Extension.ApiFatal");
  CHECK_THAT(json_string(*body, "errorMessage").value_or(""), Catch::Contains("sandbox broke"));
  CHECK((*body)["stackTrace"].IsArray());
  CHECK(errors[0].status == 202);
  CHECK(lambda.api.calls_to(Endpoint::InitError).empty());
}

TEST_CASE("lifecycle: 403 on register → non-zero exit with the API's message in the log") {
  Lambda lambda;
  lambda.api.inject(Endpoint::Register, Fault{403, "Extension.InvalidExtensionName",
                                              "name does not match a file", 1, 0});
  auto run = run_binary({}, lambda.env());
  CHECK(run.status.code == 1);
  CHECK_THAT(run.err,
             Catch::Contains("Extension.InvalidExtensionName: name does not match a file"));
  CHECK(lambda.api.calls_to(Endpoint::Next).empty());
}

TEST_CASE("lifecycle: a malformed event is reported through exit/error") {
  Lambda lambda;
  lambda.api.push_raw_event(R"({"eventType":"INVOKE"})");
  auto run = run_binary({}, lambda.env());
  CHECK(run.status.code == 1);
  const auto errors = lambda.api.calls_to(Endpoint::ExitError);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].header("Lambda-Extension-Function-Error-Type") == "Extension.ProtocolError");
}

TEST_CASE(
    "lifecycle: the name follows the executable's basename, or --name / EXTENSION_RUNNER_NAME") {
  const std::string dir = "/tmp/er-name-" + std::to_string(::getpid());
  ::mkdir(dir.c_str(), 0755);
  const std::string link = dir + "/my-telemetry-ext";
  ::unlink(link.c_str());
  REQUIRE(::symlink(test_support::binary_path().c_str(), link.c_str()) == 0);
  {
    Lambda lambda;
    lambda.api.push_shutdown("spindown", in_ms(2000));
    auto run = run_binary({}, lambda.env(), 20000, {"EXTENSION_RUNNER_NAME"}, link);
    CHECK(run.status.success());
    CHECK(lambda.api.calls_to(Endpoint::Register).at(0).header("Lambda-Extension-Name") ==
          "my-telemetry-ext");
  }
  {
    Lambda lambda;
    lambda.api.push_shutdown("spindown", in_ms(2000));
    auto run =
        run_binary({"--name", "from-flag"}, lambda.env({{"EXTENSION_RUNNER_NAME", "from-env"}}));
    CHECK(run.status.success());
    CHECK(lambda.api.calls_to(Endpoint::Register).at(0).header("Lambda-Extension-Name") ==
          "from-flag");
  }
  {
    Lambda lambda;
    lambda.api.push_shutdown("spindown", in_ms(2000));
    auto run = run_binary({}, lambda.env({{"EXTENSION_RUNNER_NAME", "from-env"}}));
    CHECK(run.status.success());
    CHECK(lambda.api.calls_to(Endpoint::Register).at(0).header("Lambda-Extension-Name") ==
          "from-env");
  }
  ::unlink(link.c_str());
  ::rmdir(dir.c_str());
}

TEST_CASE(
    "lifecycle: an invalid setting inside Lambda → init/error Extension.ConfigInvalid, exit 2") {
  Lambda lambda;
  auto run = run_binary({}, lambda.env({{"EXTENSION_RUNNER_DISPATCH", "sometimes"}}));
  CHECK(run.status.code == 2);
  CHECK_THAT(run.err, Catch::Contains("EXTENSION_RUNNER_DISPATCH"));
  const auto errors = lambda.api.calls_to(Endpoint::InitError);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].header("Lambda-Extension-Function-Error-Type") == "Extension.ConfigInvalid");
  CHECK_THAT(errors[0].body, Catch::Contains("sometimes"));
}

TEST_CASE("lifecycle: usage errors exit 2 with one clear line") {
  struct Case {
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{}, {}, "AWS_LAMBDA_RUNTIME_API is not set"},
      {{"--no-such-flag"}, {}, "--no-such-flag"},
      {{"--log-level", "LOUD"}, {}, "AWS_LAMBDA_LOG_LEVEL (--log-level)"},
      {{"--startup-timeout-ms", "x"}, {}, "not an integer"},
  };
  for (const auto& c : cases) {
    INFO(c.expect);
    auto run = run_binary(c.args, c.env);
    CHECK(run.status.code == 2);
    CHECK_THAT(run.err, Catch::Contains(c.expect));
  }
}

TEST_CASE("lifecycle: --help and --version exit 0") {
  auto help = run_binary({"--help"}, {});
  CHECK(help.status.success());
  CHECK_THAT(help.out, Catch::Contains("--command") && Catch::Contains("EXTENSION_RUNNER_COMMAND"));
  auto version = run_binary({"--version"}, {});
  CHECK(version.status.success());
  CHECK_THAT(version.out, Catch::StartsWith("extension-runner "));
}

TEST_CASE("lifecycle: an unreachable Runtime API fails fast") {
  auto run = run_binary({}, {{"AWS_LAMBDA_RUNTIME_API", "127.0.0.1:1"}});
  CHECK_FALSE(run.timed_out);
  CHECK(run.status.code == 1);
  CHECK_THAT(run.err, Catch::Contains("register"));
}

TEST_CASE("lifecycle: AWS_LAMBDA_LOG_FORMAT=JSON makes every log line a JSON object") {
  Lambda lambda;
  lambda.api.push_shutdown("spindown", in_ms(2000));
  auto run = run_binary(
      {}, lambda.env({{"AWS_LAMBDA_LOG_FORMAT", "JSON"}, {"AWS_LAMBDA_LOG_LEVEL", "DEBUG"}}));
  CHECK(run.status.success());
  const auto lines = lines_of(run.err);
  REQUIRE_FALSE(lines.empty());
  for (const auto& l : lines) {
    INFO(l);
    auto doc = parse_json(l);
    REQUIRE(doc.ok());
    CHECK(json_string(*doc, "level").has_value());
    CHECK(json_string(*doc, "message").has_value());
    CHECK(json_string(*doc, "timestamp").has_value());
  }
}

TEST_CASE("lifecycle: emulate runs a whole local lifecycle and prints a trace") {
  auto run = run_binary({"emulate", "--invokes", "2", "--json"}, {});
  INFO(run.err);
  CHECK(run.status.success());
  int invokes = 0, shutdowns = 0;
  for (const auto& l : lines_of(run.out)) {
    auto doc = parse_json(l);
    if (!doc.ok() || !json_string(*doc, "what")) continue;  // event lines from the stdout handler
    const auto detail = json_string(*doc, "detail").value_or("");
    invokes += detail.rfind("INVOKE", 0) == 0 ? 1 : 0;
    shutdowns += detail.rfind("SHUTDOWN", 0) == 0 ? 1 : 0;
  }
  CHECK(invokes == 2);
  CHECK(shutdowns == 1);
}
