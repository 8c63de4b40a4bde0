#pragma once
/**
 * @file telemetry_batcher.hpp
 * The platform's side of telemetry delivery for one subscription, as the emulator plays it: the
 * batching model of AWS's emulator, which AWS documents for the default platform too ("the
 * maximum time to buffer a batch") [TEL][RIE][LMI] (docs/platform.md, Telemetry API):
 *
 * - a batch **opens at its first record** and is sent `timeout_ms` later, or at once when it
 *   holds `max_items` records or `max_bytes` bytes;
 * - **one POST in flight**: a batch that becomes ready while the previous POST is still pending
 *   is dropped, and a `platform.logsDropped` record saying how many records and bytes were lost
 *   opens the next batch;
 * - a batch the subscriber answers with an error status (or a failed connection) is retried
 *   with backoff ("Lambda retries … with backoff" [TEL]) up to `max_attempts`, then dropped,
 *   counted and reported the same way;
 * - an explicit flush (everything buffered is sent now) happens only when asked, at shutdown.
 *
 * So a record waits up to `timeout_ms` before it is posted: a per-invoke wait for
 * `platform.runtimeDone` costs up to `timeout_ms` of billed time. Every record added is, in the
 * end, exactly one of: sent, dropped (busy), dropped (refused), or unsent at destruction.
 *
 * Thread-safe: add() from any thread (several concurrent invocations may publish); one worker
 * thread, owned and joined by the batcher, does the waiting and the POSTs.
 */
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace extension_runner {

/** A subscription's `buffering` [TEL]; the defaults are the platform's. */
struct BatchLimits {
  size_t max_items = 10000;
  size_t max_bytes = 262144;  ///< Sum of the records' JSON bytes.
  int64_t timeout_ms = 1000;
};

/**
 * Sends one batch (the records' JSON elements, in order) to the subscriber. Returns the HTTP
 * status (200–299 = accepted), or -1 when the destination could not be reached. Called only from
 * the batcher's worker thread.
 */
using BatchPoster = std::function<int(const std::vector<std::string>& records)>;

/** What became of one batch (sent, or dropped). */
struct BatchOutcome {
  size_t records = 0;
  size_t bytes = 0;
  int status = 0;          ///< Last HTTP status; -1 = unreachable; 0 = never posted (dropped busy).
  int attempts = 0;        ///< POSTs made for it.
  bool sent = false;       ///< Accepted by the subscriber.
  bool busy_drop = false;  ///< Dropped because a POST was pending when it became ready.
};

struct BatcherOptions {
  BatchLimits limits;
  int max_attempts = 4;  ///< POSTs per batch (the first and its retries) before it is dropped.
  std::chrono::milliseconds first_backoff{5};  ///< Doubled after each failed attempt …
  std::chrono::milliseconds max_backoff{100};  ///< … up to this.
  /**
   * Whether drops are reported with a `platform.logsDropped` record (a platform event: set it
   * when the subscriber subscribed to `platform`). They are counted either way.
   */
  bool report_drops = true;
  /** Called on the worker thread after every batch outcome (e.g. for a trace); may be empty. */
  std::function<void(const BatchOutcome&)> on_batch;
};

/** Counters; records_added = records_sent + records_dropped_busy + records_dropped_refused +
 *  records_buffered (+ records in flight). */
struct BatcherCounters {
  uint64_t records_added = 0;  ///< Including the platform.logsDropped records it made itself.
  uint64_t records_sent = 0;
  uint64_t batches_sent = 0;
  uint64_t records_dropped_busy = 0;  ///< Ready while a POST was pending.
  uint64_t batches_dropped_busy = 0;
  uint64_t records_dropped_refused = 0;  ///< Error status or unreachable after every attempt.
  uint64_t batches_dropped_refused = 0;
  uint64_t retries = 0;               ///< POSTs after the first, over all batches.
  uint64_t logs_dropped_emitted = 0;  ///< platform.logsDropped records made.
  uint64_t records_buffered = 0;      ///< In the open batch now.
  uint64_t records_in_flight = 0;     ///< In the batch being posted now.
};

class TelemetryBatcher {
 public:
  TelemetryBatcher(BatchPoster poster, BatcherOptions options);
  /** Stops the worker (ending retries early) and joins it; buffered records stay unsent. */
  ~TelemetryBatcher();
  TelemetryBatcher(const TelemetryBatcher&) = delete;
  TelemetryBatcher& operator=(const TelemetryBatcher&) = delete;

  /**
   * Adds one `{"time","type","record"}` element (raw JSON). Opens a batch if none is open; a
   * batch that reaches max_items or max_bytes is ready at once (and dropped at once if a POST is
   * pending).
   */
  void add(std::string record_json);

  /**
   * Sends everything buffered now (no timeout_ms wait) and waits until nothing is buffered or in
   * flight, or `deadline`. True when drained. Records added meanwhile are flushed too.
   */
  bool flush(std::chrono::steady_clock::time_point deadline);

  BatcherCounters counters() const;
  const BatchLimits& limits() const { return options_.limits; }

  /** The `platform.logsDropped` element the batcher emits [TEL schema]. */
  static std::string logs_dropped_record(const std::string& reason, uint64_t records,
                                         uint64_t bytes);

 private:
  using Clock = std::chrono::steady_clock;
  struct Pending {
    std::string json;
    Clock::time_point added;
    bool logs_dropped = false;  ///< Made by the batcher: its loss is not reported again.
  };

  void run();
  bool ready_locked(Clock::time_point now) const;
  void drop_open_locked(size_t count, const char* reason);
  void drop_expired_locked(Clock::time_point now);
  void append_locked(std::string json, Clock::time_point now, bool logs_dropped = false);
  void count_unreported_locked(const std::vector<Pending>& lost, size_t count, const char* reason);
  void report_drop_locked(Clock::time_point now);
  bool full_locked() const;
  BatchOutcome send(const std::vector<std::string>& records, size_t bytes);
  std::vector<Pending> taken_;  ///< The batch in flight (its flags, for a refusal).

  BatchPoster poster_;
  const BatcherOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable work_;  ///< For the worker: records added, flush, stop.
  std::condition_variable idle_;  ///< For flush(): a batch finished.
  std::vector<Pending> open_;     ///< The open batch, in arrival order.
  size_t open_bytes_ = 0;
  bool in_flight_ = false;
  int flushing_ = 0;  ///< flush() calls waiting: buffered batches are ready at once.
  bool stopping_ = false;
  uint64_t unreported_records_ = 0, unreported_bytes_ = 0;  ///< Dropped, not yet in a logsDropped.
  std::string unreported_reason_;
  std::vector<BatchOutcome> outcomes_;  ///< Not yet passed to on_batch (worker does).
  BatcherCounters counters_;
  std::thread worker_;  ///< Last: started after everything it uses.
};

}  // namespace extension_runner
