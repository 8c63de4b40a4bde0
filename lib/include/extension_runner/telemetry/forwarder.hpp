#pragma once
/**
 * @file telemetry_forwarder.hpp
 * The host's telemetry component: listener + subscription + delivery of batches to a sink
 * (the child runtime, or stdout), with the per-invoke and shutdown flushes of issue 4.
 *
 * Use from the event handler (lifecycle thread):
 *   init        → TelemetryForwarder::start (bind, serve, then subscribe [TEL]);
 *   on_invoke   → forward the INVOKE to the child, then after_invoke(event);
 *   on_shutdown → shutdown(event.deadline_ms) before ending the child.
 * A delivery thread owned by the forwarder pops merged batches from the queue and hands them
 * to the sink as the `event` of a runner-protocol InvokeRequest:
 * `{"eventType":"TELEMETRY","records":[…records exactly as received…]}`.
 */
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "extension_runner/core/result.hpp"
#include "extension_runner/lambda/events.hpp"
#include "extension_runner/lambda/http.hpp"
#include "extension_runner/telemetry/flush_strategy.hpp"
#include "extension_runner/telemetry/listener.hpp"
#include "extension_runner/telemetry/options.hpp"
#include "extension_runner/telemetry/queue.hpp"
#include "extension_runner/telemetry/subscription.hpp"

namespace extension_runner {

/**
 * Delivers one TELEMETRY event (compact JSON) and returns whether it was delivered. Called from
 * the forwarder's delivery thread, concurrently with the lifecycle thread's INVOKEs: the sink
 * must serialise with them (the runner Dispatcher does). It must return by `deadline_ms`
 * (epoch ms). false → the batch's records are counted as dropped.
 */
using BatchSink = std::function<bool(const std::string& event_json, int64_t deadline_ms)>;

/** Sends the subscription request to the Runtime API (e.g. ExtensionsClient::send). */
using SubscribeSender = std::function<Result<HttpResponse>(const HttpRequest& request)>;

/** `{"eventType":"TELEMETRY","records":[raw,…]}` for a popped batch. */
std::string telemetry_event_json(const TelemetryBatch& batch);

/**
 * A sink writing each TELEMETRY event as one JSON line to `fd` (stdout in the no-child mode).
 * Thread-safe. Returns false (records counted as dropped) when the write fails.
 */
BatchSink make_json_lines_sink(int fd);

/**
 * The sink without a child: JSON lines on stdout, unless `extension` records are subscribed
 * (stdout would feed back into them [TEL]); then batches are counted as dropped, and one
 * warning says so.
 */
BatchSink make_no_child_sink(const TelemetryOptions& options);

/** Tunables; the defaults suit Lambda. */
struct ForwarderOptions {
  size_t batch_max_records = 1000;  ///< Records merged into one TELEMETRY event at most.
  /**
   * Bytes (TelemetryRecord::size) merged (≥ 1 record always). The event's JSON and its
   * protocol line are copies outside the queue's bound: kept small so they fit its 4 MB margin.
   */
  size_t batch_max_bytes = 256 * 1024;
  int64_t delivery_timeout_ms = 5000;  ///< Deadline given to the sink for one event.
  /** Shutdown: "no new batch for this long" ends the flush; 0 = buffering.timeoutMs + 50. */
  int64_t quiet_period_ms = 0;
  /**
   * Per-invoke flush: no record naming the invocation by INVOKE + buffering.timeoutMs + this
   * means telemetry is not flowing, and the wait ends (the platform posts a batch at most
   * timeoutMs after its first record [TEL][LMI]; the margin covers delivery).
   */
  int64_t evidence_margin_ms = 250;
};

class TelemetryForwarder {
 public:
  /**
   * Binds the listener, starts serving and delivering, then subscribes with `identifier`.
   * Errors: ConfigInvalid (listen address), ListenerFailed (bind), SubscribeFailed (a 4xx/5xx
   * answer, or the API unreachable) → the caller reports init/error. A `*.NotSupported` answer
   * is not an error: one warning is logged and subscribed() is false.
   * Requires telemetry.mode != Off.
   */
  static Result<std::unique_ptr<TelemetryForwarder>> start(const TelemetryOptions& telemetry,
                                                           const TelemetryContext& context,
                                                           const std::string& identifier,
                                                           const SubscribeSender& send,
                                                           BatchSink sink,
                                                           ForwarderOptions options = {});

  /** Stops the listener and joins the delivery thread (waiting for a sink call in flight). */
  ~TelemetryForwarder();
  TelemetryForwarder(const TelemetryForwarder&) = delete;
  TelemetryForwarder& operator=(const TelemetryForwarder&) = delete;

  /** Whether the API accepted the subscription (false when telemetry is unavailable here). */
  bool subscribed() const { return subscribed_; }
  /** The destination URI sent in the subscription. */
  const std::string& destination() const { return destination_; }
  int port() const { return listener_ ? listener_->port() : 0; }

  /**
   * Per-invoke flush, by the strategy (EXTENSION_RUNNER_FLUSH, FlushStrategy): when it says
   * wait and the subscription is live, waits until `event.request_id`'s platform.runtimeDone
   * (or platform.report) has been delivered to the sink [OTEL], bounded by evidence and by the
   * deadline:
   * - no record naming the invocation received by `received` + timeoutMs + evidence margin →
   *   telemetry is not flowing: stop waiting, one WARN per environment (then only counted), and
   *   later invocations do not wait until a batch arrives again;
   * - never past the event's deadline.
   * `received`: when the INVOKE arrived. Returns whether the records were delivered (true when
   * the strategy did not wait). Counted in counters() (flush_*).
   */
  bool after_invoke(const InvokeEvent& event, std::chrono::steady_clock::time_point received =
                                                  std::chrono::steady_clock::now());

  /**
   * Shutdown flush, then stop: keeps listening and delivering until the queue is drained and no
   * new batch arrived for the quiet period, all bounded by `end_ms` (epoch ms; the host's
   * ShutdownBudget::telemetry_until_ms, before Lambda's deadline [EXT]). Then stops the listener,
   * counts what is still queued as dropped and logs the counters in one line. Returns by that bound
   * provided the sink honours its deadlines; a sink call begun before shutdown() (deadline up to
   * delivery_timeout_ms later) is not waited for past the bound: end the child, then destroy the
   * forwarder (the destructor joins). Idempotent.
   */
  void shutdown(int64_t end_ms);

  /** The queue's counters plus the flush waits'. */
  TelemetryCounters counters() const;

 private:
  TelemetryForwarder(const TelemetryOptions& telemetry, BatchSink sink, ForwarderOptions options);
  void deliver_loop();
  void stop_delivery();

  const TelemetryOptions telemetry_;
  const ForwarderOptions options_;
  BatchSink sink_;
  TelemetryQueue queue_;
  std::optional<TelemetryListener> listener_;  ///< After queue_: stopped before it is destroyed.
  std::string destination_;
  bool subscribed_ = false;
  bool may_wait_ = false;  ///< The strategy may wait at all (platform subscribed, not Logs 2020).
  FlushStrategy strategy_;
  bool silent_ = false;  ///< Telemetry stopped flowing; waits resume when a batch arrives.
  uint64_t silent_since_batches_ = 0;
  bool warned_silent_ = false;
  std::atomic<uint64_t> flush_waits_{0}, flush_skipped_{0}, flush_silent_{0}, flush_deadline_{0};
  bool shut_down_ = false;
  /** `periodic,MS`: the delivery thread holds records for MS between deliveries until this. */
  std::mutex hold_mutex_;
  std::condition_variable hold_cv_;
  bool hold_released_ = false;
  /** Epoch-ms cap on sink deadlines; lowered at shutdown. */
  std::atomic<int64_t> deadline_cap_ms_{INT64_MAX};
  std::thread delivery_;
};

}  // namespace extension_runner
