#include "extension_runner/telemetry/flush_strategy.hpp"

#include <catch2/catch.hpp>
#include <vector>

using namespace extension_runner;

namespace {

/** Feeds `count` invocations `interval_ms` apart; returns the decision for each. */
std::vector<bool> waits_for(FlushStrategy& strategy, int count, int64_t interval_ms,
                            int64_t& now_ms) {
  std::vector<bool> waits;
  for (int i = 0; i < count; ++i) {
    waits.push_back(strategy.should_wait(now_ms));
    now_ms += interval_ms;
  }
  return waits;
}

int count_true(const std::vector<bool>& v) {
  int n = 0;
  for (bool b : v) n += b ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("flush strategy: adaptive, invocation rates -> strategy") {
  struct Case {
    const char* what;
    int invocations;
    int64_t interval_ms;
    int expected_waits;  // how many of them wait at /next (invoke), the rest periodic
  };
  const auto window = static_cast<int64_t>(kAdaptiveWindow);
  const std::vector<Case> cases = {
      {"50 per second: invoke until the window is full, then periodic", 1000, 20,
       static_cast<int>(window - 1)},
      {"once a second", 100, 1000, static_cast<int>(window - 1)},
      {"exactly once a minute still counts as frequent", 40, kAdaptiveMaxIntervalMs,
       static_cast<int>(window - 1)},
      {"every 61 s: always invoke", 40, kAdaptiveMaxIntervalMs + 1000, 40},
      {"every 10 minutes: always invoke", 30, 600000, 30},
      {"fewer invocations than the window: always invoke", static_cast<int>(window - 1), 10,
       static_cast<int>(window - 1)},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    FlushStrategy strategy(FlushMode::Adaptive);
    int64_t now = 1000;
    const auto waits = waits_for(strategy, c.invocations, c.interval_ms, now);
    CHECK(count_true(waits) == c.expected_waits);
    // The switch happens once, in one direction: all the waits come first.
    for (size_t i = 1; i < waits.size(); ++i) CHECK((waits[i - 1] || !waits[i]));
  }
}

TEST_CASE("flush strategy: adaptive switches back to invoke after a long idle gap") {
  FlushStrategy strategy(FlushMode::Adaptive);
  int64_t now = 0;
  waits_for(strategy, 30, 100, now);       // frequent: periodic by now
  CHECK_FALSE(strategy.should_wait(now));  // still frequent
  now += 5 * kAdaptiveMaxIntervalMs;       // idle for five minutes
  CHECK(strategy.should_wait(now));        // the gap alone switches back
  now += 100;
  // The window's mean (18 × 100 ms + 5 min + 100 ms over 19 intervals) is under a minute:
  // frequent again as soon as the latest interval is short.
  CHECK_FALSE(strategy.should_wait(now));
}

TEST_CASE("flush strategy: the fixed strategies") {
  struct Case {
    FlushMode mode;
    bool waits;
  };
  for (const auto& c : std::vector<Case>{{FlushMode::Invoke, true}, {FlushMode::Periodic, false}}) {
    FlushStrategy strategy(c.mode);
    int64_t now = 0;
    for (bool w : waits_for(strategy, 50, 1, now)) CHECK(w == c.waits);
  }
}

TEST_CASE("flush strategy: the rule on raw start times") {
  struct Case {
    std::deque<int64_t> starts;
    bool periodic;
  };
  std::deque<int64_t> frequent, one_gap;
  for (int i = 0; i < static_cast<int>(kAdaptiveWindow); ++i) frequent.push_back(i * 500);
  one_gap = frequent;
  one_gap.back() = one_gap[one_gap.size() - 2] + kAdaptiveMaxIntervalMs + 1;
  const std::vector<Case> cases = {
      {{}, false},
      {{0, 1, 2}, false},
      {frequent, true},
      {one_gap, false},
  };
  for (const auto& c : cases) {
    INFO(c.starts.size());
    CHECK(adaptive_prefers_periodic(c.starts) == c.periodic);
  }
}
