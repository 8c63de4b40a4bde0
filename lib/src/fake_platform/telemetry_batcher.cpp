#include "extension_runner/fake_platform/telemetry_batcher.hpp"

#include <algorithm>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/json.hpp"

namespace extension_runner {
namespace {

// The reasons AWS's emulator gives (`…/telemetry/internal/subscriber.go`) [RIE].
constexpr const char* kBusyReason =
    "Some logs were dropped because the downstream consumer is slower than the logs production "
    "rate";
constexpr const char* kRefusedReason =
    "Some logs were dropped because the subscriber did not accept them";

bool accepted(int status) { return status >= 200 && status < 300; }

}  // namespace

TelemetryBatcher::TelemetryBatcher(BatchPoster poster, BatcherOptions options)
    : poster_(std::move(poster)), options_(std::move(options)) {
  worker_ = std::thread([this] { run(); });
}

TelemetryBatcher::~TelemetryBatcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_.notify_all();
  idle_.notify_all();
  worker_.join();
}

std::string TelemetryBatcher::logs_dropped_record(const std::string& reason, uint64_t records,
                                                  uint64_t bytes) {
  return "{\"time\":" + json_quote(format_iso8601(wall_clock_ms())) +
         ",\"type\":\"platform.logsDropped\",\"record\":{\"reason\":" + json_quote(reason) +
         ",\"droppedRecords\":" + std::to_string(records) +
         ",\"droppedBytes\":" + std::to_string(bytes) + "}}";
}

void TelemetryBatcher::add(std::string record_json) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto now = Clock::now();
    // While a POST is pending the worker cannot look at the clock: the batches that became
    // ready meanwhile are dropped here, before this record opens or joins the next one.
    if (in_flight_) {
      drop_expired_locked(now);
      report_drop_locked(now);
    }
    append_locked(std::move(record_json), now);
    if (in_flight_ && full_locked() && flushing_ == 0) {
      drop_open_locked(open_.size(), kBusyReason);
      report_drop_locked(now);
    }
  }
  work_.notify_all();
}

void TelemetryBatcher::append_locked(std::string json, Clock::time_point now, bool logs_dropped) {
  open_bytes_ += json.size();
  open_.push_back(Pending{std::move(json), now, logs_dropped});
  ++counters_.records_added;
}

bool TelemetryBatcher::full_locked() const {
  return open_.size() >= options_.limits.max_items || open_bytes_ >= options_.limits.max_bytes;
}

bool TelemetryBatcher::ready_locked(Clock::time_point now) const {
  if (open_.empty()) return false;
  return flushing_ > 0 || full_locked() ||
         now >= open_.front().added + std::chrono::milliseconds(options_.limits.timeout_ms);
}

void TelemetryBatcher::drop_open_locked(size_t count, const char* reason) {
  count = std::min(count, open_.size());
  BatchOutcome outcome;
  outcome.records = count;
  outcome.busy_drop = true;
  for (size_t i = 0; i < count; ++i) outcome.bytes += open_[i].json.size();
  count_unreported_locked(open_, count, reason);
  open_.erase(open_.begin(), open_.begin() + static_cast<std::ptrdiff_t>(count));
  open_bytes_ -= outcome.bytes;
  counters_.records_dropped_busy += count;
  ++counters_.batches_dropped_busy;
  outcomes_.push_back(outcome);
}

void TelemetryBatcher::count_unreported_locked(const std::vector<Pending>& lost, size_t count,
                                               const char* reason) {
  // A lost platform.logsDropped is not reported by another one: that could churn forever
  // against a listener refusing everything.
  for (size_t i = 0; i < count && i < lost.size(); ++i) {
    if (lost[i].logs_dropped) continue;
    ++unreported_records_;
    unreported_bytes_ += lost[i].json.size();
    unreported_reason_ = reason;
  }
}

void TelemetryBatcher::drop_expired_locked(Clock::time_point now) {
  if (flushing_ > 0) return;  // a flush sends everything; nothing is "ready too early" then
  const auto timeout = std::chrono::milliseconds(options_.limits.timeout_ms);
  while (!open_.empty()) {
    // The open batch was ready at ready_at (or when it filled up) while the POST was pending;
    // the records added after that belong to the next batch.
    const auto ready_at = open_.front().added + timeout;
    size_t n = 0, bytes = 0;
    while (n < open_.size() && open_[n].added <= ready_at && n < options_.limits.max_items &&
           bytes < options_.limits.max_bytes) {
      bytes += open_[n].json.size();
      ++n;
    }
    const bool filled = n >= options_.limits.max_items || bytes >= options_.limits.max_bytes;
    if (!filled && ready_at > now) break;
    drop_open_locked(n, kBusyReason);
  }
}

void TelemetryBatcher::report_drop_locked(Clock::time_point now) {
  if (unreported_records_ == 0) return;
  const uint64_t records = unreported_records_, bytes = unreported_bytes_;
  unreported_records_ = unreported_bytes_ = 0;
  if (!options_.report_drops) return;
  ++counters_.logs_dropped_emitted;
  append_locked(logs_dropped_record(unreported_reason_, records, bytes), now, true);
}

BatchOutcome TelemetryBatcher::send(const std::vector<std::string>& records, size_t bytes) {
  BatchOutcome outcome;
  outcome.records = records.size();
  outcome.bytes = bytes;
  auto backoff = options_.first_backoff;
  for (;;) {
    outcome.status = poster_(records);
    ++outcome.attempts;
    if (accepted(outcome.status)) {
      outcome.sent = true;
      return outcome;
    }
    if (outcome.attempts >= options_.max_attempts) return outcome;
    std::unique_lock<std::mutex> lock(mutex_);
    ++counters_.retries;
    // Lambda "retries … with backoff" [TEL]: this wait is that backoff (a stop ends it).
    if (work_.wait_for(lock, backoff, [&] { return stopping_; })) return outcome;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

void TelemetryBatcher::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (!outcomes_.empty() && options_.on_batch) {
      auto outcomes = std::move(outcomes_);
      outcomes_.clear();
      lock.unlock();
      for (const auto& o : outcomes) options_.on_batch(o);
      lock.lock();
      continue;
    }
    outcomes_.clear();
    if (stopping_) return;
    const auto now = Clock::now();
    if (!ready_locked(now)) {
      if (open_.empty()) {
        work_.wait(lock);
      } else {
        work_.wait_until(
            lock, open_.front().added + std::chrono::milliseconds(options_.limits.timeout_ms));
      }
      continue;
    }
    // Take one batch: at most max_items records; at least one record, then up to max_bytes.
    std::vector<std::string> batch;
    size_t bytes = 0, n = 0;
    while (n < open_.size() && n < options_.limits.max_items &&
           (n == 0 || bytes < options_.limits.max_bytes)) {
      bytes += open_[n].json.size();
      ++n;
    }
    taken_.assign(std::make_move_iterator(open_.begin()),
                  std::make_move_iterator(open_.begin() + static_cast<std::ptrdiff_t>(n)));
    open_.erase(open_.begin(), open_.begin() + static_cast<std::ptrdiff_t>(n));
    for (auto& p : taken_) batch.push_back(std::move(p.json));
    open_bytes_ -= bytes;
    in_flight_ = true;
    counters_.records_in_flight = batch.size();
    lock.unlock();
    BatchOutcome outcome = send(batch, bytes);
    lock.lock();
    in_flight_ = false;
    counters_.records_in_flight = 0;
    if (outcome.sent) {
      counters_.records_sent += outcome.records;
      ++counters_.batches_sent;
    } else {
      counters_.records_dropped_refused += outcome.records;
      ++counters_.batches_dropped_refused;
      for (size_t i = 0; i < taken_.size(); ++i) taken_[i].json = std::move(batch[i]);
      count_unreported_locked(taken_, taken_.size(), kRefusedReason);
    }
    taken_.clear();
    outcomes_.push_back(outcome);
    const auto end = Clock::now();
    drop_expired_locked(end);
    report_drop_locked(end);
    idle_.notify_all();
  }
}

bool TelemetryBatcher::flush(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  ++flushing_;
  work_.notify_all();
  const bool drained =
      idle_.wait_until(lock, deadline, [&] { return stopping_ || (open_.empty() && !in_flight_); });
  --flushing_;
  return drained && open_.empty() && !in_flight_;
}

BatcherCounters TelemetryBatcher::counters() const {
  std::lock_guard<std::mutex> lock(mutex_);
  BatcherCounters c = counters_;
  c.records_buffered = open_.size();
  return c;
}

}  // namespace extension_runner
