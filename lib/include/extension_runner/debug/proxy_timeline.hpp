#pragma once
/**
 * @file proxy_timeline.hpp
 * What `emulate --proxy` shows of each invocation (docs/debug-mode.md, "Through the Runtime API
 * proxy"): when the platform handed the event out, the child's REQUEST hook answered, the
 * runtime had the event, the runtime answered, the child's RESPONSE hook answered and the
 * platform got the answer, all in ms since the invoke; and over the invocations the proxy's
 * added latency (the two legs through the proxy minus the same legs taken directly) and what
 * the platform got. Pure: the times come from the caller.
 */
#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "extension_runner/fake_platform/runtime_api.hpp"

namespace extension_runner {

using SteadyTime = std::chrono::steady_clock::time_point;

/** One invocation's times; a step that did not happen (or is unknown) is nullopt. */
struct InvocationTimeline {
  std::string request_id;
  SteadyTime invoked;                       ///< INVOKE queued and the event queued: 0.
  std::optional<SteadyTime> event_out;      ///< The platform's `/next` handed the event out.
  std::optional<SteadyTime> request_hook;   ///< The child's answer to REQUEST (or its copy).
  std::optional<SteadyTime> runtime_got;    ///< The runtime had the event (built-in only).
  std::optional<SteadyTime> runtime_sent;   ///< The runtime began its answer (built-in only).
  std::optional<SteadyTime> response_hook;  ///< The child's answer to RESPONSE (or its copy).
  /** What the platform received (its time is when it arrived); nullopt when nothing came. */
  std::optional<RuntimeAnswer> answer;
};

/** The direct path's legs: platform → runtime and runtime → platform without the proxy, ms. */
struct DirectPath {
  double to_runtime_ms = 0;
  double to_platform_ms = 0;
};

/** Milliseconds from `from` to `to`. */
double ms_between(SteadyTime from, SteadyTime to);

/** The median of `values` (0 when empty). */
double median_of(std::vector<double> values);

/**
 * The proxy's added latency for one invocation: (runtime_got − event_out) + (the answer's
 * arrival − runtime_sent) minus the direct path's two legs; nullopt without the runtime's own
 * times.
 */
std::optional<double> added_latency_ms(const InvocationTimeline& t, const DirectPath& direct);

/**
 * `event +0.2 → hook +0.9 → runtime +1.1 → response +1.2 → hook +1.6 → platform +1.8 ms:
 * response, proxy added 0.9 ms`; an unknown step is `-`.
 */
std::string describe_timeline(const InvocationTimeline& t, const DirectPath& direct);

/** Over the invocations: the added latency and what the platform got. */
class ProxyTally {
 public:
  void add(const InvocationTimeline& t, const DirectPath& direct);

  size_t invocations() const { return invocations_; }
  size_t responses() const { return responses_; }
  /** Errors by errortype ("" when the runtime gave none). */
  const std::map<std::string, size_t>& errors() const { return errors_; }
  size_t refused() const { return refused_; }        ///< Answers the platform refused (400, 413).
  size_t unanswered() const { return unanswered_; }  ///< No answer by the deadline.
  /** Added latencies measured, ms, in invocation order. */
  const std::vector<double>& added_ms() const { return added_ms_; }
  /** Nearest-rank percentile of added_ms() (0 when none). */
  double added_percentile(double p) const;

  /**
   * `proxy added p50 0.6 / max 1.2 ms over 3 invocations; the platform got 2 responses,
   * 1 error (Policy.Denied 1)`.
   */
  std::string text() const;

 private:
  size_t invocations_ = 0, responses_ = 0, refused_ = 0, unanswered_ = 0;
  std::map<std::string, size_t> errors_;
  std::vector<double> added_ms_;
};

}  // namespace extension_runner
