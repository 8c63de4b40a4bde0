#pragma once
/**
 * @file queue.hpp
 * The one queue between the telemetry listener (producer, HTTP threads) and the delivery
 * consumer (the thread forwarding batches to the child). Bounded in records and bytes; a batch
 * is taken whole or refused whole, so the listener can answer an error status and let Lambda
 * retry or drop on its side ("Lambda retries … if the POST request results in an error" [TEL]).
 *
 * Accounting, always: received = delivered + dropped + queued + in_flight.
 */
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "extension_runner/telemetry/records.hpp"

namespace extension_runner {

/** A snapshot of the queue's counters. */
struct TelemetryCounters {
  uint64_t received = 0;           ///< Records in accepted or refused batches.
  uint64_t delivered = 0;          ///< Records the consumer completed as delivered.
  uint64_t dropped = 0;            ///< Records refused (queue full) or completed as undeliverable.
  uint64_t accepted_batches = 0;   ///< Batches taken into the queue.
  uint64_t refused_batches = 0;    ///< Batches refused because the queue was full.
  uint64_t rejected_requests = 0;  ///< Requests answered 4xx/5xx by the listener (any reason).
  uint64_t logs_dropped_records = 0;  ///< Sum of `droppedRecords` of platform.logsDropped seen.
  uint64_t queued = 0;                ///< Records waiting now.
  uint64_t queued_bytes = 0;          ///< Their bytes.
  uint64_t in_flight = 0;             ///< Records popped but not yet completed.
  // Per-invoke flush waits (filled in by the forwarder; the queue leaves them 0).
  uint64_t flush_waits = 0;     ///< Invocations that waited at `/next` for their runtimeDone.
  uint64_t flush_skipped = 0;   ///< Invocations the strategy let go without a wait.
  uint64_t flush_silent = 0;    ///< Waits ended or skipped because no telemetry was flowing.
  uint64_t flush_deadline = 0;  ///< Waits ended by the invoke's deadline.

  /** One human-readable line, e.g. for the shutdown log. */
  std::string to_line() const;
};

/** Records popped together; hand back with TelemetryQueue::complete. */
struct TelemetryBatch {
  std::vector<TelemetryRecord> records;
  size_t bytes = 0;
  bool empty() const { return records.empty(); }
};

class TelemetryQueue {
 public:
  using Clock = std::chrono::steady_clock;

  /** Capacity in records and in bytes (sum of TelemetryRecord::size()); both ≥ 1. */
  TelemetryQueue(size_t max_records, size_t max_bytes);
  TelemetryQueue(const TelemetryQueue&) = delete;
  TelemetryQueue& operator=(const TelemetryQueue&) = delete;

  /**
   * Appends the whole batch, or refuses it whole when it would exceed either capacity; records
   * popped but not yet completed, and bytes reserved for bodies being read, count against it.
   * A batch larger than the capacity is still taken when nothing is held or reserved, so no
   * batch is refused forever. `reserved` bytes this caller reserved for the batch's body are
   * given back first. Counts every record as received, and refused ones as dropped. Returns
   * whether the batch was taken.
   */
  bool push(std::vector<TelemetryRecord> batch, size_t reserved = 0);

  /**
   * Holds `bytes` of the byte capacity for a request body being read and parsed (memory the
   * host holds for records that are not queued yet), when they fit beside what is queued, in
   * flight and reserved, with room for one more record — or when nothing is held or reserved
   * but the `own` bytes this caller already reserved for the same body (as push() takes any
   * batch into an empty queue, a body growing in pieces is never refused forever). True if
   * reserved; hand the bytes back with release() or push(batch, bytes). So the byte capacity
   * bounds the bodies too.
   */
  bool reserve(size_t bytes, size_t own = 0);
  /** Gives back bytes reserve() held. */
  void release(size_t bytes);

  /**
   * Counts a batch of `records` refused unparsed (no room to reserve for its body) exactly as
   * push() counts a refused batch: received and dropped, one refused batch.
   */
  void refuse(size_t records);

  /**
   * For a stream (TCP) listener, which has no status to push back with: waits until the batch
   * fits (as push() would take it), then appends it; the reader stops reading meanwhile, so the
   * sender sees a slow reader instead of lost records. Returns false, taking nothing, once
   * `stopped()` is true (checked at each wake-up; wake_pushers() wakes) or after close().
   */
  bool push_when_room(std::vector<TelemetryRecord> batch, const std::function<bool()>& stopped);
  /** Wakes push_when_room waiters (so they re-check `stopped`). */
  void wake_pushers();

  /** Counts one request the listener rejected (bad method, body, size, or pushback). */
  void count_rejected_request();

  /**
   * Waits until records are queued (or `deadline`, or close()), then pops up to `max_records`
   * records and `max_bytes` bytes, in arrival order (always at least one record when any is
   * queued). The records are in flight until complete() is called with the batch.
   */
  TelemetryBatch pop_batch(size_t max_records, size_t max_bytes, Clock::time_point deadline);

  /**
   * Ends a popped batch: `delivered` true counts its records delivered, false counts them
   * dropped (e.g. the child crashed). Either way its runtimeDone/report request ids become
   * "done" for wait_for_runtime_done. Records abandon_in_flight() already counted are not
   * counted again.
   */
  void complete(const TelemetryBatch& batch, bool delivered);

  /**
   * Waits until a `platform.runtimeDone` or `platform.report` for `request_id` has been
   * completed by the consumer. True when it was (including before this call), false at
   * `deadline` or after close().
   */
  bool wait_for_runtime_done(const std::string& request_id, Clock::time_point deadline);

  /** How wait_for_invocation ended. */
  enum class InvocationWait {
    Done,      ///< Its runtimeDone/report was completed by the consumer.
    Silent,    ///< No record naming it had been received by `evidence_by`.
    Deadline,  ///< `deadline` passed (or close()) first.
  };
  /**
   * wait_for_runtime_done, bounded by evidence: gives up at `evidence_by` unless a record
   * naming `request_id` (e.g. its platform.start) has been received by then.
   */
  InvocationWait wait_for_invocation(const std::string& request_id, Clock::time_point evidence_by,
                                     Clock::time_point deadline);

  /** Waits until nothing is queued or in flight. False at `deadline` or after close(). */
  bool wait_until_drained(Clock::time_point deadline);

  /**
   * Waits until the first `received_mark` records received (compare counters().received) are
   * all completed or dropped, whatever arrived since: FIFO, so everything received before the
   * mark was taken has reached the consumer's end. False at `deadline` or after close().
   */
  bool wait_until_completed(uint64_t received_mark, Clock::time_point deadline);

  /**
   * Waits until more than `accepted_before` batches have been accepted (compare with
   * counters().accepted_batches). True if one was; false at `deadline` or after close().
   */
  bool wait_for_batch_after(uint64_t accepted_before, Clock::time_point deadline);

  /** Counts every queued (not in-flight) record as dropped and empties the queue. */
  void discard_queued();

  /**
   * Counts the records in flight as dropped: the consumer stopped waiting for them (the
   * SHUTDOWN deadline passed during a delivery), so whatever the consumer later reports for
   * them is not counted. Afterwards received = delivered + dropped + queued holds exactly.
   */
  void abandon_in_flight();

  /** Wakes every waiter; later waits return immediately. push() keeps working (for counts). */
  void close();
  bool closed() const;

  TelemetryCounters counters() const;

 private:
  void remember_done_locked(const std::string& request_id);
  /** Counts and appends a batch that fits; `seen` ids noted. */
  void append_locked(std::vector<TelemetryRecord>& batch, size_t batch_bytes);
  void note_ids_locked(const std::vector<TelemetryRecord>& batch);
  bool fits_locked(size_t count, size_t batch_bytes) const;
  bool is_done_locked(const std::string& request_id) const;
  bool is_seen_locked(const std::string& request_id) const;

  const size_t max_records_;
  const size_t max_bytes_;
  mutable std::mutex mutex_;
  std::condition_variable records_available_;
  std::condition_variable progress_;  ///< complete() / close(): done ids and drain changed.
  std::deque<TelemetryRecord> records_;
  size_t bytes_ = 0;            ///< Of records_.
  size_t in_flight_bytes_ = 0;  ///< Of popped, not yet completed records.
  size_t reserved_bytes_ = 0;   ///< reserve()d for bodies being read, not yet pushed or released.
  bool closed_ = false;
  TelemetryCounters counters_;
  std::deque<std::string> done_ids_;  ///< Recent completed request ids, oldest first, bounded.
  std::deque<std::string> seen_ids_;  ///< Recent received request ids, oldest first, bounded.
};

}  // namespace extension_runner
