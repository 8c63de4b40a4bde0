#include <catch2/catch.hpp>
#include <set>

#include "extension_runner/host/settings.hpp"
#include "test_env.hpp"

using namespace extension_runner;

using test_support::env_of;

TEST_CASE("config: defaults when nothing is set") {
  auto c = load_config({}, env_of({}));
  REQUIRE(c.ok());
  CHECK(c->runtime_api.empty());
  CHECK(c->runner.dispatch == Dispatch::Sync);
  CHECK(c->runner.startup_timeout_ms == 5000);
  CHECK(c->telemetry.mode == TelemetryMode::Off);
  CHECK(c->telemetry.listen == "0.0.0.0:0");
  CHECK(c->log_level == LogLevel::Info);
}

TEST_CASE("config: EXTENSION_RUNNER_CHILD_START selects when the child starts") {
  struct Case {
    std::map<std::string, std::string> env;
    ChildStart expected;
  };
  const std::vector<Case> cases = {
      {{}, ChildStart::Init},
      {{{"EXTENSION_RUNNER_CHILD_START", "init"}}, ChildStart::Init},
      {{{"EXTENSION_RUNNER_CHILD_START", "background"}}, ChildStart::Background},
  };
  for (const auto& c : cases) {
    auto config = load_config({}, env_of(c.env));
    REQUIRE(config.ok());
    CHECK(config->runner.child_start == c.expected);
  }
}

TEST_CASE("config: flag beats env beats default") {
  auto c = load_config({{"name", "from-flag"}}, env_of({{"EXTENSION_RUNNER_NAME", "from-env"},
                                                        {"EXTENSION_RUNNER_DISPATCH", "async"}}));
  REQUIRE(c.ok());
  CHECK(c->name == "from-flag");
  CHECK(c->runner.dispatch == Dispatch::Async);
}

TEST_CASE("config: invalid values name the setting") {
  struct Case {
    std::string env, value, expect;
  };
  const std::vector<Case> cases = {
      {"EXTENSION_RUNNER_DISPATCH", "later", "EXTENSION_RUNNER_DISPATCH (--dispatch)"},
      {"EXTENSION_RUNNER_CHILD_START", "lazy", "expected init or background"},
      {"AWS_LAMBDA_LOG_LEVEL", "LOUD", "AWS_LAMBDA_LOG_LEVEL (--log-level)"},
      {"AWS_LAMBDA_LOG_FORMAT", "xml", "AWS_LAMBDA_LOG_FORMAT"},
      {"EXTENSION_RUNNER_STARTUP_TIMEOUT_MS", "abc", "not an integer"},
      {"EXTENSION_RUNNER_STARTUP_TIMEOUT_MS", "20000", "between 100 and 9000"},
      {"EXTENSION_RUNNER_BUFFER_MAX_ITEMS", "10", "between 1000 and 10000"},
      {"EXTENSION_RUNNER_BUFFER_MAX_BYTES", "2000000", "between 262144 and 1048576"},
      {"EXTENSION_RUNNER_BUFFER_TIMEOUT_MS", "5", "between 25 and 30000"},
      {"EXTENSION_RUNNER_TELEMETRY", "yes", "expected off, telemetry or logs"},
      {"EXTENSION_RUNNER_TELEMETRY_TYPES", "platform,metrics", "unknown type 'metrics'"},
      {"EXTENSION_RUNNER_LISTEN", "8080", "expected host:port"},
      {"EXTENSION_RUNNER_LISTEN", "0.0.0.0:9001", "reserved"},
      {"EXTENSION_RUNNER_NAME", "/opt/extensions/x", "not a path"},
      {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "lots", "not an integer"},
      // Found by fuzzing: strtoll stopped at the NUL / skipped the blank, and the raw text was
      // then kept as if valid (reported as billing.memory, used as the listen address).
      {"EXTENSION_RUNNER_LISTEN", std::string("0.0.0.0:43\0x", 12), "NUL byte"},
      {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", std::string("128\0", 4), "NUL byte"},
      {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", " 128", "not an integer"},
      {"EXTENSION_RUNNER_LISTEN", std::string("127.0.0.1\0:43", 13), "NUL byte"},
      {"EXTENSION_RUNNER_COMMAND", std::string("python3\0 -c evil", 16), "NUL byte"},
      {"EXTENSION_RUNNER_MAX_CRASHES", "+3", "not an integer"},
  };
  for (const auto& c : cases) {
    INFO(c.env << "=" << c.value);
    auto r = load_config({}, env_of({{c.env, c.value}}));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::ConfigInvalid);
    CHECK_THAT(r.error().message, Catch::Contains(c.expect));
  }
}

TEST_CASE("config: telemetry schema and flush defaults follow the mode") {
  auto t = load_config({{"telemetry", "telemetry"}}, env_of({}));
  REQUIRE(t.ok());
  CHECK(t->telemetry.effective_schema() == "2025-01-29");
  CHECK(t->telemetry.flush_may_wait(t->receives_invokes()));
  CHECK(t->telemetry.flush == FlushMode::Adaptive);
  CHECK(t->telemetry.buffer_timeout_ms == 25);
  auto l = load_config({{"telemetry", "logs"}, {"telemetry-types", "function"}}, env_of({}));
  REQUIRE(l.ok());
  CHECK(l->telemetry.effective_schema() == "2021-03-18");
  CHECK_FALSE(l->telemetry.flush_may_wait(l->receives_invokes()));
  auto off = load_config({}, env_of({}));
  REQUIRE(off.ok());
  CHECK_FALSE(off->telemetry.flush_may_wait(off->receives_invokes()));
  auto tcp = load_config({{"telemetry", "telemetry"}, {"telemetry-protocol", "tcp"}}, env_of({}));
  REQUIRE(tcp.ok());
  CHECK(tcp->telemetry.effective_schema() == "2025-01-29");
}

TEST_CASE("config: flush strategies") {
  struct Case {
    std::string value;
    bool ok;
    FlushMode mode;
    int64_t period_ms;
    bool may_wait;
  };
  const std::vector<Case> cases = {
      {"invoke", true, FlushMode::Invoke, 0, true},
      {"adaptive", true, FlushMode::Adaptive, 0, true},
      {"periodic", true, FlushMode::Periodic, 0, false},
      {"periodic,250", true, FlushMode::Periodic, 250, false},
      {"none", false, FlushMode::Periodic, 0, false},
      {"auto", false, FlushMode::Periodic, 0, false},
      {"periodic,", false, FlushMode::Periodic, 0, false},
      {"periodic,0", false, FlushMode::Periodic, 0, false},
      {"periodic,x", false, FlushMode::Periodic, 0, false},
      {"periodic;5", false, FlushMode::Periodic, 0, false},
  };
  for (const auto& c : cases) {
    INFO(c.value);
    auto r = load_config({{"telemetry", "telemetry"}, {"flush", c.value}}, env_of({}));
    REQUIRE(r.ok() == c.ok);
    if (!c.ok) {
      CHECK_THAT(r.error().message, Catch::Contains("EXTENSION_RUNNER_FLUSH"));
      continue;
    }
    CHECK(r->telemetry.flush == c.mode);
    CHECK(r->telemetry.flush_period_ms == c.period_ms);
    CHECK(r->telemetry.flush_may_wait(r->receives_invokes()) == c.may_wait);
  }
}

TEST_CASE("config: the TCP destination needs the Telemetry API and schema 2025-01-29") {
  auto logs = load_config({{"telemetry", "logs"}, {"telemetry-protocol", "tcp"}}, env_of({}));
  REQUIRE_FALSE(logs.ok());
  auto old = load_config({{"telemetry", "telemetry"},
                          {"telemetry-protocol", "tcp"},
                          {"telemetry-schema", "2022-12-13"}},
                         env_of({}));
  REQUIRE_FALSE(old.ok());
  CHECK_THAT(old.error().message, Catch::Contains("2025-01-29"));
  auto bad = load_config({{"telemetry-protocol", "udp"}}, env_of({}));
  REQUIRE_FALSE(bad.ok());
}

TEST_CASE("config: every setting has a unique env var and flag") {
  std::set<std::string> envs, flags;
  for (const auto& s : settings()) {
    CHECK(envs.insert(s.env).second);
    CHECK(flags.insert(s.flag).second);
    CHECK_FALSE(s.help.empty());
  }
}

TEST_CASE("config: events and platform per mode and setting [EXT][LMI]") {
  using Events = std::vector<std::string>;
  const std::string lmi = "lambda-managed-instances";
  struct Case {
    std::map<std::string, std::string> flags, env;
    Platform platform;
    Events events;
    bool flush;  // with telemetry on and platform subscribed
  };
  const std::vector<Case> cases = {
      {{}, {}, Platform::Lambda, {"INVOKE", "SHUTDOWN"}, true},
      {{},
       {{"AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"}},
       Platform::Lambda,
       {"INVOKE", "SHUTDOWN"},
       true},
      {{},
       {{"AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start"}},
       Platform::Lambda,
       {"INVOKE", "SHUTDOWN"},
       true},
      {{}, {{"EXTENSION_RUNNER_EVENTS", "SHUTDOWN"}}, Platform::Lambda, {"SHUTDOWN"}, false},
      {{},
       {{"EXTENSION_RUNNER_EVENTS", "SHUTDOWN, INVOKE"}},
       Platform::Lambda,
       {"INVOKE", "SHUTDOWN"},
       true},
      {{{"events", "SHUTDOWN"}},
       {{"EXTENSION_RUNNER_EVENTS", "INVOKE,SHUTDOWN"}},
       Platform::Lambda,
       {"SHUTDOWN"},
       false},
      {{},
       {{"AWS_LAMBDA_INITIALIZATION_TYPE", lmi}},
       Platform::ManagedInstances,
       {"SHUTDOWN"},
       false},
      {{},
       {{"AWS_LAMBDA_INITIALIZATION_TYPE", lmi}, {"EXTENSION_RUNNER_EVENTS", "SHUTDOWN"}},
       Platform::ManagedInstances,
       {"SHUTDOWN"},
       false},
      {{{"initialization-type", lmi}}, {}, Platform::ManagedInstances, {"SHUTDOWN"}, false},
  };
  for (const auto& c : cases) {
    auto env = c.env;
    env["EXTENSION_RUNNER_TELEMETRY"] = "telemetry";
    auto config = load_config(c.flags, env_of(env));
    REQUIRE(config.ok());
    CHECK(config->platform == c.platform);
    CHECK(config->events == c.events);
    CHECK(config->receives_invokes() == (c.events.size() == 2));
    CHECK(config->telemetry.flush_may_wait(config->receives_invokes()) == c.flush);
    CHECK(config->telemetry.effective_schema() == "2025-01-29");
  }
  CHECK(std::string(platform_name(Platform::Lambda)) == "lambda");
  CHECK(std::string(platform_name(Platform::ManagedInstances)) == "managed-instances");
}

TEST_CASE("config: what Managed Instances or a shutdown-only extension cannot do is refused") {
  const std::string lmi = "lambda-managed-instances";
  struct Case {
    std::map<std::string, std::string> env;
    std::vector<std::string> expect;  // every part must be in the message
  };
  const std::vector<Case> cases = {
      {{{"EXTENSION_RUNNER_EVENTS", "INVOKE"}},
       {"EXTENSION_RUNNER_EVENTS (--events) 'INVOKE'", "expected INVOKE,SHUTDOWN or SHUTDOWN"}},
      {{{"EXTENSION_RUNNER_EVENTS", "invoke,shutdown"}}, {"expected INVOKE,SHUTDOWN or SHUTDOWN"}},
      {{{"EXTENSION_RUNNER_EVENTS", "SHUTDOWN,SHUTDOWN"}}, {"expected INVOKE,SHUTDOWN"}},
      {{{"EXTENSION_RUNNER_EVENTS", ","}}, {"expected INVOKE,SHUTDOWN"}},
      {{{"EXTENSION_RUNNER_EVENTS", "INVOKE,SHUTDOWN,RESTORE"}}, {"expected INVOKE,SHUTDOWN"}},
      {{{"AWS_LAMBDA_INITIALIZATION_TYPE", lmi}, {"EXTENSION_RUNNER_EVENTS", "INVOKE,SHUTDOWN"}},
       {"EXTENSION_RUNNER_EVENTS (--events) 'INVOKE,SHUTDOWN'", "Managed Instances",
        "SHUTDOWN only", "Extension.InvalidEventType"}},
      {{{"AWS_LAMBDA_INITIALIZATION_TYPE", lmi}, {"EXTENSION_RUNNER_TELEMETRY", "logs"}},
       {"EXTENSION_RUNNER_TELEMETRY", "Managed Instances"}},
      {{{"AWS_LAMBDA_INITIALIZATION_TYPE", lmi},
        {"EXTENSION_RUNNER_TELEMETRY", "telemetry"},
        {"EXTENSION_RUNNER_TELEMETRY_SCHEMA", "2022-12-13"}},
       {"EXTENSION_RUNNER_TELEMETRY_SCHEMA (--telemetry-schema) '2022-12-13'", "2025-01-29 only"}},
      {{{"AWS_LAMBDA_INITIALIZATION_TYPE", lmi},
        {"EXTENSION_RUNNER_TELEMETRY", "telemetry"},
        {"EXTENSION_RUNNER_FLUSH", "invoke"}},
       {"EXTENSION_RUNNER_FLUSH", "no INVOKE events"}},
      {{{"EXTENSION_RUNNER_EVENTS", "SHUTDOWN"},
        {"EXTENSION_RUNNER_TELEMETRY", "telemetry"},
        {"EXTENSION_RUNNER_FLUSH", "invoke"}},
       {"EXTENSION_RUNNER_FLUSH", "EXTENSION_RUNNER_EVENTS=SHUTDOWN"}},
      {{{"AWS_LAMBDA_INITIALIZATION_TYPE", lmi},
        {"EXTENSION_RUNNER_TELEMETRY", "telemetry"},
        {"EXTENSION_RUNNER_LISTEN", "10.0.0.7:0"}},
       {"EXTENSION_RUNNER_LISTEN", "127.0.0.1"}},
  };
  for (const auto& c : cases) {
    INFO(c.expect.front());
    auto r = load_config({}, env_of(c.env));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::ConfigInvalid);
    for (const auto& part : c.expect) CHECK_THAT(r.error().message, Catch::Contains(part));
  }
  // The same settings are fine where they make sense.
  CHECK(load_config({}, env_of({{"EXTENSION_RUNNER_TELEMETRY", "logs"}})).ok());
  CHECK(load_config({}, env_of({{"EXTENSION_RUNNER_TELEMETRY", "telemetry"},
                                {"EXTENSION_RUNNER_FLUSH", "invoke"}}))
            .ok());
  CHECK(load_config({}, env_of({{"AWS_LAMBDA_INITIALIZATION_TYPE", lmi},
                                {"EXTENSION_RUNNER_LISTEN", "10.0.0.7:0"}}))
            .ok());  // telemetry off: the listener is not used
}

TEST_CASE("config: the proxy settings reach ProxyOptions") {
  const std::string child = "python3 hooks.py";
  struct Case {
    std::map<std::string, std::string> env;
    ProxyMode mode;
    int64_t hook_timeout_ms;
    FailPolicy fail;
    std::string next_wrapper;
  };
  const std::vector<Case> cases = {
      {{}, ProxyMode::Off, 1000, FailPolicy::Open, ""},
      {{{"EXTENSION_RUNNER_PROXY", "observe"}, {"EXTENSION_RUNNER_COMMAND", child}},
       ProxyMode::Observe,
       1000,
       FailPolicy::Open,
       ""},
      {{{"EXTENSION_RUNNER_PROXY", "intercept"},
        {"EXTENSION_RUNNER_COMMAND", child},
        {"EXTENSION_RUNNER_PROXY_HOOK_TIMEOUT_MS", "250"},
        {"EXTENSION_RUNNER_PROXY_FAIL", "closed"},
        {"EXTENSION_RUNNER_PROXY_NEXT_WRAPPER", "/opt/other/wrapper"}},
       ProxyMode::Intercept,
       250,
       FailPolicy::Closed,
       "/opt/other/wrapper"},
      // Off with a child is the default case with a command: the proxy stays off.
      {{{"EXTENSION_RUNNER_PROXY", "off"}, {"EXTENSION_RUNNER_PROXY_FAIL", "closed"}},
       ProxyMode::Off,
       1000,
       FailPolicy::Closed,
       ""},
  };
  for (const auto& c : cases) {
    auto r = load_config({}, env_of(c.env));
    REQUIRE(r.ok());
    CHECK(r->proxy.mode == c.mode);
    CHECK(r->proxy.hook_timeout_ms == c.hook_timeout_ms);
    CHECK(r->proxy.fail == c.fail);
    CHECK(r->proxy.next_wrapper == c.next_wrapper);
  }
}

TEST_CASE("config: invalid proxy settings and a proxy without a child are refused") {
  struct Case {
    std::map<std::string, std::string> env;
    std::vector<std::string> expect;  // every part must be in the message
  };
  const std::vector<Case> cases = {
      {{{"EXTENSION_RUNNER_PROXY", "observe"}},
       {"EXTENSION_RUNNER_PROXY (--proxy) 'observe'", "EXTENSION_RUNNER_COMMAND"}},
      {{{"EXTENSION_RUNNER_PROXY", "intercept"}}, {"EXTENSION_RUNNER_PROXY", "child"}},
      {{{"EXTENSION_RUNNER_PROXY", "on"}, {"EXTENSION_RUNNER_COMMAND", "x"}},
       {"EXTENSION_RUNNER_PROXY (--proxy) 'on'", "expected off, observe or intercept"}},
      {{{"EXTENSION_RUNNER_PROXY_FAIL", "maybe"}},
       {"EXTENSION_RUNNER_PROXY_FAIL", "expected open or closed"}},
      {{{"EXTENSION_RUNNER_PROXY_HOOK_TIMEOUT_MS", "0"}},
       {"EXTENSION_RUNNER_PROXY_HOOK_TIMEOUT_MS", "between 1 and 900000"}},
      {{{"EXTENSION_RUNNER_PROXY_HOOK_TIMEOUT_MS", "900001"}}, {"between 1 and 900000"}},
      {{{"EXTENSION_RUNNER_PROXY_HOOK_TIMEOUT_MS", "1s"}}, {"not an integer"}},
  };
  for (const auto& c : cases) {
    INFO(c.expect.front());
    auto r = load_config({}, env_of(c.env));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::ConfigInvalid);
    for (const auto& part : c.expect) CHECK_THAT(r.error().message, Catch::Contains(part));
  }
}
