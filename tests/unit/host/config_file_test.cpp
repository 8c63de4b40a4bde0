#include "extension_runner/host/config_file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>

#include "extension_runner/core/json.hpp"
#include "extension_runner/host/settings.hpp"
#include "test_env.hpp"

using namespace extension_runner;

using test_support::env_of;

namespace {

/** A scratch layer root (`<root>/<name>/extension-runner.json`), removed afterwards. */
struct Root {
  std::string dir;
  Root() {
    char tmpl[] = "/tmp/er-config-file-XXXXXX";
    dir = ::mkdtemp(tmpl);
  }
  ~Root() { (void)!std::system(("rm -rf '" + dir + "'").c_str()); }
  Root(const Root&) = delete;
  Root& operator=(const Root&) = delete;

  /** Writes `<root>/<name>/extension-runner.json`; returns its path. */
  std::string write(const std::string& name, const std::string& text) const {
    const std::string folder = dir + "/" + name;
    ::mkdir(folder.c_str(), 0755);
    std::string path = folder + "/" + kConfigFileName;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  ConfigFileLookup lookup(const std::string& name = "my-ext") const { return {name, dir}; }
};

}  // namespace

TEST_CASE("config file: precedence is flag > env > file > default") {
  struct Case {
    const char* what;
    std::optional<std::string> flag, env, file;  // file: a JSON value
    int expect;
  };
  const std::vector<Case> cases = {
      {"default", {}, {}, {}, 3},
      {"file beats default", {}, {}, "5", 5},
      {"file as a string", {}, {}, "\"6\"", 6},
      {"env beats file", {}, "7", "5", 7},
      {"flag beats env and file", "9", "7", "5", 9},
      {"flag beats file", "9", {}, "5", 9},
      {"flag beats env", "9", "7", {}, 9},
      {"an empty env value is unset: the file applies", {}, "", "5", 5},
      {"an empty string in the file is unset: the default applies", {}, {}, "\"\"", 3},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    Root root;
    if (c.file) root.write("my-ext", "{\"EXTENSION_RUNNER_MAX_CRASHES\": " + *c.file + "}");
    std::map<std::string, std::string> flags, env;
    if (c.flag) flags["max-crashes"] = *c.flag;
    if (c.env) env["EXTENSION_RUNNER_MAX_CRASHES"] = *c.env;
    auto config = load_config(flags, env_of(env), root.lookup());
    REQUIRE(config.ok());
    CHECK(config->runner.max_crashes == c.expect);
    CHECK(config->config_file == (c.file ? root.dir + "/my-ext/" + kConfigFileName : ""));
  }
}

TEST_CASE("config file: which file is read") {
  struct Case {
    const char* what;
    std::map<std::string, std::string> env;  // "@" in a value stands for the root
    std::string default_name;
    std::string expect_file;     // relative to the root, "" = none
    std::string expect_handler;  // each file sets its own handler
  };
  const std::vector<Case> cases = {
      {"the name from argv[0]", {}, "metrics", "metrics/extension-runner.json", "metrics.h"},
      {"another copy, another file",
       {},
       "forwarder",
       "forwarder/extension-runner.json",
       "forwarder.h"},
      {"EXTENSION_RUNNER_NAME picks the folder",
       {{"EXTENSION_RUNNER_NAME", "forwarder"}},
       "metrics",
       "forwarder/extension-runner.json",
       "forwarder.h"},
      {"EXTENSION_RUNNER_CONFIG names the file",
       {{"EXTENSION_RUNNER_CONFIG", "@/elsewhere.json"}},
       "metrics",
       "elsewhere.json",
       "elsewhere.h"},
      {"no file for this name", {}, "other", "", ""},
      {"the environment applies to every copy",
       {{"EXTENSION_RUNNER_HANDLER", "from-env"}},
       "forwarder",
       "forwarder/extension-runner.json",
       "from-env"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    Root root;
    root.write("metrics", R"({"EXTENSION_RUNNER_HANDLER": "metrics.h"})");
    root.write("forwarder", R"({"EXTENSION_RUNNER_HANDLER": "forwarder.h"})");
    std::ofstream(root.dir + "/elsewhere.json") << R"({"EXTENSION_RUNNER_HANDLER": "elsewhere.h"})";
    auto env = c.env;
    for (auto& [key, value] : env) {
      if (value[0] == '@') value = root.dir + value.substr(1);
    }
    auto config = load_config({}, env_of(env), root.lookup(c.default_name));
    REQUIRE(config.ok());
    CHECK(config->config_file == (c.expect_file.empty() ? "" : root.dir + "/" + c.expect_file));
    CHECK(config->runner.handler == c.expect_handler);
  }
  SECTION(
      "--config beats EXTENSION_RUNNER_CONFIG, and a relative path is the working directory's") {
    Root root;
    std::ofstream(root.dir + "/a.json") << R"({"EXTENSION_RUNNER_HANDLER": "a"})";
    std::ofstream(root.dir + "/b.json") << R"({"EXTENSION_RUNNER_HANDLER": "b"})";
    auto config = load_config({{"config", root.dir + "/a.json"}},
                              env_of({{"EXTENSION_RUNNER_CONFIG", root.dir + "/b.json"}}));
    REQUIRE(config.ok());
    CHECK(config->runner.handler == "a");
    char cwd[4096];
    REQUIRE(::getcwd(cwd, sizeof cwd) != nullptr);
    REQUIRE(::chdir(root.dir.c_str()) == 0);
    auto relative = load_config({{"config", "b.json"}}, env_of({}));
    REQUIRE(::chdir(cwd) == 0);
    REQUIRE(relative.ok());
    CHECK(relative->config_file == root.dir + "/b.json");
  }
}

TEST_CASE("config file: every error names the file, the key and the problem") {
  struct Case {
    const char* what;
    std::string text;
    std::vector<std::string> expect;  // substrings of the message, after the path
  };
  const std::vector<Case> cases = {
      {"unknown key",
       R"({"EXTENSION_RUNNER_COMAND": "x"})",
       {"unknown key \"EXTENSION_RUNNER_COMAND\""}},
      {"a number for a text setting",
       R"({"EXTENSION_RUNNER_COMMAND": 5})",
       {"key EXTENSION_RUNNER_COMMAND", "expected a string, got a number"}},
      {"a boolean for a text setting",
       R"({"EXTENSION_RUNNER_COMMAND": true})",
       {"key EXTENSION_RUNNER_COMMAND", "got a boolean"}},
      {"an array",
       R"({"EXTENSION_RUNNER_COMMAND": ["python3", "main.py"]})",
       {"key EXTENSION_RUNNER_COMMAND", "got an array"}},
      {"null", R"({"EXTENSION_RUNNER_HANDLER": null})", {"key EXTENSION_RUNNER_HANDLER", "null"}},
      {"an object", R"({"EXTENSION_RUNNER_HANDLER": {}})", {"got an object"}},
      {"a fraction for an integer setting",
       R"({"EXTENSION_RUNNER_MAX_CRASHES": 1.5})",
       {"key EXTENSION_RUNNER_MAX_CRASHES", "expected a string or an integer, got a number"}},
      {"an integer written as a double",
       R"({"EXTENSION_RUNNER_MAX_CRASHES": 2.0})",
       {"key EXTENSION_RUNNER_MAX_CRASHES", "expected a string or an integer"}},
      {"a boolean for an integer setting",
       R"({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": false})",
       {"key AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "got a boolean"}},
      {"a value the setting refuses",
       R"({"EXTENSION_RUNNER_DISPATCH": "later"})",
       {"invalid EXTENSION_RUNNER_DISPATCH (--dispatch) 'later': expected sync or async"}},
      {"an integer out of range",
       R"({"EXTENSION_RUNNER_MAX_CRASHES": 0})",
       {"invalid EXTENSION_RUNNER_MAX_CRASHES", "between 1 and 1000"}},
      {"the name cannot come from the file",
       R"({"EXTENSION_RUNNER_NAME": "x"})",
       {"key EXTENSION_RUNNER_NAME cannot be set in the file", "--name"}},
      {"nor the file",
       R"({"EXTENSION_RUNNER_CONFIG": "/other.json"})",
       {"key EXTENSION_RUNNER_CONFIG cannot be set in the file"}},
      {"a key twice",
       R"({"EXTENSION_RUNNER_HANDLER": "a", "EXTENSION_RUNNER_HANDLER": "b"})",
       {"key EXTENSION_RUNNER_HANDLER appears twice"}},
      {"not an object",
       R"(["EXTENSION_RUNNER_COMMAND"])",
       {"expected a JSON object of settings, got an array"}},
      {"malformed", R"({"EXTENSION_RUNNER_COMMAND": "x",)", {"not valid JSON"}},
      {"empty", "", {"not valid JSON"}},
      {"a byte-order mark", "\xEF\xBB\xBF{}", {"not valid JSON"}},
      {"a NUL byte",
       std::string("{\"EXTENSION_RUNNER_HANDLER\": \"a\0b\"}", 35),
       {"not valid JSON"}},
  };
  for (const auto& c : cases) {
    INFO(c.what << ": " << c.text);
    Root root;
    const std::string path = root.write("my-ext", c.text);
    auto config = load_config({}, env_of({}), root.lookup());
    REQUIRE_FALSE(config.ok());
    CHECK(config.error().kind == ErrorKind::ConfigInvalid);
    CHECK_THAT(config.error().message, Catch::StartsWith(path + ": "));
    for (const auto& e : c.expect) CHECK_THAT(config.error().message, Catch::Contains(e));
  }
}

TEST_CASE("config file: unreadable files are errors naming them; a missing default is none") {
  Root root;
  const std::string dir_as_file = root.dir + "/my-ext/" + kConfigFileName;
  REQUIRE(::mkdir((root.dir + "/my-ext").c_str(), 0755) == 0);
  REQUIRE(::mkdir(dir_as_file.c_str(), 0755) == 0);
  const std::string fifo = root.dir + "/fifo.json";
  REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
  const std::string big = root.dir + "/big.json";
  std::ofstream(big) << "{\"EXTENSION_RUNNER_HANDLER\": \"" << std::string(kMaxConfigFileBytes, 'x')
                     << "\"}";
  struct Case {
    const char* what;
    std::map<std::string, std::string> env;
    std::string name;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"a folder where the default file should be",
       {},
       "my-ext",
       dir_as_file + ": cannot read: not a regular file"},
      {"a missing EXTENSION_RUNNER_CONFIG",
       {{"EXTENSION_RUNNER_CONFIG", root.dir + "/missing.json"}},
       "other",
       root.dir + "/missing.json: cannot read: No such file or directory"},
      {"a FIFO (not waited on)",
       {{"EXTENSION_RUNNER_CONFIG", fifo}},
       "other",
       fifo + ": cannot read: not a regular file"},
      {"too large",
       {{"EXTENSION_RUNNER_CONFIG", big}},
       "other",
       big + ": larger than 1048576 bytes"},
      {"a NUL byte in the path",
       {{"EXTENSION_RUNNER_CONFIG", std::string("/tmp/a\0b", 8)}},
       "other",
       "invalid EXTENSION_RUNNER_CONFIG (--config)"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto config = load_config({}, env_of(c.env), root.lookup(c.name));
    REQUIRE_FALSE(config.ok());
    CHECK(config.error().kind == ErrorKind::ConfigInvalid);
    CHECK_THAT(config.error().message, Catch::Contains(c.expect));
  }
  auto none = load_config({}, env_of({}), root.lookup("no-such-extension"));
  REQUIRE(none.ok());
  CHECK(none->config_file.empty());
  CHECK(none->runner.working_dir.empty());
}

TEST_CASE("config file: an invalid environment value is not blamed on the file") {
  Root root;
  root.write("my-ext", R"({"EXTENSION_RUNNER_DISPATCH": "async"})");
  auto config = load_config({}, env_of({{"EXTENSION_RUNNER_DISPATCH", "later"}}), root.lookup());
  REQUIRE_FALSE(config.ok());
  CHECK_THAT(config.error().message,
             Catch::StartsWith("invalid EXTENSION_RUNNER_DISPATCH (--dispatch) 'later'"));
}

TEST_CASE("config file: every setting of the table is a key of the file") {
  // Rows added later work in the file without further code: a row with a default takes that
  // default (as the JSON type setting_type() says), and any row refuses an array, naming it.
  for (const auto& spec : settings()) {
    if (spec.env == "EXTENSION_RUNNER_CONFIG" || spec.env == "EXTENSION_RUNNER_NAME") continue;
    INFO(spec.env);
    Root root;
    if (!spec.default_value.empty()) {
      const std::string value = setting_type(spec) == SettingType::Text
                                    ? json_quote(spec.default_value)
                                    : spec.default_value;
      root.write("my-ext", "{\"" + spec.env + "\": " + value + "}");
      auto config = load_config({}, env_of({}), root.lookup());
      CHECK(config.ok());
    }
    const std::string path = root.write("my-ext", "{\"" + spec.env + "\": [1]}");
    auto config = load_config({}, env_of({}), root.lookup());
    REQUIRE_FALSE(config.ok());
    CHECK_THAT(config.error().message, Catch::StartsWith(path + ": key " + spec.env + ": "));
  }
}

TEST_CASE("config file: setting types follow the defaults unless a row says otherwise") {
  auto type_of = [](const std::string& env) {
    for (const auto& s : settings()) {
      if (s.env == env) return setting_type(s);
    }
    FAIL("no setting " << env);
    return SettingType::FromDefault;
  };
  CHECK(type_of("EXTENSION_RUNNER_COMMAND") == SettingType::Text);
  CHECK(type_of("EXTENSION_RUNNER_DISPATCH") == SettingType::Text);
  CHECK(type_of("EXTENSION_RUNNER_MAX_CRASHES") == SettingType::Integer);
  CHECK(type_of("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") == SettingType::Integer);
  const auto row = [](std::string default_value, SettingType type = SettingType::FromDefault) {
    SettingSpec spec;
    spec.env = "X";
    spec.default_value = std::move(default_value);
    spec.type = type;
    return spec;
  };
  CHECK(setting_type(row("true")) == SettingType::Boolean);
  CHECK(setting_type(row("-5")) == SettingType::Integer);
  CHECK(setting_type(row("-")) == SettingType::Text);
  CHECK(setting_type(row("10", SettingType::Text)) == SettingType::Text);
}

TEST_CASE("config file: the child's working directory and command") {
  struct Case {
    const char* what;
    std::string file;                        // the file's settings (JSON members)
    std::map<std::string, std::string> env;  // "@" stands for the file's folder
    std::string expect_working_dir;          // "@" = the file's folder
    std::string expect_command;
  };
  const std::vector<Case> cases = {
      {"the file's folder by default",
       R"("EXTENSION_RUNNER_COMMAND": "python3 main.py")",
       {},
       "@",
       "python3 main.py"},
      {"a relative working directory from the file is its folder's",
       R"("EXTENSION_RUNNER_COMMAND": "./run.sh", "EXTENSION_RUNNER_WORKING_DIR": "data")",
       {},
       "@/data",
       "@/run.sh"},
      {"an absolute one is kept",
       R"("EXTENSION_RUNNER_COMMAND": "bin/child -v", "EXTENSION_RUNNER_WORKING_DIR": "/tmp")",
       {},
       "/tmp",
       "@/bin/child -v"},
      {"from the environment it is left to the host's working directory",
       R"("EXTENSION_RUNNER_COMMAND": "./run.sh")",
       {{"EXTENSION_RUNNER_WORKING_DIR", "data"}},
       "data",
       "@/run.sh"},
      {"a command from the environment is not rewritten, but runs in the file's folder",
       R"("EXTENSION_RUNNER_HANDLER": "h")",
       {{"EXTENSION_RUNNER_COMMAND", "./run.sh"}},
       "@",
       "./run.sh"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    Root root;
    root.write("my-ext", "{" + c.file + "}");
    const std::string folder = root.dir + "/my-ext";
    auto at = [&](std::string s) {
      if (!s.empty() && s[0] == '@') s = folder + s.substr(1);
      return s;
    };
    auto env = c.env;
    for (auto& [key, value] : env) value = at(value);
    auto config = load_config({}, env_of(env), root.lookup());
    REQUIRE(config.ok());
    CHECK(config->runner.working_dir == at(c.expect_working_dir));
    CHECK(config->runner.command == at(c.expect_command));
  }
  auto none = load_config({{"working-dir", "rel"}, {"command", "./x"}}, env_of({}));
  REQUIRE(none.ok());
  CHECK(none->runner.working_dir == "rel");
  CHECK(none->runner.command == "./x");
}

TEST_CASE("config file: resolve_file_command makes a relative first word absolute") {
  struct Case {
    std::string command, folder, expect;
  };
  const std::vector<Case> cases = {
      {"python3 main.py", "/opt/x", "python3 main.py"},
      {"/var/lang/bin/python3 main.py", "/opt/x", "/var/lang/bin/python3 main.py"},
      {"./run.sh --flag a", "/opt/x", "/opt/x/run.sh --flag a"},
      {"bin/child", "/opt/x", "/opt/x/bin/child"},
      {"../common/run.sh", "/opt/x", "/opt/x/../common/run.sh"},
      {"  ./run.sh", "/opt/x", "  /opt/x/run.sh"},
      {"./run.sh", "/opt/my ext", "'/opt/my ext'/run.sh"},
      {"./run.sh", "/opt/it's", "'/opt/it'\\''s'/run.sh"},
      {"./run.sh", "/", "/run.sh"},
      {"'./my run.sh' a", "/opt/x", "'./my run.sh' a"},
      {"FOO=1 ./run.sh", "/opt/x", "FOO=1 ./run.sh"},
      {"$HOME/run.sh", "/opt/x", "$HOME/run.sh"},
      {"exec ./run.sh", "/opt/x", "exec ./run.sh"},
      {"", "/opt/x", ""},
  };
  for (const auto& c : cases) {
    INFO(c.command << " in " << c.folder);
    CHECK(resolve_file_command(c.command, c.folder) == c.expect);
  }
}

TEST_CASE("config file: layer_root_of is the folder above the binary's") {
  char cwd[4096];
  REQUIRE(::getcwd(cwd, sizeof cwd) != nullptr);
  const std::string here = cwd;
  const std::string parent = here == "/" ? "/" : here.substr(0, here.rfind('/'));
  struct Case {
    std::string argv0, expect;
  };
  const std::vector<Case> cases = {
      {"/opt/extensions/my-ext", "/opt"},
      {"/opt/extensions//my-ext", "/opt"},
      {"my-ext", "/opt"},
      {"/my-ext", "/"},
      {"extensions/my-ext", here == "/" ? "/" : here},
      {"./my-ext", parent.empty() ? "/" : parent},
      {"/scratch/root/opt/./extensions/my-ext", "/scratch/root/opt"},
  };
  for (const auto& c : cases) {
    INFO(c.argv0);
    CHECK(layer_root_of(c.argv0) == c.expect);
  }
}
