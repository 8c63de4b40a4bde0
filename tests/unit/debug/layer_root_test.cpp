#include "extension_runner/debug/layer_root.hpp"

#include <catch2/catch.hpp>

using namespace extension_runner;

TEST_CASE("layer root: configuration values made runnable here") {
  const std::string root = "/tmp/scratch";
  const auto defaults = default_interpreters();
  struct Case {
    std::string value;
    std::vector<PathMapping> mappings;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"/var/lang/bin/python3 main.py", defaults, "python3 main.py"},
      {"/var/lang/bin/node /opt/my-ext/index.js", defaults, "node /tmp/scratch/my-ext/index.js"},
      {"exec /var/lang/bin/python3 -u x.py", defaults, "exec python3 -u x.py"},
      // Only whole paths: a longer interpreter name or path is left as it is.
      {"/var/lang/bin/python3.12 main.py", defaults, "/var/lang/bin/python3.12 main.py"},
      {"/usr/var/lang/bin/node x.js", defaults, "/usr/var/lang/bin/node x.js"},
      {"/var/lang/bin/python3 main.py",
       {{"/var/lang/bin/python3", "python3.11"}},
       "python3.11 main.py"},
      // /opt/ only where a path starts.
      {"/opt/my-ext/state", {}, "/tmp/scratch/my-ext/state"},
      {"/usr/opt/x /opt/y", {}, "/usr/opt/x /tmp/scratch/y"},
      {"--dir=/opt/a", {}, "--dir=/tmp/scratch/a"},
      {"./child.sh", defaults, "./child.sh"},
      {"", defaults, ""},
  };
  for (const auto& c : cases) {
    INFO(c.value);
    CHECK(localise_value(c.value, root, c.mappings) == c.expect);
  }
}

TEST_CASE("layer root: --interpreter takes LAMBDA_PATH=LOCAL") {
  auto ok = parse_path_mapping("/var/lang/bin/python3=/usr/bin/python3.11");
  REQUIRE(ok.ok());
  CHECK(ok->from == "/var/lang/bin/python3");
  CHECK(ok->to == "/usr/bin/python3.11");
  for (const std::string bad : {"", "python3", "=python3", "/var/lang/bin/node="}) {
    INFO(bad);
    auto r = parse_path_mapping(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::ConfigInvalid);
    CHECK_THAT(r.error().message, Catch::Contains("LAMBDA_PATH=LOCAL"));
  }
}
