#pragma once
/**
 * @file flush_strategy.hpp
 * Whether the host waits, before its next `/next`, for an invocation's `platform.runtimeDone`
 * (EXTENSION_RUNNER_FLUSH). Such a wait is billed: it is part of the time from the runtime's
 * response to the last extension's Next (`PostRuntimeExtensionsDuration` [EXT]), and with the
 * platform's batching it costs up to `buffering.timeoutMs` per invocation [TEL][LMI].
 *
 * The adaptive rule (Datadog's: end-of-invocation flushing until invocations come at least once a
 * minute, then periodic): over the last kAdaptiveWindow invocations (this one included), wait at
 * `/next` (invoke) unless the window is full, their mean start-to-start interval is at most
 * kAdaptiveMaxIntervalMs, and so is the latest interval (a long idle gap switches back at once).
 * Frequent invocations mean the next one comes soon: its records (and the previous one's) reach
 * the child then, without any billed wait.
 */
#include <cstddef>
#include <cstdint>
#include <deque>

#include "extension_runner/telemetry/options.hpp"

namespace extension_runner {

inline constexpr size_t kAdaptiveWindow = 20;
inline constexpr int64_t kAdaptiveMaxIntervalMs = 60000;

/**
 * The adaptive rule on invocation start times (ms, any monotonic origin, oldest first, the
 * current invocation last): true = periodic (do not wait), false = invoke (wait).
 */
bool adaptive_prefers_periodic(const std::deque<int64_t>& starts_ms);

/** The per-invocation decision of one strategy. Not thread-safe (the lifecycle thread's). */
class FlushStrategy {
 public:
  explicit FlushStrategy(FlushMode mode) : mode_(mode) {}

  /** An INVOKE started at `now_ms`: whether to wait for its runtimeDone before `/next`. */
  bool should_wait(int64_t now_ms);

  FlushMode mode() const { return mode_; }

 private:
  FlushMode mode_;
  std::deque<int64_t> starts_ms_;  ///< At most kAdaptiveWindow.
};

}  // namespace extension_runner
