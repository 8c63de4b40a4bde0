#include "extension_runner/proxy/options.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace extension_runner;

TEST_CASE("proxy options: modes, fail policies and timeouts parse exactly", "[proxy]") {
  struct Case {
    std::string text;
    bool ok;
    ProxyMode mode;
  };
  const std::vector<Case> modes = {{"off", true, ProxyMode::Off},
                                   {"observe", true, ProxyMode::Observe},
                                   {"intercept", true, ProxyMode::Intercept},
                                   {"Intercept", false, ProxyMode::Off},
                                   {"", false, ProxyMode::Off},
                                   {"on", false, ProxyMode::Off}};
  for (const auto& c : modes) {
    INFO(c.text);
    const auto parsed = parse_proxy_mode(c.text);
    REQUIRE(parsed.ok() == c.ok);
    if (c.ok) {
      CHECK(parsed.value() == c.mode);
      CHECK(proxy_mode_name(parsed.value()) == c.text);
    } else {
      CHECK(parsed.error().kind == ErrorKind::ConfigInvalid);
      CHECK_THAT(parsed.error().message, Catch::Contains("off, observe, intercept"));
    }
  }
  CHECK(parse_fail_policy("open").value() == FailPolicy::Open);
  CHECK(parse_fail_policy("closed").value() == FailPolicy::Closed);
  CHECK_THAT(parse_fail_policy("shut").error().message, Catch::Contains("open, closed"));

  struct Timeout {
    std::string text;
    int64_t expected;  // -1: refused
  };
  const std::vector<Timeout> timeouts = {{"1", 1},     {"1000", 1000}, {"900000", 900000},
                                         {"0", -1},    {"900001", -1}, {"-5", -1},
                                         {"10ms", -1}, {"", -1},       {" 10", -1}};
  for (const auto& t : timeouts) {
    INFO(t.text);
    const auto parsed = parse_hook_timeout_ms(t.text);
    REQUIRE(parsed.ok() == (t.expected >= 0));
    if (parsed.ok()) CHECK(parsed.value() == t.expected);
  }
}

TEST_CASE("proxy options: host:port", "[proxy]") {
  struct Case {
    std::string text;
    bool ok;
    std::string host;
    uint16_t port;
  };
  const std::vector<Case> cases = {
      {"127.0.0.1:9001", true, "127.0.0.1", 9001},
      {"127.0.0.1:0", true, "127.0.0.1", 0},
      {"localhost:65535", true, "localhost", 65535},
      {"127.0.0.1", false, "", 0},
      {":9001", false, "", 0},
      {"127.0.0.1:65536", false, "", 0},
      {"127.0.0.1:-1", false, "", 0},
      {"127.0.0.1:x", false, "", 0},
      {"http://127.0.0.1:9001", false, "", 0},
      {"a b:1", false, "", 0},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    const auto parsed = parse_host_port(c.text, "EXTENSION_RUNNER_PROXY_LISTEN");
    REQUIRE(parsed.ok() == c.ok);
    if (c.ok) {
      CHECK(parsed->host == c.host);
      CHECK(parsed->port == c.port);
      CHECK(parsed->to_string() == c.text);
    } else {
      CHECK_THAT(parsed.error().message, Catch::StartsWith("EXTENSION_RUNNER_PROXY_LISTEN"));
    }
  }
}

TEST_CASE("proxy options: defaults and whole-options validation", "[proxy]") {
  ProxyOptions defaults;
  CHECK(defaults.mode == ProxyMode::Off);
  CHECK(defaults.fail == FailPolicy::Open);
  CHECK(defaults.listen.to_string() == "127.0.0.1:0");
  CHECK(defaults.body_limit_bytes > kLambdaMaxPayloadBytes);
  CHECK(kLambdaMaxPayloadBytes == 6291556);
  // No upstream: the one thing every configuration must name.
  CHECK_THAT(validate_proxy_options(defaults).error().message, Catch::Contains("upstream"));

  struct Case {
    const char* what;
    void (*change)(ProxyOptions&);
    const char* error;  // nullptr: valid
  };
  const std::vector<Case> cases = {
      {"defaults plus an upstream", [](ProxyOptions&) {}, nullptr},
      {"another loopback address", [](ProxyOptions& o) { o.listen.host = "127.0.0.2"; }, nullptr},
      {"all interfaces", [](ProxyOptions& o) { o.listen.host = "0.0.0.0"; }, "loopback"},
      {"a host name", [](ProxyOptions& o) { o.listen.host = "localhost"; }, "loopback"},
      {"its own upstream", [](ProxyOptions& o) { o.listen = o.upstream; }, "its own upstream"},
      {"upstream without a port", [](ProxyOptions& o) { o.upstream.port = 0; }, "upstream"},
      {"zero body limit", [](ProxyOptions& o) { o.body_limit_bytes = 0; }, "positive"},
      {"zero queue", [](ProxyOptions& o) { o.observe_queue_items = 0; }, "positive"},
      {"zero connections", [](ProxyOptions& o) { o.max_connections = 0; }, "positive"},
      {"timeout out of range", [](ProxyOptions& o) { o.hook_timeout_ms = 0; }, "out of range"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    ProxyOptions o;
    o.upstream = {"127.0.0.1", 9001};
    c.change(o);
    const auto valid = validate_proxy_options(o);
    REQUIRE(valid.ok() == (c.error == nullptr));
    if (!valid.ok()) {
      CHECK(valid.error().kind == ErrorKind::ConfigInvalid);
      CHECK_THAT(valid.error().message, Catch::Contains(c.error));
    }
  }
}
