#include "extension_runner/telemetry/queue.hpp"

#include <algorithm>

namespace extension_runner {
namespace {

// Enough to cover every invocation whose flush could still be pending; old ids are forgotten
// so a long-lived sandbox does not grow this without bound.
constexpr size_t kDoneIdsKept = 1024;

}  // namespace

std::string TelemetryCounters::to_line() const {
  return "telemetry: received=" + std::to_string(received) +
         " delivered=" + std::to_string(delivered) + " dropped=" + std::to_string(dropped) +
         " refused_batches=" + std::to_string(refused_batches) +
         " rejected_requests=" + std::to_string(rejected_requests) +
         " logs_dropped_seen=" + std::to_string(logs_dropped_records) +
         " queued=" + std::to_string(queued + in_flight) +
         " flush_waits=" + std::to_string(flush_waits) +
         " flush_skipped=" + std::to_string(flush_skipped) +
         " flush_silent=" + std::to_string(flush_silent) +
         " flush_deadline=" + std::to_string(flush_deadline);
}

TelemetryQueue::TelemetryQueue(size_t max_records, size_t max_bytes)
    : max_records_(std::max<size_t>(max_records, 1)), max_bytes_(std::max<size_t>(max_bytes, 1)) {}

namespace {

size_t bytes_of(const std::vector<TelemetryRecord>& batch, uint64_t* logs_dropped) {
  size_t bytes = 0;
  for (const auto& r : batch) {
    bytes += r.size();
    if (r.dropped_records > 0 && logs_dropped)
      *logs_dropped += static_cast<uint64_t>(r.dropped_records);
  }
  return bytes;
}

}  // namespace

void TelemetryQueue::note_ids_locked(const std::vector<TelemetryRecord>& batch) {
  // Evidence that an invocation's telemetry is flowing, even if the batch is refused.
  bool new_ids = false;
  for (const auto& r : batch) {
    if (r.request_id.empty() || (!seen_ids_.empty() && seen_ids_.back() == r.request_id)) continue;
    seen_ids_.push_back(r.request_id);
    if (seen_ids_.size() > kDoneIdsKept) seen_ids_.pop_front();
    new_ids = true;
  }
  if (new_ids) progress_.notify_all();
}

bool TelemetryQueue::fits_locked(size_t count, size_t batch_bytes) const {
  // Records handed to the consumer but not completed still occupy memory: they count.
  // Bodies being read and parsed are memory too: their reservations count.
  const size_t held = records_.size() + counters_.in_flight;
  if (held == 0 && reserved_bytes_ == 0) return true;  // any batch still enters an empty queue
  return held + count <= max_records_ &&
         bytes_ + in_flight_bytes_ + reserved_bytes_ + batch_bytes <= max_bytes_;
}

void TelemetryQueue::append_locked(std::vector<TelemetryRecord>& batch, size_t batch_bytes) {
  for (auto& r : batch) records_.push_back(std::move(r));
  bytes_ += batch_bytes;
  ++counters_.accepted_batches;
  records_available_.notify_all();
}

bool TelemetryQueue::push(std::vector<TelemetryRecord> batch, size_t reserved) {
  uint64_t logs_dropped = 0;
  const size_t batch_bytes = bytes_of(batch, &logs_dropped);
  std::lock_guard<std::mutex> lock(mutex_);
  reserved_bytes_ -= std::min(reserved, reserved_bytes_);
  counters_.received += batch.size();
  counters_.logs_dropped_records += logs_dropped;
  note_ids_locked(batch);
  if (!fits_locked(batch.size(), batch_bytes)) {
    counters_.dropped += batch.size();
    ++counters_.refused_batches;
    return false;
  }
  append_locked(batch, batch_bytes);
  return true;
}

bool TelemetryQueue::push_when_room(std::vector<TelemetryRecord> batch,
                                    const std::function<bool()>& stopped) {
  uint64_t logs_dropped = 0;
  const size_t batch_bytes = bytes_of(batch, &logs_dropped);
  std::unique_lock<std::mutex> lock(mutex_);
  note_ids_locked(batch);
  progress_.wait(lock,
                 [&] { return closed_ || stopped() || fits_locked(batch.size(), batch_bytes); });
  counters_.received += batch.size();
  counters_.logs_dropped_records += logs_dropped;
  if (closed_ || !fits_locked(batch.size(), batch_bytes)) {
    counters_.dropped += batch.size();  // read, but the listener is stopping: never uncounted
    return false;
  }
  append_locked(batch, batch_bytes);
  return true;
}

bool TelemetryQueue::reserve(size_t bytes, size_t own) {
  std::lock_guard<std::mutex> lock(mutex_);
  // A body arriving in pieces into a queue holding nothing else grows as push() would take it.
  const bool alone = records_.size() + counters_.in_flight == 0 && reserved_bytes_ <= own;
  if (!alone && !fits_locked(1, bytes)) return false;
  reserved_bytes_ += bytes;
  return true;
}

void TelemetryQueue::release(size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  reserved_bytes_ -= std::min(bytes, reserved_bytes_);
  progress_.notify_all();  // room for a TCP reader waiting in push_when_room
}

void TelemetryQueue::refuse(size_t records) {
  std::lock_guard<std::mutex> lock(mutex_);
  counters_.received += records;
  counters_.dropped += records;
  ++counters_.refused_batches;
}

void TelemetryQueue::wake_pushers() {
  std::lock_guard<std::mutex> lock(mutex_);
  progress_.notify_all();
}

void TelemetryQueue::count_rejected_request() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++counters_.rejected_requests;
}

TelemetryBatch TelemetryQueue::pop_batch(size_t max_records, size_t max_bytes,
                                         Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  records_available_.wait_until(lock, deadline, [&] { return closed_ || !records_.empty(); });
  TelemetryBatch batch;
  while (!records_.empty() && batch.records.size() < std::max<size_t>(max_records, 1)) {
    const size_t size = records_.front().size();
    if (!batch.records.empty() && batch.bytes + size > max_bytes) break;
    batch.bytes += size;
    bytes_ -= size;
    batch.records.push_back(std::move(records_.front()));
    records_.pop_front();
  }
  counters_.in_flight += batch.records.size();
  in_flight_bytes_ += batch.bytes;
  return batch;
}

void TelemetryQueue::complete(const TelemetryBatch& batch, bool delivered) {
  std::lock_guard<std::mutex> lock(mutex_);
  // One consumer, one batch in flight: after abandon_in_flight() nothing of it is left to count.
  const uint64_t n = std::min<uint64_t>(batch.records.size(), counters_.in_flight);
  counters_.in_flight -= n;
  in_flight_bytes_ -= std::min(batch.bytes, in_flight_bytes_);
  (delivered ? counters_.delivered : counters_.dropped) += n;
  for (const auto& r : batch.records) {
    if (r.ends_invocation() && !r.request_id.empty()) remember_done_locked(r.request_id);
  }
  progress_.notify_all();
}

void TelemetryQueue::remember_done_locked(const std::string& request_id) {
  if (is_done_locked(request_id)) return;
  done_ids_.push_back(request_id);
  if (done_ids_.size() > kDoneIdsKept) done_ids_.pop_front();
}

bool TelemetryQueue::is_done_locked(const std::string& request_id) const {
  return std::find(done_ids_.rbegin(), done_ids_.rend(), request_id) != done_ids_.rend();
}

bool TelemetryQueue::wait_for_runtime_done(const std::string& request_id,
                                           Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  progress_.wait_until(lock, deadline, [&] { return closed_ || is_done_locked(request_id); });
  return is_done_locked(request_id);
}

bool TelemetryQueue::is_seen_locked(const std::string& request_id) const {
  return std::find(seen_ids_.rbegin(), seen_ids_.rend(), request_id) != seen_ids_.rend();
}

TelemetryQueue::InvocationWait TelemetryQueue::wait_for_invocation(const std::string& request_id,
                                                                   Clock::time_point evidence_by,
                                                                   Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (is_done_locked(request_id)) return InvocationWait::Done;
    const auto now = Clock::now();
    if (closed_ || now >= deadline) return InvocationWait::Deadline;
    const bool seen = is_seen_locked(request_id);
    if (!seen && now >= evidence_by) return InvocationWait::Silent;
    progress_.wait_until(lock, seen ? deadline : std::min(evidence_by, deadline));
  }
}

bool TelemetryQueue::wait_until_drained(Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  auto drained = [&] { return records_.empty() && counters_.in_flight == 0; };
  progress_.wait_until(lock, deadline, [&] { return closed_ || drained(); });
  return drained();
}

bool TelemetryQueue::wait_until_completed(uint64_t received_mark, Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  auto completed = [&] { return counters_.delivered + counters_.dropped >= received_mark; };
  progress_.wait_until(lock, deadline, [&] { return closed_ || completed(); });
  return completed();
}

bool TelemetryQueue::wait_for_batch_after(uint64_t accepted_before, Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  auto arrived = [&] { return counters_.accepted_batches > accepted_before; };
  records_available_.wait_until(lock, deadline, [&] { return closed_ || arrived(); });
  return arrived();
}

void TelemetryQueue::discard_queued() {
  std::lock_guard<std::mutex> lock(mutex_);
  counters_.dropped += records_.size();
  records_.clear();
  bytes_ = 0;
  progress_.notify_all();
}

void TelemetryQueue::abandon_in_flight() {
  std::lock_guard<std::mutex> lock(mutex_);
  counters_.dropped += counters_.in_flight;
  counters_.in_flight = 0;
  in_flight_bytes_ = 0;
  progress_.notify_all();
}

void TelemetryQueue::close() {
  std::lock_guard<std::mutex> lock(mutex_);
  closed_ = true;
  records_available_.notify_all();
  progress_.notify_all();
}

bool TelemetryQueue::closed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return closed_;
}

TelemetryCounters TelemetryQueue::counters() const {
  std::lock_guard<std::mutex> lock(mutex_);
  TelemetryCounters c = counters_;
  c.queued = records_.size();
  c.queued_bytes = bytes_;
  return c;
}

}  // namespace extension_runner
