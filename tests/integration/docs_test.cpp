// The README documents what the binary does (every setting appears in its configuration table),
// and docs/architecture.md's module map matches the folders of lib/.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <vector>

#include "extension_runner/host/settings.hpp"

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

// The architecture document's module map and the tree agree: every module file under lib/ is
// named in its part's row, and every part in the map is a folder.
TEST_CASE("docs: the architecture's module map names every module of every part") {
  namespace fs = std::filesystem;
  std::ifstream in(std::string(ER_SOURCE_DIR) + "/docs/architecture.md");
  REQUIRE(in.good());
  std::map<std::string, std::string> rows;  // "core" -> the row's text
  std::string line;
  bool in_map = false;
  while (std::getline(in, line)) {
    if (line.rfind("### Module map", 0) == 0)
      in_map = true;
    else if (in_map && line.rfind('#', 0) == 0)
      break;
    if (!in_map || line.rfind("| `", 0) != 0) continue;
    const auto end = line.find("/` |");
    if (end != std::string::npos) rows[line.substr(3, end - 3)] = line;
  }
  const std::vector<std::string> parts = {"core", "lambda",        "runner", "telemetry",
                                          "host", "fake_platform", "debug"};
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

namespace {

// The project's own text files: sources, scripts and docs (not build output, not .git).
std::vector<std::filesystem::path> project_text_files() {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  const fs::path root(ER_SOURCE_DIR);
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    const std::string name = it->path().filename().string();
    if (it->is_directory() && (name.rfind("build", 0) == 0 || name[0] == '.' || name == "corpus" ||
                               name == "node_modules" || name == "results")) {
      if (name != ".ci") {
        it.disable_recursion_pending();
        continue;
      }
    }
    if (!it->is_regular_file()) continue;
    const std::string ext = it->path().extension().string();
    if (ext == ".cpp" || ext == ".hpp" || ext == ".md" || ext == ".sh" || ext == ".mk" ||
        ext == ".py" || ext == ".js" || ext == ".yaml" || ext == ".cmake" || ext == ".txt" ||
        name == "Makefile" || name == "run") {
      files.push_back(it->path());
    }
  }
  return files;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

// The documentation stands on its own: a clone has everything it cites.
TEST_CASE("docs: no project file names a path outside the repository") {
  const std::vector<std::string> outside = {
      std::string("lambda") + "-apis", std::string("../") + "shared", std::string("/work") + "/"};
  const auto files = project_text_files();
  CHECK(files.size() > 100);
  for (const auto& file : files) {
    const std::string text = read_file(file);
    for (const auto& needle : outside) {
      INFO(file << " names " << needle);
      CHECK(text.find(needle) == std::string::npos);
    }
  }
}

TEST_CASE("docs: every citation key in code and docs is defined in docs/references.md") {
  const std::string references = read_file(std::string(ER_SOURCE_DIR) + "/docs/references.md");
  REQUIRE(!references.empty());
  // A citation is a key in capitals in brackets, alone or followed by a detail (a path, a
  // section), in C++ sources and Markdown.
  const std::regex citation(R"(\[([A-Z]{2,9})(?:[ \]]))");
  int cited = 0;
  for (const auto& file : project_text_files()) {
    const std::string ext = file.extension().string();
    if (ext != ".cpp" && ext != ".hpp" && ext != ".md") continue;
    const std::string text = read_file(file);
    for (auto it = std::sregex_iterator(text.begin(), text.end(), citation);
         it != std::sregex_iterator(); ++it) {
      std::string key = (*it)[1].str();
      // Log levels and placeholders in examples are not citations.
      static const std::set<std::string> kNotKeys = {"INFO", "WARN", "ERROR", "DEBUG", "TRACE",
                                                     "OK",   "FAIL", "TODO",  "NOTE",  "N"};
      if (kNotKeys.count(key) != 0) continue;
      std::transform(key.begin(), key.end(), key.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      INFO(file << " cites [" << (*it)[1].str() << "]");
      CHECK_THAT(references, Catch::Contains("id=\"" + key + "\""));
      ++cited;
    }
  }
  CHECK(cited > 50);
}
