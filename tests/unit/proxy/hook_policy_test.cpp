#include "extension_runner/proxy/hook_policy.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/log.hpp"
#include "fake_hooks.hpp"

using namespace extension_runner;
using proxy_test::ScriptedHooks;

TEST_CASE("proxy hook policy: failures fail open or closed, with one WARN and the counters",
          "[proxy]") {
  struct Case {
    const char* what;
    Result<HookReply> reply;
    bool call_expired;
    FailPolicy policy;
    Decision::Kind kind;
    const char* warn;  // nullptr: no failure
  };
  const Error timeout = make_error(ErrorKind::Cancelled, "no reply within 1000 ms");
  const Error crash = make_error(ErrorKind::ChildCrashed, "exit status 1");
  const std::vector<Case> cases = {
      {"an answer", HookReply{R"({"payload":1})", "", false}, false, FailPolicy::Closed,
       Decision::Kind::Replace, nullptr},
      {"a rejection is a decision, not a failure", HookReply{"null", "Blocked", true}, false,
       FailPolicy::Open, Decision::Kind::Fail, nullptr},
      {"timeout, open", timeout, false, FailPolicy::Open, Decision::Kind::Forward,
       "Extension.Cancelled: no reply within 1000 ms); failing open"},
      {"timeout, closed", timeout, false, FailPolicy::Closed, Decision::Kind::Fail,
       "failing closed: the invocation fails with Extension.ProxyHookFailed"},
      {"crash, open", crash, false, FailPolicy::Open, Decision::Kind::Forward, "ChildCrashed"},
      {"garbage, closed", HookReply{"[1]", "", false}, false, FailPolicy::Closed,
       Decision::Kind::Fail, "malformed answer: result is neither null nor an object"},
      {"no time left, open", HookReply{"null", "", false}, true, FailPolicy::Open,
       Decision::Kind::Forward, "no time left"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    std::vector<std::string> lines;
    set_log_sink([&](const std::string& line) { lines.push_back(line); });
    ScriptedHooks hooks([&](const HookCall&) { return c.reply; });
    ProxyOptions options;
    options.fail = c.policy;
    ProxyStats stats;
    HookPolicy policy(hooks, options, stats);
    HookCall call;
    call.context.aws_request_id = "req-1";
    call.deadline_ms = c.call_expired ? wall_clock_ms() - 1 : policy.call_deadline(std::nullopt);
    const Decision d = policy.ask(HookPhase::Request, call);
    set_log_sink(nullptr);
    CHECK(d.kind == c.kind);
    CHECK(hooks.asked() == (c.call_expired ? 0u : 1u));
    const ProxyCounters n = stats.snapshot();
    if (c.warn == nullptr) {
      CHECK(lines.empty());
      CHECK(n.hook_failures == 0);
      continue;
    }
    REQUIRE(lines.size() == 1);
    CHECK_THAT(lines[0], Catch::Contains("the REQUEST hook for req-1 failed"));
    CHECK_THAT(lines[0], Catch::Contains(c.warn));
    CHECK(n.hook_failures == 1);
    CHECK(n.failed_open == (c.policy == FailPolicy::Open ? 1u : 0u));
    CHECK(n.failed_closed == (c.policy == FailPolicy::Closed ? 1u : 0u));
    if (c.policy == FailPolicy::Closed) {
      CHECK(d.error_type == "Extension.ProxyHookFailed");
      CHECK_THAT(d.body, Catch::StartsWith(R"({"errorType":"Extension.ProxyHookFailed",)"));
    }
  }
}

TEST_CASE("proxy hook policy: the child's answers add their billed time; failures add none",
          "[proxy]") {
  std::vector<Result<HookReply>> replies = {
      HookReply{"null", "", false, 0.25},
      make_error(ErrorKind::Cancelled, "no reply within 1000 ms"),
      HookReply{"[1]", "", false, 0.5},  // malformed, but the child did answer
      HookReply{R"({"payload":2})", "", false, 0.0015},
  };
  size_t next = 0;
  ScriptedHooks hooks([&](const HookCall&) { return replies.at(next++); });
  ProxyOptions options;
  ProxyStats stats;
  HookPolicy policy(hooks, options, stats);
  set_log_sink([](const std::string&) {});
  for (size_t i = 0; i < replies.size(); ++i) {
    HookCall call;
    call.context.aws_request_id = "req-" + std::to_string(i);
    call.deadline_ms = policy.call_deadline(std::nullopt);
    (void)policy.ask(HookPhase::Response, call);
  }
  set_log_sink(nullptr);
  const ProxyCounters n = stats.snapshot();
  CHECK(n.hook_calls == 4);
  CHECK(n.hook_answers == 3);
  CHECK(n.hook_failures == 2);
  CHECK(n.hook_billed_us == 752);  // 250 + 500 + 1.5 rounded
  CHECK_THAT(describe_counters(n), Catch::Contains("0.75 ms billed (0.250 ms an answer)"));
}

TEST_CASE("proxy hook policy: a call's deadline is the budget, capped by the invocation's",
          "[proxy]") {
  ScriptedHooks hooks;
  ProxyOptions options;
  options.hook_timeout_ms = 1000;
  ProxyStats stats;
  HookPolicy policy(hooks, options, stats);
  const int64_t now = wall_clock_ms();
  CHECK(policy.call_deadline(now + 50) == now + 50);
  const int64_t budget = policy.call_deadline(std::nullopt);
  CHECK(budget >= now + 1000);
  CHECK(policy.call_deadline(now + 3600 * 1000) <= wall_clock_ms() + 1000);
}

TEST_CASE("proxy counters: the summary line", "[proxy]") {
  ProxyCounters c;
  c.invocations = 12;
  c.requests = 25;
  c.hook_calls = 24;
  c.hook_answers = 23;
  c.hook_billed_us = 610;
  c.hook_failures = 1;
  c.failed_open = 1;
  c.replaced = 2;
  c.rejected = 1;
  c.observe_dropped = 3;
  CHECK(describe_counters(c) ==
        "proxy: 12 invocations, 25 requests; hooks 24 calls, 1 failed (1 open, 0 closed), 0.61 ms "
        "billed (0.026 ms an answer); decisions 2 replaced, 0 answered, 1 rejected; 0 unseen; "
        "observe 3 dropped; 0 upstream errors, 0 runtime disconnects");
}
