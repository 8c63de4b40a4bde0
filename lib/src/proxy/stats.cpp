#include "extension_runner/proxy/stats.hpp"

#include <array>
#include <cstdio>

namespace extension_runner {
namespace {
uint64_t load(const std::atomic<uint64_t>& counter) {
  return counter.load(std::memory_order_relaxed);
}
std::string n(uint64_t value) { return std::to_string(value); }

// Milliseconds from microseconds, with `decimals` places.
std::string ms(uint64_t us, int decimals) {
  std::array<char, 32> text{};
  std::snprintf(text.data(), text.size(), "%.*f", decimals, static_cast<double>(us) / 1000.0);
  return text.data();
}
}  // namespace

ProxyCounters ProxyStats::snapshot() const {
  ProxyCounters c;
  c.requests = load(requests);
  c.invocations = load(invocations);
  c.hook_calls = load(hook_calls);
  c.hook_answers = load(hook_answers);
  c.hook_billed_us = load(hook_billed_us);
  c.hook_failures = load(hook_failures);
  c.failed_open = load(failed_open);
  c.failed_closed = load(failed_closed);
  c.replaced = load(replaced);
  c.answered = load(answered);
  c.rejected = load(rejected);
  c.unseen = load(unseen);
  c.upstream_errors = load(upstream_errors);
  c.runtime_disconnects = load(runtime_disconnects);
  return c;
}

std::string describe_counters(const ProxyCounters& c) {
  return "proxy: " + n(c.invocations) + " invocations, " + n(c.requests) + " requests; hooks " +
         n(c.hook_calls) + " calls, " + n(c.hook_failures) + " failed (" + n(c.failed_open) +
         " open, " + n(c.failed_closed) + " closed), " + ms(c.hook_billed_us, 2) + " ms billed (" +
         ms(c.hook_answers == 0 ? 0 : c.hook_billed_us / c.hook_answers, 3) +
         " ms an answer); decisions " + n(c.replaced) + " replaced, " + n(c.answered) +
         " answered, " + n(c.rejected) + " rejected; " + n(c.unseen) + " unseen; observe " +
         n(c.observe_dropped) + " dropped; " + n(c.upstream_errors) + " upstream errors, " +
         n(c.runtime_disconnects) + " runtime disconnects";
}

}  // namespace extension_runner
