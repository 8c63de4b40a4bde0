// `extension-runner emulate --layer ZIP`: a layer packaged by layer/package-extension.sh (what
// `make extension-layer` runs) tried in one command, as a user would: subprocess, trace on
// stdout, the scratch folder gone afterwards.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <csignal>
#include <cstdlib>
#include <fstream>

#include "support.hpp"

using namespace extension_runner;
using test_support::run_binary;

namespace {

const std::string kSource = ER_SOURCE_DIR;

/** A folder of its own, as TMPDIR for the run: what emulate --layer leaves there is visible. */
struct Scratch {
  std::string dir;
  Scratch() {
    char tmpl[] = "/tmp/er-emulate-layer-XXXXXX";
    dir = ::mkdtemp(tmpl);
  }
  ~Scratch() { (void)!std::system(("rm -rf '" + dir + "'").c_str()); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    DIR* d = ::opendir(dir.c_str());
    while (const dirent* e = d ? ::readdir(d) : nullptr) {
      const std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    if (d) ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }

  /** examples/python packaged as layer `name`, its command naming Lambda's interpreter. */
  std::string package_python(const std::string& name) const {
    std::string zip = dir + "/" + name + ".zip";
    auto run = run_binary(
        {"--name", name, "--dir", kSource + "/examples/python", "--binary",
         test_support::binary_path(), "--zip", zip, "--command", "/var/lang/bin/python3 runner.py"},
        {}, 60000, {}, kSource + "/layer/package-extension.sh");
    INFO(run.err);
    REQUIRE(run.status.success());
    return zip;
  }
};

int count_of(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("emulate --layer: a packaged Python layer runs with its own file, then is removed") {
  Scratch scratch;
  const std::string zip = scratch.package_python("py-layer");
  // The caller's own settings must not reach the layer: it is configured by its file alone.
  auto run = run_binary({"emulate", "--layer", zip, "--invokes", "2"},
                        {{"TMPDIR", scratch.dir}, {"EXTENSION_RUNNER_COMMAND", "false"}}, 30000);
  INFO(run.out << run.err);
  CHECK(run.status.success());
  CHECK_THAT(run.err, Catch::Contains("py-layer: emulate --layer: extensions/py-layer"));
  CHECK_THAT(run.err, Catch::Contains("/py-layer/extension-runner.json"));
  CHECK_THAT(run.err, Catch::Contains("child=\"python3 runner.py\""));
  CHECK_THAT(run.err, Catch::Contains("registered as 'py-layer'"));
  CHECK(count_of(run.out, " ok in ") == 3);  // 2 INVOKEs and the SHUTDOWN
  CHECK_THAT(run.out, Catch::Contains("exit code 0"));
  CHECK(scratch.entries() == std::vector<std::string>{"py-layer.zip"});
}

TEST_CASE("emulate --layer: --interpreter maps Lambda's path to a local program") {
  Scratch scratch;
  const std::string zip = scratch.package_python("py-mapped");
  // A mapping to a program that does not exist: the configuration line shows it in place.
  auto run = run_binary({"emulate", "--layer", zip, "--invokes", "1", "--interpreter",
                         "/var/lang/bin/python3=/nonexistent/python3"},
                        {{"TMPDIR", scratch.dir}}, 30000);
  INFO(run.out << run.err);
  CHECK_THAT(run.err, Catch::Contains("child=\"/nonexistent/python3 runner.py\""));
  CHECK(scratch.entries() == std::vector<std::string>{"py-mapped.zip"});
}

TEST_CASE("emulate --layer: what is not a runnable layer is a usage error, nothing left behind") {
  Scratch scratch;
  const std::string not_zip = scratch.dir + "/not-a.zip";
  std::ofstream(not_zip) << "this is no zip\n";
  const std::string empty_dir = scratch.dir + "/empty";
  REQUIRE(::mkdir(empty_dir.c_str(), 0755) == 0);
  std::ofstream(empty_dir + "/readme.txt") << "no extension here\n";
  const std::string no_ext = scratch.dir + "/no-ext.zip";
  auto zipped = run_binary({"-q", "-j", no_ext, empty_dir + "/readme.txt"}, {}, 20000, {}, "zip");
  REQUIRE(zipped.status.success());
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"emulate", "--layer", scratch.dir + "/missing.zip"}, "missing.zip: no such file"},
      {{"emulate", "--layer", not_zip}, "unzip failed"},
      {{"emulate", "--layer", no_ext}, "not an extension layer"},
      {{"emulate", "--layer", no_ext, "--interpreter", "python3"}, "LAMBDA_PATH=LOCAL"},
  };
  for (const auto& c : cases) {
    INFO(c.says);
    auto run = run_binary(c.args, {{"TMPDIR", scratch.dir}}, 20000);
    INFO(run.err);
    CHECK(run.status.code == 2);
    CHECK_THAT(run.err, Catch::Contains(c.says));
    const auto left = scratch.entries();
    CHECK(std::none_of(left.begin(), left.end(), [](const std::string& n) {
      return n.rfind("extension-runner-layer.", 0) == 0;
    }));
  }
}

TEST_CASE("emulate --layer: Ctrl-C reaches the layer's binary: SHUTDOWN, clean exit, removed") {
  Scratch scratch;
  const std::string zip = scratch.package_python("py-sigint");
  const std::string scenario = scratch.dir + "/idle.json";
  std::ofstream(scenario) << R"({"invokes":3,"spacingMs":60000})";
  SpawnOptions o;
  o.argv = {
      test_support::binary_path(), "emulate", "--json", "--layer", zip, "--scenario", scenario};
  o.set_env = {{"TMPDIR", scratch.dir}};
  o.pipe_stdin = false;
  auto child = ChildProcess::spawn(o);
  REQUIRE(child.ok());
  test_support::Drain err(std::move(child->stderr_fd()));
  std::string out = test_support::read_until(child->stdout_fd().get(), R"("detail":"INVOKE)");
  REQUIRE(out.find(R"("detail":"INVOKE)") != std::string::npos);
  child->signal_group(SIGINT);  // our group only: the layer's binary runs in a group of its own
  test_support::Drain rest(std::move(child->stdout_fd()));
  auto status = child->wait_for(std::chrono::milliseconds(15000));
  REQUIRE(status.has_value());
  out += rest.take();
  INFO(out << err.take());
  CHECK(status->success());
  CHECK_THAT(out, Catch::Contains("SHUTDOWN reason=SandboxTerminated"));
  const auto left = scratch.entries();
  CHECK(left == std::vector<std::string>{"idle.json", "py-sigint.zip"});
}
