// The proxy's host side that needs no server: where the address goes, when to warn, how many
// extra hook children, which hooks the child takes, the address file, and the proxy's share of
// the SHUTDOWN budget.
#include "extension_runner/host/proxy_service.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "extension_runner/host/shutdown_budget.hpp"
#include "test_env.hpp"

using namespace extension_runner;
using test_support::env_of;

TEST_CASE("proxy service: the address file lives in TMPDIR, else /tmp") {
  CHECK(proxy_address_path("ext", env_of({{"TMPDIR", "/var/tmp"}})) ==
        "/var/tmp/extension-runner-ext.proxy");
  CHECK(proxy_address_path("ext", env_of({{"TMPDIR", ""}})) == "/tmp/extension-runner-ext.proxy");
  CHECK(proxy_address_path("ext", env_of({})) == "/tmp/extension-runner-ext.proxy");
}

TEST_CASE("proxy service: a WARN unless AWS_LAMBDA_EXEC_WRAPPER is this extension's wrapper") {
  struct Case {
    std::optional<std::string> exec_wrapper;
    bool warns;
  };
  const std::vector<Case> cases = {
      {"/opt/ext/wrapper", false},  {"/mnt/layers/ext/wrapper", false},
      {std::nullopt, true},         {"", true},
      {"/opt/other/wrapper", true}, {"/opt/ext/wrapper.sh", true},
      {"/opt/myext/wrapper", true},
  };
  for (const auto& c : cases) {
    INFO(c.exec_wrapper.value_or("(unset)"));
    const auto warning = exec_wrapper_warning("ext", c.exec_wrapper);
    CHECK(warning.has_value() == c.warns);
    if (warning) CHECK_THAT(*warning, Catch::Contains("/opt/ext/wrapper"));
  }
}

TEST_CASE("proxy service: extra hook children follow Managed Instances' concurrency") {
  struct Case {
    Platform platform;
    std::optional<std::string> max_concurrency;
    size_t extras;
  };
  const std::vector<Case> cases = {
      {Platform::Lambda, "8", 0},
      {Platform::ManagedInstances, std::nullopt, 0},
      {Platform::ManagedInstances, "1", 0},
      {Platform::ManagedInstances, "4", 3},
      {Platform::ManagedInstances, "64", kMaxExtraHookChildren},
      {Platform::ManagedInstances, "0", 0},
      {Platform::ManagedInstances, "-3", 0},
      {Platform::ManagedInstances, "many", 0},
      {Platform::ManagedInstances, "99999999999999999999", 0},
  };
  for (const auto& c : cases) {
    INFO(c.max_concurrency.value_or("(unset)"));
    CHECK(extra_hook_children(c.platform, c.max_concurrency) == c.extras);
  }
}

TEST_CASE("proxy service: the hooks asked follow what the child said it handles") {
  struct Case {
    const char* what;
    std::optional<std::string> startup;  // the child's startup response; nullopt: none yet
    bool request, response;
  };
  const std::vector<Case> cases = {
      {"no child has started yet", std::nullopt, true, true},
      {"a child that does not say", R"({"ok":true})", true, true},
      {"handles null: does not say", R"({"ok":true,"handles":null})", true, true},
      {"both hooks", R"({"ok":true,"handles":["REQUEST","RESPONSE"]})", true, true},
      {"RESPONSE only (a redactor)", R"({"ok":true,"handles":["RESPONSE"]})", false, true},
      {"REQUEST only (a validator)", R"({"ok":true,"handles":["INVOKE","REQUEST"]})", true, false},
      {"a catch-all takes every event", R"({"ok":true,"handles":["*"]})", true, true},
      {"neither", R"({"ok":true,"handles":["TELEMETRY"]})", false, false},
      {"nothing at all", R"({"ok":true,"handles":[]})", false, false},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    ChildSlot slot;
    if (c.startup) {
      auto response = decode_startup_response(*c.startup);
      REQUIRE(response.ok());
      slot.note_started(*response);
    }
    CHECK(slot.takes(HookPhase::Request) == c.request);
    CHECK(slot.takes(HookPhase::Response) == c.response);
  }
  // A restarted child's answer replaces the earlier one.
  ChildSlot slot;
  slot.note_started(*decode_startup_response(R"({"ok":true,"handles":["RESPONSE"]})"));
  slot.note_started(*decode_startup_response(R"({"ok":true})"));
  CHECK(slot.takes(HookPhase::Request));
}

TEST_CASE("proxy service: the address file is whole when it appears and gone when released") {
  char tmpl[] = "/tmp/er-address-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string path = dir + "/extension-runner-ext.proxy";
  {
    auto file = AddressFile::write(path, "127.0.0.1:4321");
    REQUIRE(file.ok());
    std::ifstream in(path);
    std::string line;
    REQUIRE(std::getline(in, line));
    CHECK(line == "127.0.0.1:4321");
    AddressFile moved = std::move(*file);
    CHECK(::access(path.c_str(), F_OK) == 0);
  }
  CHECK(::access(path.c_str(), F_OK) != 0);
  auto refused = AddressFile::write(dir + "/no-such-dir/x.proxy", "127.0.0.1:1");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().kind == ErrorKind::Io);
  ::rmdir(dir.c_str());
}

TEST_CASE("shutdown budget: the proxy's drain comes first and leaves the rest in order") {
  struct Case {
    int64_t remaining_ms;
    bool has_child, has_proxy;
    int64_t proxy_ms;  // proxy_until - now
  };
  const std::vector<Case> cases = {
      {2000, true, false, 0},
      {2000, true, true, 175},   // the drains have 2000 - 300 - 500 - 500 = 700; a quarter
      {10000, true, true, 300},  // capped
      {2000, false, true, 300},  // 2000 - 300 = 1700; a quarter is 425, capped
      {0, true, true, 0},
  };
  const int64_t now = 1000000;
  for (const auto& c : cases) {
    INFO(c.remaining_ms << " child " << c.has_child << " proxy " << c.has_proxy);
    const auto b = ShutdownBudget::split(now + c.remaining_ms, now, c.has_child, c.has_proxy);
    CHECK(b.proxy_until_ms == now + c.proxy_ms);
    CHECK(b.proxy_until_ms <= b.telemetry_until_ms);
    CHECK(b.telemetry_until_ms <= b.child_request_until_ms);
    CHECK(b.child_request_until_ms <= b.child_exit_until_ms);
    CHECK(b.child_exit_until_ms <= b.deadline_ms);
  }
}
