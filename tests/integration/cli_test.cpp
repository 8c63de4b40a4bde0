// One command line: the child command has one name (--command, --runtime its alias), the
// telemetry values are the same before and after a subcommand, and each subcommand's --help
// lists the settings it accepts.
#include <catch2/catch.hpp>

#include "extension_runner/host/settings.hpp"
#include "support.hpp"

using test_support::run_binary;

namespace {

const std::string kPythonRunner =
    "python3 " + std::string(ER_SOURCE_DIR) + "/examples/python/runner.py";

// The telemetry API named by the init config line of an `emulate` run.
std::string telemetry_in_config_line(const std::string& log) {
  const std::string key = " telemetry=";
  const auto at = log.find(key);
  if (at == std::string::npos) return "absent";
  const auto begin = at + key.size();
  const auto end = log.find_first_not_of("abcdefghijklmnopqrstuvwxyz-", begin);
  return log.substr(begin, end - begin);
}

// Whether `text` names the flag as a whole word: ` --flag` then a blank or the end.
bool names_flag(const std::string& text, const std::string& flag) {
  const std::string word = " --" + flag;
  for (auto at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) {
    const auto after = at + word.size();
    if (after == text.size() || text[after] == ' ' || text[after] == '\n') return true;
  }
  return false;
}

}  // namespace

TEST_CASE("cli: invoke takes the child command as --command, --runtime or the setting") {
  struct Case {
    const char* what;
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
  };
  const std::vector<Case> cases = {
      {"--command after the subcommand", {"invoke", "--command", kPythonRunner}, {}},
      {"--runtime, the alias", {"invoke", "--runtime", kPythonRunner}, {}},
      {"--command before the subcommand", {"--command", kPythonRunner, "invoke"}, {}},
      {"EXTENSION_RUNNER_COMMAND", {"invoke"}, {{"EXTENSION_RUNNER_COMMAND", kPythonRunner}}},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto args = c.args;
    args.insert(args.end(),
                {"--event", std::string(ER_SOURCE_DIR) + "/tests/data/invoke-event.json"});
    auto run = run_binary(args, c.env);
    INFO(run.err);
    CHECK(run.status.code == 0);
    CHECK_THAT(run.out, Catch::Contains("\"invokeid\""));
  }
  auto none = run_binary(
      {"invoke", "--event", std::string(ER_SOURCE_DIR) + "/tests/data/invoke-event.json"}, {});
  CHECK(none.status.code == 2);
  CHECK_THAT(none.err, Catch::Contains("invoke needs the child runtime: --command"));
}

TEST_CASE("cli: --telemetry takes the same values before and after the emulate subcommand") {
  struct Case {
    std::vector<std::string> args;
    const char* expect;
  };
  const std::vector<Case> cases = {
      {{"emulate", "--invokes", "1", "--telemetry"}, "telemetry-api"},
      {{"emulate", "--invokes", "1", "--telemetry", "logs"}, "logs-api"},
      {{"emulate", "--invokes", "1", "--telemetry=off"}, "off"},
      {{"--telemetry", "logs", "emulate", "--invokes", "1"}, "logs-api"},
      {{"--telemetry", "telemetry", "emulate", "--invokes", "1"}, "telemetry-api"},
  };
  for (const auto& c : cases) {
    auto run = run_binary(c.args, {});
    INFO(run.err);
    CHECK(run.status.code == 0);
    CHECK(telemetry_in_config_line(run.err) == c.expect);
  }
  auto bad = run_binary({"emulate", "--telemetry", "sometimes"}, {});
  CHECK(bad.status.code == 2);
}

TEST_CASE("cli: each subcommand's --help lists every setting it accepts") {
  for (const char* sub : {"emulate", "invoke"}) {
    INFO(sub);
    auto run = run_binary({sub, "--help"}, {});
    CHECK(run.status.code == 0);
    for (const auto& s : extension_runner::settings()) {
      INFO(s.flag);
      CHECK(names_flag(run.out, s.flag));
    }
  }
}

TEST_CASE("cli: --flush none is refused with what to use instead") {
  auto run = run_binary({"--flush", "none", "emulate", "--invokes", "1"}, {});
  CHECK(run.status.code == 2);
  CHECK_THAT(run.err, Catch::Contains("use periodic"));
}
