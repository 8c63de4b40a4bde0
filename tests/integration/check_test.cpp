// `extension-runner check`: the configuration a layer carries, loaded as Lambda mode loads it, and
// the files its child command names, checked without contacting anything. Each case lays out a
// scratch root as Lambda unpacks a layer into /opt (`opt/extensions/<name>` is the binary under
// test, `opt/<name>/extension-runner.json` and the child's files beside it) and runs `check`
// there with no EXTENSION_RUNNER_* variable but the case's own.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "extension_runner/core/fd.hpp"
#include "extension_runner/host/settings.hpp"
#include "support.hpp"

using namespace extension_runner;
using test_support::run_binary;
using test_support::RunResult;

namespace {

const std::string kName = "my-ext";

/** A scratch root holding one layer: `opt/extensions/my-ext` → the binary, `opt/my-ext/`. */
struct LayerRoot {
  std::string dir;
  LayerRoot() {
    char tmpl[] = "/tmp/er-check-XXXXXX";
    dir = ::mkdtemp(tmpl);
    REQUIRE(::mkdir((dir + "/opt").c_str(), 0755) == 0);
    REQUIRE(::mkdir((dir + "/opt/extensions").c_str(), 0755) == 0);
    REQUIRE(::mkdir(folder().c_str(), 0755) == 0);
    REQUIRE(::symlink(test_support::binary_path().c_str(), exe().c_str()) == 0);
  }
  ~LayerRoot() { (void)!std::system(("rm -rf '" + dir + "'").c_str()); }
  LayerRoot(const LayerRoot&) = delete;
  LayerRoot& operator=(const LayerRoot&) = delete;

  std::string exe() const { return dir + "/opt/extensions/" + kName; }
  std::string folder() const { return dir + "/opt/" + kName; }
  std::string config_file() const { return folder() + "/extension-runner.json"; }

  /** Writes `text` to `<folder>/<relative>` (its folders made), with `mode`. */
  void write(const std::string& relative, const std::string& text, mode_t mode = 0644) const {
    const std::string path = folder() + "/" + relative;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << text;
    REQUIRE(::chmod(path.c_str(), mode) == 0);
  }
};

/** Every setting's variable, unset for the run unless the case sets it. */
std::vector<std::string> unset_except(const std::map<std::string, std::string>& env) {
  std::vector<std::string> names;
  for (const auto& s : settings()) {
    if (env.count(s.env) == 0) names.push_back(s.env);
  }
  return names;
}

RunResult run_check(const LayerRoot& root, const std::map<std::string, std::string>& env = {},
                    const std::vector<std::string>& flags = {}) {
  std::vector<std::string> args = {"check"};
  args.insert(args.end(), flags.begin(), flags.end());
  return run_binary(args, env, 20000, unset_except(env), root.exe());
}

/** Lambda mode's words for the same configuration (printed before it looks for the API). */
std::string lambda_mode_message(const LayerRoot& root,
                                const std::map<std::string, std::string>& env) {
  auto run = run_binary({}, env, 20000, unset_except(env), root.exe());
  REQUIRE(run.status.code == 2);
  // Prefixed with the binary's own name, as the layer installs it (`my-ext: …`).
  const std::string prefix = kName + ": ";
  const auto line = test_support::lines_of(run.err).at(0);
  REQUIRE(line.rfind(prefix, 0) == 0);
  return line.substr(prefix.size());
}

struct BadCase {
  std::string what;
  std::string file;                     ///< The layer's extension-runner.json.
  std::map<std::string, mode_t> files;  ///< Other files of the child's folder, their modes.
  std::map<std::string, std::string> env;
  std::vector<std::string> expect;  ///< Parts of the message (`@` stands for the folder).
  bool config_error = true;         ///< Lambda mode refuses it too, in the same words.
};

std::string with_folder(std::string text, const LayerRoot& root) {
  for (size_t at = text.find('@'); at != std::string::npos; at = text.find('@'))
    text.replace(at, 1, root.folder());
  return text;
}

}  // namespace

TEST_CASE("check: a bad layer configuration is refused with exit 2, naming the problem") {
  const std::string py = R"({"EXTENSION_RUNNER_COMMAND": "/var/lang/bin/python3 main.py", )";
  const std::vector<BadCase> cases = {
      {"a misspelt key",
       py + R"("EXTENSION_RUNNER_FLSUH": "invoke"})",
       {{"main.py", 0644}},
       {},
       {"@/extension-runner.json: unknown key \"EXTENSION_RUNNER_FLSUH\"",
        "(did you mean EXTENSION_RUNNER_FLUSH?)"}},
      {"a value the setting does not take",
       py + R"("EXTENSION_RUNNER_FLUSH": "sometimes"})",
       {{"main.py", 0644}},
       {},
       {"@/extension-runner.json: invalid EXTENSION_RUNNER_FLUSH (--flush) 'sometimes'",
        "expected invoke, periodic[,MS] or adaptive"}},
      {"a number that is not one",
       py + R"("EXTENSION_RUNNER_MAX_CRASHES": "many"})",
       {{"main.py", 0644}},
       {},
       {"invalid EXTENSION_RUNNER_MAX_CRASHES", "not an integer"}},
      {"malformed JSON", R"({"EXTENSION_RUNNER_COMMAND": )", {}, {}, {"not valid JSON"}},
      {"an environment value the setting does not take",
       py + R"("EXTENSION_RUNNER_TELEMETRY": "telemetry"})",
       {{"main.py", 0644}},
       {{"EXTENSION_RUNNER_TELEMETRY", "loud"}},
       {"invalid EXTENSION_RUNNER_TELEMETRY (--telemetry) 'loud'"}},
      {"INVOKE on Managed Instances",
       py + R"("EXTENSION_RUNNER_EVENTS": "INVOKE,SHUTDOWN"})",
       {{"main.py", 0644}},
       {{"AWS_LAMBDA_INITIALIZATION_TYPE", "lambda-managed-instances"}},
       {"invalid EXTENSION_RUNNER_EVENTS", "SHUTDOWN only"}},
      {"a script that is not in the layer",
       R"({"EXTENSION_RUNNER_COMMAND": "/var/lang/bin/python3 mian.py"})",
       {{"main.py", 0644}},
       {},
       {"names the script mian.py (relative to the child's working directory @)",
        "@/mian.py is not there"},
       false},
      {"a script named by its /opt path that is not in the layer",
       R"({"EXTENSION_RUNNER_COMMAND": "/var/lang/bin/node --enable-source-maps /opt/my-ext/index.js"})",
       {{"main.js", 0644}},
       {},
       {"names the script /opt/my-ext/index.js, but @/index.js is not there"},
       false},
      {"a relative command that is not in the layer",
       R"({"EXTENSION_RUNNER_COMMAND": "./run.sh --verbose"})",
       {},
       {},
       {"names the command @/run.sh, which is not there"},
       false},
      {"a command that is not executable",
       R"({"EXTENSION_RUNNER_COMMAND": "bin/child"})",
       {{"bin/child", 0644}},
       {},
       {"names the command @/bin/child, which is not executable"},
       false},
      {"a working directory that is not there",
       R"({"EXTENSION_RUNNER_COMMAND": "./run.sh", "EXTENSION_RUNNER_WORKING_DIR": "state"})",
       {{"run.sh", 0755}},
       {},
       {"the child's working directory @/state", "is not a folder"},
       false},
  };
  for (const auto& c : cases) {
    SECTION(c.what) {
      LayerRoot root;
      root.write("extension-runner.json", c.file);
      for (const auto& [file, mode] : c.files) root.write(file, "#!/bin/sh\n", mode);
      auto run = run_check(root, c.env);
      INFO(run.out << run.err);
      CHECK(run.status.code == 2);
      CHECK(run.out.empty());
      REQUIRE(!run.err.empty());
      CHECK(run.err.rfind(kName + ": ", 0) == 0);  // the extension's name, not the binary's
      for (const auto& part : c.expect)
        CHECK_THAT(run.err, Catch::Contains(with_folder(part, root)));
      if (c.config_error) {
        // The words Lambda mode reports as init/error Extension.ConfigInvalid.
        CHECK_THAT(run.err, Catch::Contains(kName + ": " + lambda_mode_message(root, c.env)));
      }
    }
  }
}

TEST_CASE("check: a good layer passes with exit 0 and says what it checked") {
  struct GoodCase {
    std::string what;
    std::string file;
    std::map<std::string, std::string> env;
    std::vector<std::string> flags;
    std::vector<std::string> expect;  ///< On stdout (`@` = the folder).
  };
  const std::vector<GoodCase> cases = {
      {"an interpreter of the runtime and a script in the layer",
       R"({"EXTENSION_RUNNER_COMMAND": "/var/lang/bin/python3 -u main.py"})",
       {},
       {},
       {"configuration ok (configuration file @/extension-runner.json)",
        "present: @/main.py (script)",
        "not checked: /var/lang/bin/python3 (outside the layer: it must exist on the function's "
        "runtime)"}},
      {"a script named by its /opt path",
       R"({"EXTENSION_RUNNER_COMMAND": "/var/lang/bin/node /opt/my-ext/main.js"})",
       {},
       {},
       {"present: @/main.js (script)"}},
      {"an executable of the layer",
       R"({"EXTENSION_RUNNER_COMMAND": "./run.sh", "EXTENSION_RUNNER_TELEMETRY": "telemetry"})",
       {},
       {},
       {"present: @/run.sh (command)", "telemetry=telemetry-api"}},
      {"a module, no script file",
       R"({"EXTENSION_RUNNER_COMMAND": "python3 -m my_ext"})",
       {},
       {},
       {"not checked: python3 (looked up in PATH"}},
      {"the environment beats the file",
       R"({"EXTENSION_RUNNER_COMMAND": "./run.sh", "EXTENSION_RUNNER_FLUSH": "sometimes"})",
       {{"EXTENSION_RUNNER_FLUSH", "invoke"}},
       {},
       {"configuration ok"}},
      {"a flag beats the file",
       R"({"EXTENSION_RUNNER_COMMAND": "./run.sh", "EXTENSION_RUNNER_FLUSH": "sometimes"})",
       {},
       {"--flush", "periodic"},
       {"configuration ok"}},
  };
  for (const auto& c : cases) {
    SECTION(c.what) {
      LayerRoot root;
      root.write("extension-runner.json", c.file);
      root.write("main.py", "");
      root.write("main.js", "");
      root.write("run.sh", "#!/bin/sh\n", 0755);
      auto run = run_check(root, c.env, c.flags);
      INFO(run.out << run.err);
      CHECK(run.status.code == 0);
      for (const auto& part : c.expect)
        CHECK_THAT(run.out, Catch::Contains(with_folder(part, root)));
    }
  }
}

TEST_CASE("check: a bare python3 or node passes with a warning about the extension's PATH") {
  LayerRoot root;
  root.write("extension-runner.json", R"({"EXTENSION_RUNNER_COMMAND": "python3 main.py"})");
  root.write("main.py", "");
  auto run = run_check(root);
  INFO(run.out << run.err);
  CHECK(run.status.code == 0);
  CHECK_THAT(run.err, Catch::Contains(kName + ": warning: EXTENSION_RUNNER_COMMAND starts with "
                                              "python3"));
  CHECK_THAT(run.err, Catch::Contains("write /var/lang/bin/python3"));
  CHECK_THAT(run.out, Catch::Contains("present: " + root.folder() + "/main.py (script)"));
}

TEST_CASE("check: --config names the file; a missing one is an error") {
  LayerRoot root;
  const std::string elsewhere = root.dir + "/elsewhere.json";
  std::ofstream(elsewhere) << R"({"EXTENSION_RUNNER_DISPATCH": "sideways"})";
  const struct {
    std::string file;
    int code;
    std::string expect;
  } cases[] = {
      {elsewhere, 2, elsewhere + ": invalid EXTENSION_RUNNER_DISPATCH (--dispatch) 'sideways'"},
      {root.dir + "/none.json", 2, root.dir + "/none.json: cannot read"},
  };
  for (const auto& c : cases) {
    INFO(c.file);
    // The development binary under its own name: no layer around it, the flag alone says which
    // file.
    auto run = run_binary({"check", "--config", c.file}, {}, 20000, unset_except({}));
    INFO(run.out << run.err);
    CHECK(run.status.code == c.code);
    CHECK_THAT(run.err, Catch::Contains(c.expect));
  }
}

TEST_CASE("check: contacts nothing, even with AWS_LAMBDA_RUNTIME_API set") {
  // A listening socket that nothing may connect to: the kernel completes a connection attempt
  // into the backlog, so poll() sees it whether or not it is accepted.
  Fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(listener.valid());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(listener.get(), 8) == 0);
  REQUIRE(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  const std::string api = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  const struct {
    std::string file;
    int code;
  } cases[] = {
      {R"({"EXTENSION_RUNNER_COMMAND": "./run.sh", "EXTENSION_RUNNER_TELEMETRY": "telemetry"})", 0},
      {R"({"EXTENSION_RUNNER_COMMAND": "./run.sh", "EXTENSION_RUNNER_FLUSH": "sometimes"})", 2},
  };
  for (const auto& c : cases) {
    LayerRoot root;
    root.write("extension-runner.json", c.file);
    root.write("run.sh", "#!/bin/sh\n", 0755);
    auto run = run_check(root, {{"AWS_LAMBDA_RUNTIME_API", api}});
    INFO(run.out << run.err);
    CHECK(run.status.code == c.code);
    pollfd pending{listener.get(), POLLIN, 0};
    CHECK(::poll(&pending, 1, 0) == 0);
  }
}
