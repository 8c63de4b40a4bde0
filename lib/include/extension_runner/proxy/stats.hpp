#pragma once
/**
 * @file stats.hpp
 * The proxy's counters: bumped from any thread, read as one snapshot for the summary line.
 */
#include <atomic>
#include <cstdint>
#include <string>

namespace extension_runner {

struct ProxyCounters {
  uint64_t requests = 0;             ///< Runtime requests served (every path).
  uint64_t invocations = 0;          ///< Events handed to the runtime.
  uint64_t hook_calls = 0;           ///< REQUEST / RESPONSE hooks asked (intercept).
  uint64_t hook_answers = 0;         ///< Hook calls the child answered (well-formed or not).
  uint64_t hook_billed_us = 0;       ///< Their billed time in all (HookReply::billed_ms), in µs.
  uint64_t hook_failures = 0;        ///< Timeouts, crashes, malformed answers.
  uint64_t failed_open = 0;          ///< Failures that forwarded the original.
  uint64_t failed_closed = 0;        ///< Failures that failed the invocation.
  uint64_t replaced = 0;             ///< `payload` decisions.
  uint64_t answered = 0;             ///< `respond` decisions.
  uint64_t rejected = 0;             ///< `errors: true` decisions.
  uint64_t unseen = 0;               ///< Bodies over the limit, passed through without the hooks.
  uint64_t observe_dropped = 0;      ///< Observe copies dropped (queue full, or stop's budget).
  uint64_t upstream_errors = 0;      ///< Upstream unreachable (502 to the runtime, or a cut relay).
  uint64_t runtime_disconnects = 0;  ///< The runtime went away in the middle of a request.
};

/**
 * `proxy: 12 invocations, 25 requests; hooks 24 calls, 1 failed (1 open, 0 closed), 0.61 ms
 * billed (0.026 ms an answer); decisions
 * 2 replaced, 0 answered, 1 rejected; 0 unseen; observe 0 dropped; 0 upstream errors, 0 runtime
 * disconnects`.
 */
std::string describe_counters(const ProxyCounters& counters);

/** The live counters. Relaxed atomics: each is a tally, none orders anything. */
struct ProxyStats {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> invocations{0};
  std::atomic<uint64_t> hook_calls{0};
  std::atomic<uint64_t> hook_answers{0};
  std::atomic<uint64_t> hook_billed_us{0};
  std::atomic<uint64_t> hook_failures{0};
  std::atomic<uint64_t> failed_open{0};
  std::atomic<uint64_t> failed_closed{0};
  std::atomic<uint64_t> replaced{0};
  std::atomic<uint64_t> answered{0};
  std::atomic<uint64_t> rejected{0};
  std::atomic<uint64_t> unseen{0};
  std::atomic<uint64_t> upstream_errors{0};
  std::atomic<uint64_t> runtime_disconnects{0};

  /** Every counter but observe_dropped (the observe queue keeps that one). */
  ProxyCounters snapshot() const;
};

/** `++counter`, relaxed. */
inline void bump(std::atomic<uint64_t>& counter) {
  counter.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace extension_runner
