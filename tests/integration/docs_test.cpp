// The README documents what the binary does: every setting appears in its configuration table,
// and its module map matches the folders of lib/.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "extension_runner/lambda/config.hpp"

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
    // The Kind column says what --help says, in words (SettingSpec::kind).
    CHECK_THAT(readme, Catch::Contains("`" + s.env + "` | `--" + s.flag + "` | " +
                                       s.kind.readme_text() + " |"));
  }
}

// The README's module map and the tree agree: every module file under lib/ is named in its
// part's row, and every part in the map is a folder.
TEST_CASE("docs: the README's module map names every module of every part") {
  namespace fs = std::filesystem;
  std::ifstream in(std::string(ER_SOURCE_DIR) + "/README.md");
  REQUIRE(in.good());
  std::map<std::string, std::string> rows;  // "core" -> the row's text
  std::string line;
  bool in_map = false;
  while (std::getline(in, line)) {
    if (line.rfind("### Module map", 0) == 0)
      in_map = true;
    else if (in_map && line.rfind("#", 0) == 0)
      break;
    if (!in_map || line.rfind("| `", 0) != 0) continue;
    const auto end = line.find("/` |");
    if (end != std::string::npos) rows[line.substr(3, end - 3)] = line;
  }
  const std::vector<std::string> parts = {"core", "lambda", "runner", "telemetry", "debug"};
  for (const auto& part : parts) REQUIRE(rows.count(part) == 1);
  const fs::path lib = fs::path(ER_SOURCE_DIR) / "lib";
  int modules = 0;
  for (const auto& dir : {lib / "src", lib / "include" / "extension_runner"}) {
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (!entry.is_directory()) continue;
      const std::string part = entry.path().filename().string();
      INFO("part folder " << entry.path());
      REQUIRE(rows.count(part) == 1);
      for (const auto& file : fs::directory_iterator(entry.path())) {
        const std::string module = file.path().stem().string();
        INFO(file.path());
        CHECK_THAT(rows[part], Catch::Contains("`" + module + "`"));
        ++modules;
      }
    }
  }
  CHECK(modules > 40);
}
