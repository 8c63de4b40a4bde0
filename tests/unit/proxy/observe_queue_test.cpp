#include "extension_runner/proxy/observe_queue.hpp"

#include <catch2/catch.hpp>
#include <chrono>

#include "fake_hooks.hpp"

using namespace extension_runner;
using proxy_test::ScriptedHooks;

namespace {
ObserveCopy copy_of(const std::string& event, size_t bytes, const std::string& request_id = "",
                    HookPhase phase = HookPhase::Response) {
  return ObserveCopy{[event] {
                       return HookCall{HookContext{}, HookEvent{event, nullptr, ""}, 0};
                     },
                     bytes, request_id, phase};
}
ObserveCopy request_copy(const std::string& request_id) {
  return copy_of("request " + request_id, 1, request_id, HookPhase::Request);
}
ObserveCopy response_copy(const std::string& request_id) {
  return copy_of("response " + request_id, 1, request_id, HookPhase::Response);
}
constexpr std::chrono::milliseconds kLongHold{60000};
ObserveQueue::Clock::time_point in_ms(int ms) {
  return ObserveQueue::Clock::now() + std::chrono::milliseconds(ms);
}

/** A queue whose hooks answer every copy at once, holding REQUEST copies for `hold`. */
struct OpenQueue {
  explicit OpenQueue(std::chrono::milliseconds hold = kLongHold) : queue(hooks, 8, 1000, hold) {
    hooks.open_gate();
  }
  ScriptedHooks hooks;
  ObserveQueue queue;
};
/** As OpenQueue, with a hold over in a millisecond. */
struct ShortHoldQueue : OpenQueue {
  ShortHoldQueue() : OpenQueue(std::chrono::milliseconds(1)) {}
};
}  // namespace

TEST_CASE("proxy observe queue: bounded by items and bytes, drops counted, drained in order",
          "[proxy]") {
  ScriptedHooks hooks;
  ObserveQueue queue(hooks, 2, 10);
  queue.push(copy_of("a", 1));
  hooks.wait_observed(1);  // "a" is with the hook now; the queue is empty
  queue.push(copy_of("b", 6));
  queue.push(copy_of("c", 5));  // 6 + 5 bytes > 10
  queue.push(copy_of("d", 4));
  queue.push(copy_of("e", 0));  // a third item
  CHECK(queue.dropped() == 2);
  hooks.open_gate();
  queue.stop(60000);
  CHECK(hooks.observed() == std::vector<std::string>{"a", "b", "d"});
  CHECK(queue.delivered() == 3);
  CHECK(hooks.abandoned() == 0);   // drained within the budget: nothing cut short
  queue.push(copy_of("late", 0));  // after stop: dropped, never blocks
  CHECK(queue.dropped() == 3);
}

TEST_CASE("proxy observe queue: stop's budget bounds the drain", "[proxy]") {
  ScriptedHooks hooks;
  ObserveQueue queue(hooks, 8, 1000);
  queue.push(copy_of("held", 1));
  hooks.wait_observed(1);
  queue.push(copy_of("queued-1", 1));
  queue.push(copy_of("queued-2", 1));
  // The hook is still busy with "held" when the budget (none) runs out: the queued copies are
  // dropped at once, and the copy in progress is abandoned (the gate never opens otherwise).
  queue.stop(0);
  CHECK(hooks.observed() == std::vector<std::string>{"held"});
  CHECK(queue.dropped() == 2);
  CHECK(hooks.abandoned() == 1);
}

TEST_CASE_METHOD(OpenQueue, "proxy observe queue: a REQUEST copy waits for its invocation's end",
                 "[proxy]") {
  SECTION("another invocation's copy overtakes it; settle() lets it go") {
    queue.push(request_copy("x"));
    queue.push(response_copy("y"));
    hooks.wait_observed(1);
    CHECK(hooks.observed() == std::vector<std::string>{"response y"});
    queue.settle("x");
    hooks.wait_observed(2);
    CHECK(hooks.observed() == std::vector<std::string>{"response y", "request x"});
  }
  SECTION("its own RESPONSE copy lets it go first") {
    queue.push(request_copy("x"));
    queue.push(response_copy("x"));
    hooks.wait_observed(2);
    CHECK(hooks.observed() == std::vector<std::string>{"request x", "response x"});
  }
  SECTION("stop() delivers it at once") {
    queue.push(request_copy("x"));
    queue.stop(60000);
    CHECK(hooks.observed() == std::vector<std::string>{"request x"});
    CHECK(queue.dropped() == 0);
  }
}

TEST_CASE_METHOD(OpenQueue,
                 "proxy observe queue: await() returns once the invocation ended and its copies "
                 "are out",
                 "[proxy]") {
  SECTION("ended, both copies delivered") {
    queue.push(request_copy("x"));
    queue.push(response_copy("x"));
    queue.settle("x");
    CHECK(queue.await("x", in_ms(60000)));
    CHECK(queue.delivered() == 2);
    CHECK(hooks.observed() == std::vector<std::string>{"request x", "response x"});
  }
  SECTION("ended without copies (intercept mode, a hook's decision)") {
    queue.settle("q");
    CHECK(queue.await("q", in_ms(60000)));
  }
  SECTION("not ended by the deadline") {
    queue.push(response_copy("x"));
    CHECK_FALSE(queue.await("x", in_ms(20)));
    hooks.wait_observed(1);  // the copy itself went as usual
  }
  SECTION("begun, then ended: waited for") {
    queue.begin("x");
    queue.settle("x");
    CHECK(queue.await("x", in_ms(60000)));
  }
  SECTION("never begun here (its runtime does not use the proxy): given up after a grace") {
    // Were the grace ignored, this would wait ten minutes, past the test's timeout.
    CHECK_FALSE(queue.await("elsewhere", in_ms(600000)));
  }
  SECTION("stopping") {
    queue.stop(0);
    CHECK_FALSE(queue.await("x", in_ms(60000)));
  }
  SECTION("only the latest ends are remembered") {
    for (size_t i = 0; i <= ObserveQueue::kRememberedEnds; ++i) queue.settle(std::to_string(i));
    CHECK(queue.await(std::to_string(ObserveQueue::kRememberedEnds), in_ms(60000)));
    CHECK_FALSE(queue.await("0", in_ms(10)));
  }
}

TEST_CASE_METHOD(ShortHoldQueue,
                 "proxy observe queue: await() lets a REQUEST copy go when its hold is over",
                 "[proxy]") {
  queue.push(request_copy("x"));
  // The invocation runs on past the hold: the copy goes while the host waits for its end.
  CHECK_FALSE(queue.await("x", in_ms(200)));
  hooks.wait_observed(1);
  CHECK(hooks.observed() == std::vector<std::string>{"request x"});
}
