#include "extension_runner/proxy/observe_queue.hpp"

#include <catch2/catch.hpp>

#include "fake_hooks.hpp"

using namespace extension_runner;
using proxy_test::ScriptedHooks;

namespace {
ObserveCopy copy_of(const std::string& event, size_t bytes) {
  return ObserveCopy{[event] { return HookCall{HookContext{}, event, 0}; }, bytes};
}
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
