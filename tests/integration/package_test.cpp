// Layers packaged by layer/package-extension.sh (what `make extension-layer` runs), unzipped
// into a scratch root as Lambda unpacks them into /opt, run in Lambda mode against the
// in-process emulator with no EXTENSION_RUNNER_* variable set: the layer's own
// extension-runner.json configures everything.
//
// ER_PACKAGED_RUN (set by layer/test-layer.sh) runs the shell-child case against a layer that is
// already unpacked elsewhere: a wrapper that starts the static binary in a chroot, whose child's
// folder is ER_PACKAGED_FOLDER.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/fake_platform/extensions_api.hpp"
#include "extension_runner/host/settings.hpp"
#include "support.hpp"

extern char** environ;

using namespace extension_runner;
using test_support::run_binary;

namespace {

const std::string kSource = ER_SOURCE_DIR;

int64_t in_ms(int64_t ms) { return wall_clock_ms() + ms; }

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

/** Runs argv to completion; its exit status and stderr. */
std::pair<ExitStatus, std::string> run_tool(const std::vector<std::string>& argv) {
  SpawnOptions o;
  o.argv = argv;
  o.pipe_stdin = false;
  auto child = ChildProcess::spawn(o);
  if (!child) return {{false, 127}, child.error().message};
  test_support::Drain out(std::move(child->stdout_fd()));
  test_support::Drain err(std::move(child->stderr_fd()));
  auto status = child->wait_for(std::chrono::seconds(60));
  if (!status) {
    child->signal_group(SIGKILL);
    status = child->wait();
  }
  (void)out.take();
  return {*status, err.take()};
}

/** Every EXTENSION_RUNNER_* variable: the table's and any other in this environment. */
std::vector<std::string> extension_variables() {
  std::vector<std::string> names = {"AWS_LAMBDA_RUNTIME_API"};
  for (const auto& s : settings()) {
    if (s.env.rfind("EXTENSION_RUNNER_", 0) == 0) names.push_back(s.env);
  }
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    if (entry.rfind("EXTENSION_RUNNER_", 0) == 0) names.push_back(entry.substr(0, entry.find('=')));
  }
  return names;
}

/** A scratch root: `<dir>/opt` is where layers are unzipped, as Lambda does into /opt. */
struct Root {
  std::string dir;
  Root() {
    char tmpl[] = "/tmp/er-package-XXXXXX";
    dir = ::mkdtemp(tmpl);
  }
  ~Root() { (void)!std::system(("rm -rf '" + dir + "'").c_str()); }
  Root(const Root&) = delete;
  Root& operator=(const Root&) = delete;
  std::string opt() const { return dir + "/opt"; }

  /** Packages `child_dir` as layer `name` (extra: package-extension.sh arguments), unzips it. */
  void add_layer(const std::string& name, const std::string& child_dir,
                 const std::vector<std::string>& extra = {}) const {
    const std::string zip = dir + "/" + name + ".zip";
    std::vector<std::string> argv = {kSource + "/layer/package-extension.sh",
                                     "--name",
                                     name,
                                     "--dir",
                                     child_dir,
                                     "--binary",
                                     test_support::binary_path(),
                                     "--zip",
                                     zip};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto [packaged, why] = run_tool(argv);
    INFO(why);
    REQUIRE(packaged.success());
    auto [unzipped, unzip_err] = run_tool({"unzip", "-q", "-o", zip, "-d", opt()});
    INFO(unzip_err);
    REQUIRE(unzipped.success());
  }

  /** A folder holding the shell child, for packaging with other settings. */
  std::string shell_child_copy(const std::string& name) const {
    std::string copy = dir + "/src-" + name;
    auto [copied, err] = run_tool({"cp", "-r", kSource + "/tests/data/shell-child", copy});
    INFO(err);
    REQUIRE(copied.success());
    std::remove((copy + "/extension-runner.json").c_str());
    return copy;
  }
};

/** One Lambda: the emulator with `invokes` INVOKEs and a SHUTDOWN queued. */
struct Lambda {
  Emulator api;
  explicit Lambda(int invokes) {
    REQUIRE(api.start().ok());
    for (int i = 1; i <= invokes; ++i) api.push_invoke("req-" + std::to_string(i), in_ms(10000));
    api.push_shutdown("spindown", in_ms(4000));
  }
  test_support::RunResult run(const std::string& exe,
                              std::map<std::string, std::string> env = {}) const {
    env["AWS_LAMBDA_RUNTIME_API"] = api.runtime_api();
    auto unset = extension_variables();
    for (const auto& [key, value] : env)
      unset.erase(std::remove(unset.begin(), unset.end(), key), unset.end());
    return run_binary({}, env, 30000, unset, exe);
  }
  std::string registered_name() const {
    const auto reg = api.calls_to(Endpoint::Register);
    return reg.empty() ? "" : reg[0].header("Lambda-Extension-Name");
  }
};

void check_every_event_reached(const test_support::RunResult& run, int invokes) {
  for (int i = 1; i <= invokes; ++i) {
    CHECK_THAT(run.err, Catch::Contains("shell child got INVOKE req-" + std::to_string(i)));
  }
  CHECK_THAT(run.err, Catch::Contains("shell child got SHUTDOWN"));
}

}  // namespace

TEST_CASE("package: a packaged layer runs its child on every event, no EXTENSION_RUNNER_* set") {
  // tests/data/shell-child/extension-runner.json: "./child.sh", handler shell.echo, working
  // directory "state" (so the command only starts because its first word is resolved).
  std::string exe = env_or("ER_PACKAGED_RUN", "");
  std::string folder = env_or("ER_PACKAGED_FOLDER", "/opt/shell-echo");
  Root root;
  if (exe.empty()) {
    root.add_layer("shell-echo", kSource + "/tests/data/shell-child");
    exe = root.opt() + "/extensions/shell-echo";
    folder = root.opt() + "/shell-echo";
  }
  Lambda lambda(3);
  auto run = lambda.run(exe);
  INFO(run.err);
  CHECK(run.status.success());
  CHECK(lambda.registered_name() == "shell-echo");
  CHECK(lambda.api.calls_to(Endpoint::InitError).empty());
  CHECK(lambda.api.calls_to(Endpoint::ExitError).empty());
  CHECK_THAT(run.err, Catch::Contains("shell child handler=shell.echo in " + folder + "/state"));
  CHECK_THAT(run.err, Catch::Contains("configuration file " + folder + "/extension-runner.json"));
  check_every_event_reached(run, 3);
}

TEST_CASE("package: examples/python packaged with COMMAND runs from the layer's folder") {
  Root root;
  root.add_layer(
      "py-echo", kSource + "/examples/python",
      {"--command", "python3 runner.py", "--set", "EXTENSION_RUNNER_STARTUP_TIMEOUT_MS=9000"});
  std::ifstream written(root.opt() + "/py-echo/extension-runner.json");
  std::string text((std::istreambuf_iterator<char>(written)), std::istreambuf_iterator<char>());
  CHECK_THAT(text, Catch::Contains(R"("EXTENSION_RUNNER_COMMAND": "python3 runner.py")"));
  Lambda lambda(2);
  auto run = lambda.run(root.opt() + "/extensions/py-echo");
  INFO(run.err);
  CHECK(run.status.success());
  CHECK(lambda.registered_name() == "py-echo");
  CHECK(lambda.api.calls_to(Endpoint::InitError).empty());
  // The child's stderr is logged with its name; each request id shows it got that INVOKE.
  for (const std::string id : {"req-1", "req-2"}) {
    bool seen = false;
    for (const auto& line : test_support::lines_of(run.err)) {
      seen = seen ||
             (line.find("[py-echo]") != std::string::npos && line.find(id) != std::string::npos);
    }
    CHECK(seen);
  }
}

TEST_CASE("package: two copies under different names read their own files; env applies to both") {
  Root root;
  root.add_layer("metrics", root.shell_child_copy("metrics"),
                 {"--command", "./child.sh", "--handler", "metrics.handle"});
  root.add_layer("forwarder", root.shell_child_copy("forwarder"),
                 {"--command", "./child.sh", "--handler", "forwarder.handle", "--set",
                  "EXTENSION_RUNNER_WORKING_DIR=state"});
  struct Case {
    std::string name;
    std::map<std::string, std::string> env;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"metrics", {}, "handler=metrics.handle in " + root.opt() + "/metrics"},
      {"forwarder", {}, "handler=forwarder.handle in " + root.opt() + "/forwarder/state"},
      {"metrics",
       {{"EXTENSION_RUNNER_HANDLER", "shared.handle"}},
       "handler=shared.handle in " + root.opt() + "/metrics"},
      {"forwarder",
       {{"EXTENSION_RUNNER_HANDLER", "shared.handle"}},
       "handler=shared.handle in " + root.opt() + "/forwarder/state"},
  };
  for (const auto& c : cases) {
    INFO(c.name << " " << c.expect);
    Lambda lambda(1);
    auto run = lambda.run(root.opt() + "/extensions/" + c.name, c.env);
    INFO(run.err);
    CHECK(run.status.success());
    CHECK(lambda.registered_name() == c.name);
    CHECK_THAT(run.err, Catch::Contains("shell child " + c.expect));
    check_every_event_reached(run, 1);
  }
}

TEST_CASE("package: a broken file in the layer is init/error Extension.ConfigInvalid, exit 2") {
  // Packaging refuses such a file (its check, tests/scripts/package_extension_test.sh): the
  // file is broken after unpacking, as a hand-edited layer would be.
  Root root;
  root.add_layer("broken", root.shell_child_copy("broken"), {"--command", "./child.sh"});
  std::ofstream(root.opt() + "/broken/extension-runner.json")
      << R"({"EXTENSION_RUNNER_COMMAND": "./child.sh", "EXTENSION_RUNNER_MAX_CRASHES": "many"})";
  Lambda lambda(1);
  auto run = lambda.run(root.opt() + "/extensions/broken");
  INFO(run.err);
  CHECK(run.status.code == 2);
  CHECK(lambda.registered_name() == "broken");
  const auto errors = lambda.api.calls_to(Endpoint::InitError);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].header("Lambda-Extension-Function-Error-Type") == "Extension.ConfigInvalid");
  const std::string file = root.opt() + "/broken/extension-runner.json";
  CHECK_THAT(errors[0].body, Catch::Contains(file + ": invalid EXTENSION_RUNNER_MAX_CRASHES"));
  CHECK_THAT(run.err, Catch::Contains(file + ": invalid EXTENSION_RUNNER_MAX_CRASHES"));
  CHECK_THAT(run.err, Catch::Contains("not an integer"));
}
