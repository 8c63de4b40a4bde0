#include "extension_runner/proxy/observe_queue.hpp"

#include <algorithm>

namespace extension_runner {

ObserveQueue::ObserveQueue(InvocationHooks& hooks, size_t max_items, size_t max_bytes,
                           std::chrono::milliseconds request_hold)
    : hooks_(hooks), max_items_(max_items), max_bytes_(max_bytes), request_hold_(request_hold) {
  thread_ = std::thread([this] { drain(); });
}

ObserveQueue::~ObserveQueue() { stop(0); }

// A held copy does not wake the drain thread: the wake-up and the child's would share the CPU
// with the function. Its release (push, settle, await) does.
void ObserveQueue::push(ObserveCopy copy) {
  const auto now = Clock::now();
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ || queue_.size() >= max_items_ || queued_bytes_ + copy.bytes > max_bytes_) {
      ++dropped_;
      return;
    }
    // A hold that is over is noticed here (or by await): the drain thread keeps no timer.
    wake = first_due(now) != queue_.end();
    const bool held = copy.phase == HookPhase::Request && !copy.request_id.empty();
    if (!held && !copy.request_id.empty()) wake = release(copy.request_id, now) || wake;
    if (!copy.request_id.empty()) ++pending_[copy.request_id];
    queued_bytes_ += copy.bytes;
    queue_.push_back(Entry{std::move(copy), held ? now + request_hold_ : now});
    wake = wake || !held;
  }
  if (wake) cv_.notify_one();
}

void ObserveQueue::begin(const std::string& request_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  begun_.insert(request_id);
}

void ObserveQueue::settle(const std::string& request_id) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    begun_.erase(request_id);
    wake = release(request_id, Clock::now());
    if (std::find(ended_.begin(), ended_.end(), request_id) == ended_.end()) {
      ended_.push_back(request_id);
      if (ended_.size() > kRememberedEnds) ended_.pop_front();
    }
  }
  if (wake) cv_.notify_one();
  done_cv_.notify_all();
}

bool ObserveQueue::await(const std::string& request_id, Clock::time_point until) {
  std::unique_lock<std::mutex> lock(mutex_);
  const auto known_by = Clock::now() + kUnknownGrace;
  while (!ended_and_delivered(request_id)) {
    if (stopping_) return false;
    const auto now = Clock::now();
    if (now >= until) return false;
    const bool known = begun_.count(request_id) > 0 || pending_.count(request_id) > 0;
    if (!known && now >= known_by) return false;
    auto wake_at = known ? until : std::min(until, known_by);
    for (const Entry& entry : queue_) {
      if (entry.copy.request_id == request_id) wake_at = std::min(wake_at, entry.release_at);
    }
    if (wake_at <= now) {
      // Its hold is over: due now, but the drain thread keeps no timer to notice.
      cv_.notify_one();
      wake_at = until;
    }
    done_cv_.wait_until(lock, wake_at);
  }
  return true;
}

std::deque<ObserveQueue::Entry>::iterator ObserveQueue::first_due(Clock::time_point now) {
  if (stopping_) return queue_.begin();
  return std::find_if(queue_.begin(), queue_.end(),
                      [now](const Entry& entry) { return entry.release_at <= now; });
}

bool ObserveQueue::release(const std::string& request_id, Clock::time_point now) {
  bool released = false;
  for (Entry& entry : queue_) {
    if (entry.copy.request_id == request_id && entry.release_at > now) {
      entry.release_at = now;
      released = true;
    }
  }
  return released;
}

bool ObserveQueue::ended_and_delivered(const std::string& request_id) const {
  return pending_.count(request_id) == 0 &&
         std::find(ended_.begin(), ended_.end(), request_id) != ended_.end();
}

void ObserveQueue::forget_one(const std::string& request_id) {
  if (request_id.empty()) return;
  auto it = pending_.find(request_id);
  if (it != pending_.end() && --it->second == 0) pending_.erase(it);
}

void ObserveQueue::drain() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    auto due = queue_.end();
    cv_.wait(lock, [&] {
      due = first_due(Clock::now());
      return due != queue_.end() || stopping_;
    });
    if (queue_.empty()) return;
    ObserveCopy copy = std::move(due->copy);
    queue_.erase(due);
    queued_bytes_ -= copy.bytes;
    delivering_ = true;
    lock.unlock();
    hooks_.observe(copy.build());
    copy.build = nullptr;  // free the body before waiting again
    lock.lock();
    delivering_ = false;
    ++delivered_;
    forget_one(copy.request_id);
    done_cv_.notify_all();
  }
}

void ObserveQueue::stop(int64_t budget_ms) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!thread_.joinable()) return;
  stopping_ = true;
  cv_.notify_all();
  done_cv_.notify_all();
  const auto until = Clock::now() + std::chrono::milliseconds(budget_ms);
  const bool drained =
      done_cv_.wait_until(lock, until, [this] { return queue_.empty() && !delivering_; });
  // Past the budget: what is still queued is dropped at once (its memory freed), and the copy
  // the hooks have is abandoned rather than waited for up to its own deadline.
  dropped_ += queue_.size();
  queue_.clear();
  pending_.clear();
  begun_.clear();
  queued_bytes_ = 0;
  lock.unlock();
  cv_.notify_all();
  if (!drained) hooks_.abandon_observe();
  thread_.join();
}

uint64_t ObserveQueue::dropped() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return dropped_;
}

uint64_t ObserveQueue::delivered() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return delivered_;
}

}  // namespace extension_runner
