// The Runtime API proxy in the real binary (Lambda mode): started before /register, its
// address in $TMPDIR for `wrap`, stopped at SHUTDOWN with its counters line.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>

#include "extension_runner/core/clock.hpp"
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
    CHECK(f.api.calls_to(Endpoint::InitError).size() == (c.init_error ? 1U : 0U));
    CHECK(run.status.success() != c.init_error);
  }
}

TEST_CASE("proxy host: wrap runs the command with the proxy's address, or unchanged") {
  // The command prints the Runtime API it was given and its arguments.
  const std::vector<std::string> print = {
      "--", "sh", "-c", "echo \"api=$AWS_LAMBDA_RUNTIME_API args=$*\"", "cmd", "a b", "c"};
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
      {"proxy off", {}, true, "api=" + real + " args=a b c\n", "", 0},
      {"proxy on, address written",
       {{"EXTENSION_RUNNER_PROXY", "intercept"}},
       true,
       "api=127.0.0.1:4567 args=a b c\n",
       "",
       0},
      {"proxy on, no address file",
       {{"EXTENSION_RUNNER_PROXY", "observe"}},
       false,
       "api=" + real + " args=a b c\n",
       "no proxy address in",
       0},
      {"a bad setting",
       {{"EXTENSION_RUNNER_PROXY", "sometimes"}},
       true,
       "api=" + real + " args=a b c\n",
       "EXTENSION_RUNNER_PROXY",
       0},
      {"a next wrapper",
       {{"EXTENSION_RUNNER_PROXY", "observe"}, {"EXTENSION_RUNNER_PROXY_NEXT_WRAPPER", "NEXT"}},
       true,
       "next wrapper\napi=127.0.0.1:4567 args=a b c\n",
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
