#include "extension_runner/core/text.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace extension_runner;

TEST_CASE("text: clip keeps short text and cuts long text with an ellipsis") {
  struct Case {
    const char* what;
    std::string text;
    size_t max;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"shorter than the limit", "abc", 5, "abc"},
      {"exactly the limit", "abcde", 5, "abcde"},
      {"one byte over", "abcdef", 5, "abcde…"},
      {"empty", "", 3, ""},
      {"limit zero", "abc", 0, "…"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    CHECK(clip(c.text, c.max) == c.expected);
  }
}
