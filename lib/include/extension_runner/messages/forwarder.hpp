#pragma once
/**
 * @file forwarder.hpp
 * The host's messages component (docs/messages.md): the endpoint, the bounded queue it fills
 * (telemetry's TelemetryQueue) and a delivery thread handing batches to a sink as the `event`
 * of a runner-protocol InvokeRequest:
 * `{"eventType":"MESSAGES","messages":[{"requestId":…,"time":…,"message":…},…]}`.
 *
 * Use from the lifecycle thread:
 *   init        → MessagesForwarder::start (before `/register`, so the function can post at once);
 *   on_invoke   → before_invoke(event), forward the INVOKE to the child, after_invoke(event);
 *   on_shutdown → shutdown(end_ms) before ending the child.
 * When the strategy (EXTENSION_RUNNER_FLUSH, FlushStrategy) says wait, after_invoke returns only
 * once every message received so far has reached the sink, so they reach the child before the
 * next `/next`; otherwise they reach it as they arrive.
 */
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "extension_runner/core/result.hpp"
#include "extension_runner/lambda/events.hpp"
#include "extension_runner/messages/endpoint.hpp"
#include "extension_runner/messages/invocation_tag.hpp"
#include "extension_runner/messages/options.hpp"
#include "extension_runner/telemetry/flush_strategy.hpp"
#include "extension_runner/telemetry/forwarder.hpp"
#include "extension_runner/telemetry/queue.hpp"

namespace extension_runner {

/** `{"eventType":"MESSAGES","messages":[…]}` for a popped batch. */
std::string messages_event_json(const TelemetryBatch& batch);

/** The messages counters: what the counters line at SHUTDOWN shows. */
struct MessagesCounters {
  uint64_t received = 0;           ///< Messages in posts answered 202 or 503.
  uint64_t delivered = 0;          ///< Messages the sink took.
  uint64_t refused = 0;            ///< Messages answered 503 (queue full, shutting down).
  uint64_t dropped = 0;            ///< Accepted messages the sink failed or SHUTDOWN cut off.
  uint64_t rejected_requests = 0;  ///< Posts answered 4xx/5xx (any reason, 503 included).

  /** `messages: received=… delivered=… refused=… dropped=… rejected_requests=…`. */
  std::string to_line() const;
};

class MessagesForwarder {
 public:
  /**
   * Starts the endpoint and the delivery thread. `one_at_a_time`: the standard platform (untagged
   * messages take the invocation in flight). Errors: ConfigInvalid (listen address),
   * ListenerFailed (bind). Requires options.enabled.
   */
  static Result<std::unique_ptr<MessagesForwarder>> start(const MessagesOptions& options,
                                                          FlushMode flush, bool one_at_a_time,
                                                          BatchSink sink,
                                                          ForwarderOptions delivery = {});
  /** Stops the endpoint and joins the delivery thread. */
  ~MessagesForwarder();
  MessagesForwarder(const MessagesForwarder&) = delete;
  MessagesForwarder& operator=(const MessagesForwarder&) = delete;

  int port() const { return endpoint_->port(); }

  /** An INVOKE arrived: untagged messages from now on belong to it (standard platform). */
  void before_invoke(const InvokeEvent& event);

  /**
   * When the strategy says wait: waits until every message received so far reached the sink,
   * bounded by the event's deadline. Returns whether they did (true when not waiting).
   */
  bool after_invoke(const InvokeEvent& event, std::chrono::steady_clock::time_point received =
                                                  std::chrono::steady_clock::now());

  /**
   * Refuses new posts (503), delivers what is queued until drained or `end_ms` (epoch ms), counts
   * the rest dropped, logs the counters line. Idempotent.
   */
  void shutdown(int64_t end_ms);

  MessagesCounters counters() const;

 private:
  MessagesForwarder(const MessagesOptions& options, FlushMode flush, bool one_at_a_time,
                    BatchSink sink, ForwarderOptions delivery);
  void deliver_loop();

  const ForwarderOptions delivery_options_;
  BatchSink sink_;
  TelemetryQueue queue_;
  InvocationTag tag_;
  FlushStrategy strategy_;
  std::unique_ptr<MessagesEndpoint> endpoint_;  ///< After queue_ and tag_: destroyed first.
  bool shut_down_ = false;
  std::atomic<int64_t> deadline_cap_ms_{INT64_MAX};
  std::thread delivery_;
};

}  // namespace extension_runner
