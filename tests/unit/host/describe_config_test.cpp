// The one INFO line at init: what it says for each configuration, and that it holds no secret.
#include <catch2/catch.hpp>

#include "extension_runner/host/settings.hpp"
#include "test_env.hpp"

using namespace extension_runner;
using test_support::env_of;

TEST_CASE("describe_config: the line for each kind of configuration") {
  struct Case {
    std::map<std::string, std::string> env;
    std::vector<std::string> contains;
    std::vector<std::string> lacks;
  };
  const std::vector<Case> cases = {
      {{},
       {"config: ", "platform=lambda", "events=INVOKE,SHUTDOWN", "child=none", "telemetry=off",
        "api-timeout=2000ms", "runtime-api=unset", "config-file=none"},
       {"dispatch=", "types=", "listen="}},
      {{{"EXTENSION_RUNNER_COMMAND", "python3 runner.py"},
        {"EXTENSION_RUNNER_DISPATCH", "async"},
        {"AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"}},
       {"child=\"python3 runner.py\"", "dispatch=async", "startup-timeout=5000ms",
        "child-start=init", "runtime-api=127.0.0.1:9001"},
       {"child=none"}},
      {{{"EXTENSION_RUNNER_TELEMETRY", "telemetry"}},
       {"telemetry=telemetry-api", "types=platform,function", "schema=2025-01-29", "protocol=http",
        "flush=adaptive", "flush-waits=yes", "listen=0.0.0.0:0",
        "buffering=1000items/262144B/25ms"},
       {}},
      {{{"EXTENSION_RUNNER_TELEMETRY", "logs"},
        {"EXTENSION_RUNNER_TELEMETRY_TYPES", "function"},
        {"EXTENSION_RUNNER_LISTEN", "127.0.0.1:4243"}},
       {"telemetry=logs-api", "types=function", "schema=2021-03-18", "flush-waits=no",
        "listen=127.0.0.1:4243"},
       {}},
      {{{"EXTENSION_RUNNER_TELEMETRY", "telemetry"}, {"EXTENSION_RUNNER_FLUSH", "periodic,500"}},
       {"flush=periodic,500ms", "flush-waits=no"},
       {"flush=adaptive"}},
      {{{"EXTENSION_RUNNER_TELEMETRY", "telemetry"},
        {"EXTENSION_RUNNER_TELEMETRY_PROTOCOL", "tcp"}},
       {"protocol=tcp"},
       {"protocol=http"}},
      {{{"AWS_LAMBDA_INITIALIZATION_TYPE", "lambda-managed-instances"},
        {"EXTENSION_RUNNER_TELEMETRY", "telemetry"}},
       {"platform=managed-instances(AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances)",
        "events=SHUTDOWN ", "flush-waits=no"},
       {"INVOKE"}},
      {{{"EXTENSION_RUNNER_API_TIMEOUT_MS", "750"}}, {"api-timeout=750ms"}, {}},
      {{{"EXTENSION_RUNNER_COMMAND", "x"}, {"EXTENSION_RUNNER_CHILD_START", "background"}},
       {"child-start=background"},
       {}},
      {{{"EXTENSION_RUNNER_COMMAND", "x"}}, {"child="}, {"proxy=", "hook-timeout="}},
      {{{"EXTENSION_RUNNER_COMMAND", "x"},
        {"EXTENSION_RUNNER_PROXY", "intercept"},
        {"EXTENSION_RUNNER_PROXY_FAIL", "closed"},
        {"EXTENSION_RUNNER_PROXY_HOOK_TIMEOUT_MS", "300"},
        {"EXTENSION_RUNNER_PROXY_NEXT_WRAPPER", "/opt/w"}},
       {"proxy=intercept", "hook-timeout=300ms", "proxy-fail=closed", "next-wrapper=/opt/w"},
       {}},
  };
  for (const auto& c : cases) {
    auto config = load_config({}, env_of(c.env));
    REQUIRE(config.ok());
    const std::string line = describe_config(*config);
    INFO(line);
    CHECK(line.find('\n') == std::string::npos);
    for (const auto& want : c.contains) CHECK_THAT(line, Catch::Contains(want));
    for (const auto& unwanted : c.lacks) CHECK_THAT(line, !Catch::Contains(unwanted));
  }
}

TEST_CASE("describe_config: assignments in the child command never show their values") {
  struct Case {
    std::string command, shown;
  };
  const std::vector<Case> cases = {
      {"AWS_SECRET_ACCESS_KEY=s3cr3t python3 r.py", "AWS_SECRET_ACCESS_KEY=*** python3 r.py"},
      {"env TOKEN=\"a b s3cr3t\" node x.js", "env TOKEN=*** node x.js"},
      {"A=1 B='s3cr3t c' run", "A=*** B=*** run"},
      {"python3 r.py --level=3", "python3 r.py --level=3"},
  };
  for (const auto& c : cases) {
    auto config = load_config({{"command", c.command}}, env_of({}));
    REQUIRE(config.ok());
    const std::string line = describe_config(*config);
    INFO(line);
    CHECK_THAT(line, !Catch::Contains("s3cr3t"));
    CHECK_THAT(line, Catch::Contains(c.shown));
  }
}
