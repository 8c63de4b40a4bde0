#include <catch2/catch.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "extension_runner/runner/child_invoker.hpp"

using namespace extension_runner;
using Env = std::map<std::string, std::string>;

TEST_CASE("startup request: the handshake with and without a registration") {
  RunnerOptions runner;
  runner.handler = "app.handle";
  runner.memory_size = "512";
  const RegisteredFunction full{R"({"functionName":"fn"})", "fn", "$LATEST", "index.handler",
                                "123456789012"};
  const RegisteredFunction sparse{"{}", "fn", "", "", ""};
  struct Case {
    const char* what;
    std::optional<RegisteredFunction> registration;
    std::string function_json;
    Env env;
  };
  const std::vector<Case> cases = {
      {"a registration names the function and this extension in env",
       full,
       R"({"functionName":"fn"})",
       {{"AWS_LAMBDA_FUNCTION_NAME", "fn"},
        {"AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"},
        {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"},
        {"EXTENSION_RUNNER_FUNCTION_HANDLER", "index.handler"},
        {"EXTENSION_RUNNER_ACCOUNT_ID", "123456789012"},
        {"EXTENSION_RUNNER_HANDLER", "app.handle"},
        {"EXTENSION_RUNNER_NAME", "ext"}}},
      {"empty fields of a registration are left out of env",
       sparse,
       "{}",
       {{"AWS_LAMBDA_FUNCTION_NAME", "fn"},
        {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"},
        {"EXTENSION_RUNNER_HANDLER", "app.handle"},
        {"EXTENSION_RUNNER_NAME", "ext"}}},
      {"without a registration (invoke mode) function is {} and env empty", std::nullopt, "{}", {}},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    const StartupRequest s = startup_request(runner, "ext", "invoke", "lambda", c.registration);
    CHECK(s.handler == "app.handle");
    CHECK(s.name == "ext");
    CHECK(s.mode == "invoke");
    CHECK(s.platform == "lambda");
    CHECK(s.version == kProtocolVersion);
    CHECK(s.function_json == c.function_json);
    CHECK(s.env == c.env);
  }
}
