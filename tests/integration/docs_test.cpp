// The README documents what the binary does: every setting appears in its configuration table.
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "extension_runner/config.hpp"

TEST_CASE("docs: the README starts with the two commands and lists every setting") {
  std::ifstream in(std::string(ER_SOURCE_DIR) + "/README.md");
  REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  const std::string readme = text.str();
  const std::string head = readme.substr(0, 400);
  CHECK_THAT(head, Catch::Contains("make demo") && Catch::Contains("make test"));
  for (const auto& s : extension_runner::settings()) {
    INFO(s.env);
    CHECK_THAT(readme, Catch::Contains("`" + s.env + "` | `--" + s.flag + "`"));
  }
}
