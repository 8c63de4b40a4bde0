// The settings table's kinds: what --help and the README promise is what load_config accepts.
#include <catch2/catch.hpp>

#include "extension_runner/host/settings.hpp"
#include "test_env.hpp"

using namespace extension_runner;
using test_support::env_of;

namespace {

// With a child command: EXTENSION_RUNNER_PROXY's choices other than off need one (its hooks
// run in the child), and no other row depends on it.
bool accepted(const SettingSpec& spec, const std::string& value) {
  return load_config({{spec.flag, value}}, env_of({{"EXTENSION_RUNNER_COMMAND", "true"}})).ok();
}

}  // namespace

TEST_CASE("setting kinds: every row says what it takes (not plain TEXT)") {
  for (const auto& s : settings()) {
    INFO(s.env);
    CHECK(s.kind.help_type() != "TEXT");
    CHECK_FALSE(s.kind.help_type().empty());
    if (s.kind.type == SettingKind::Type::Integer) CHECK(s.kind.min <= s.kind.max);
    if (s.kind.type == SettingKind::Type::OneOf || s.kind.type == SettingKind::Type::List) {
      CHECK_FALSE(s.kind.choices.empty());
    }
  }
}

TEST_CASE("setting kinds: integers take exactly their range") {
  int checked = 0;
  for (const auto& s : settings()) {
    if (s.kind.type != SettingKind::Type::Integer) continue;
    INFO(s.env << " " << s.kind.help_type());
    CHECK(accepted(s, std::to_string(s.kind.min)));
    CHECK(accepted(s, std::to_string(s.kind.max)));
    CHECK_FALSE(accepted(s, std::to_string(s.kind.min - 1)));
    CHECK_FALSE(accepted(s, std::to_string(s.kind.max + 1)));
    CHECK_FALSE(accepted(s, "twelve"));
    if (!s.default_value.empty()) CHECK(accepted(s, s.default_value));
    ++checked;
  }
  CHECK(checked >= 8);
}

TEST_CASE("setting kinds: a choice takes each of its values and nothing else") {
  int checked = 0;
  for (const auto& s : settings()) {
    if (s.kind.type != SettingKind::Type::OneOf && s.kind.type != SettingKind::Type::List) {
      continue;
    }
    INFO(s.env << " " << s.kind.help_type());
    for (const auto& choice : s.kind.choices) {
      INFO(choice);
      // `periodic[,MS]`: the optional part is shown, the bare word is what is accepted.
      CHECK(accepted(s, choice.substr(0, choice.find('['))));
    }
    CHECK_FALSE(accepted(s, "no-such-choice"));
    if (!s.default_value.empty()) CHECK(accepted(s, s.default_value));
    ++checked;
  }
  CHECK(checked >= 5);
}

TEST_CASE("setting kinds: help and README words") {
  struct Case {
    SettingKind kind;
    std::string help, readme;
  };
  const std::vector<Case> cases = {
      {kind::integer(100, 9000), "INT 100-9000", "integer 100-9000"},
      {kind::one_of({"sync", "async"}), "sync|async", "one of: sync, async"},
      {kind::list_of({"platform", "function"}), "LIST of platform,function",
       "comma-separated: platform, function"},
      {kind::host_port(), "HOST:PORT", "host:port"},
      {kind::command(), "COMMAND", "shell command"},
      {kind::text("NAME"), "NAME", "text (NAME)"},
  };
  for (const auto& c : cases) {
    CHECK(c.kind.help_type() == c.help);
    CHECK(c.kind.readme_text() == c.readme);
  }
}
