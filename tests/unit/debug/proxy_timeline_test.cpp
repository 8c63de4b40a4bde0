#include "extension_runner/debug/proxy_timeline.hpp"

#include <catch2/catch.hpp>

using namespace extension_runner;

namespace {

using std::chrono::microseconds;

SteadyTime t0() { return SteadyTime(std::chrono::seconds(1000)); }
SteadyTime at_us(int64_t us) { return t0() + microseconds(us); }

RuntimeAnswer answer(RuntimeOutcome outcome, int64_t at, int status = 202, std::string type = "") {
  RuntimeAnswer a;
  a.outcome = outcome;
  a.status = status;
  a.error_type = std::move(type);
  a.at = at_us(at);
  return a;
}

/** A full timeline: event +0.1, hook +0.3, runtime +0.5, response +0.6, hook +0.9, platform. */
InvocationTimeline full(std::optional<RuntimeAnswer> got) {
  InvocationTimeline t;
  t.request_id = "r";
  t.invoked = t0();
  t.event_out = at_us(100);
  t.request_hook = at_us(300);
  t.runtime_got = at_us(500);
  t.runtime_sent = at_us(600);
  t.response_hook = at_us(900);
  t.answer = std::move(got);
  return t;
}

}  // namespace

TEST_CASE("proxy timeline: the added latency is the two legs minus the direct path") {
  struct Case {
    std::string name;
    InvocationTimeline t;
    DirectPath direct;
    std::optional<double> added;
  };
  InvocationTimeline no_runtime_times = full(answer(RuntimeOutcome::Response, 1100));
  no_runtime_times.runtime_got.reset();
  no_runtime_times.runtime_sent.reset();
  const std::vector<Case> cases = {
      // (0.5 − 0.1) + (1.1 − 0.6) = 0.9
      {"no direct path", full(answer(RuntimeOutcome::Response, 1100)), {0, 0}, 0.9},
      {"direct path subtracted", full(answer(RuntimeOutcome::Response, 1100)), {0.1, 0.2}, 0.6},
      {"nothing reached the platform", full(std::nullopt), {0, 0}, std::nullopt},
      {"the runtime's times unknown (--function)", no_runtime_times, {0, 0}, std::nullopt},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    const auto added = added_latency_ms(c.t, c.direct);
    REQUIRE(added.has_value() == c.added.has_value());
    if (c.added) CHECK(*added == Approx(*c.added));
  }
}

TEST_CASE("proxy timeline: one line per invocation, in ms since the invoke") {
  struct Case {
    InvocationTimeline t;
    std::string expected;
  };
  InvocationTimeline rejected = full(answer(RuntimeOutcome::Error, 1000, 202, "Policy.Denied"));
  rejected.runtime_got.reset();
  rejected.runtime_sent.reset();
  rejected.response_hook.reset();
  const std::vector<Case> cases = {
      {full(answer(RuntimeOutcome::Response, 1100)),
       "event +0.1 → hook +0.3 → runtime +0.5 → response +0.6 → hook +0.9 → platform +1.1 ms: "
       "response, proxy added 0.9 ms"},
      {rejected,
       "event +0.1 → hook +0.3 → runtime - → response - → hook - → platform +1.0 ms: error "
       "Policy.Denied"},
      {full(answer(RuntimeOutcome::Response, 1100, 413)),
       "event +0.1 → hook +0.3 → runtime +0.5 → response +0.6 → hook +0.9 → platform +1.1 ms: "
       "the platform refused it (413), proxy added 0.9 ms"},
      {full(std::nullopt),
       "event +0.1 → hook +0.3 → runtime +0.5 → response +0.6 → hook +0.9 → platform - ms: "
       "nothing reached the platform"},
  };
  for (const auto& c : cases) CHECK(describe_timeline(c.t, DirectPath{}) == c.expected);
}

TEST_CASE("proxy timeline: the tally counts what the platform got and the latency's spread") {
  ProxyTally tally;
  CHECK_THAT(tally.text(), Catch::StartsWith("proxy added latency not measured"));
  tally.add(full(answer(RuntimeOutcome::Response, 1100)), DirectPath{});  // 0.9
  tally.add(full(answer(RuntimeOutcome::Response, 2600)), DirectPath{});  // 2.4
  tally.add(full(answer(RuntimeOutcome::Response, 1600)), DirectPath{});  // 1.4
  tally.add(full(answer(RuntimeOutcome::Error, 1100, 202, "Policy.Denied")), DirectPath{});
  tally.add(full(answer(RuntimeOutcome::Error, 1100, 202, "Policy.Denied")), DirectPath{});
  tally.add(full(answer(RuntimeOutcome::Response, 1100, 413)), DirectPath{});
  tally.add(full(std::nullopt), DirectPath{});
  CHECK(tally.invocations() == 7);
  CHECK(tally.responses() == 3);
  CHECK(tally.errors() == std::map<std::string, size_t>{{"Policy.Denied", 2}});
  CHECK(tally.refused() == 1);
  CHECK(tally.unanswered() == 1);
  CHECK(tally.added_ms().size() == 6);
  CHECK(tally.added_percentile(0.5) == Approx(0.9));
  CHECK(tally.added_percentile(1.0) == Approx(2.4));
  CHECK(tally.text() ==
        "proxy added p50 0.9 / max 2.4 ms over 6 invocations; the platform got 3 responses, 2 "
        "errors (Policy.Denied 2), refused 1, 1 invocations unanswered");
}

TEST_CASE("proxy timeline: the median of the direct path's round trips") {
  CHECK(median_of({}) == 0);
  CHECK(median_of({3.0}) == 3.0);
  CHECK(median_of({5.0, 1.0, 3.0}) == 3.0);
  CHECK(median_of({4.0, 1.0, 3.0, 2.0}) == Approx(2.5));
}
