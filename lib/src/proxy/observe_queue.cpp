#include "extension_runner/proxy/observe_queue.hpp"

#include <chrono>

namespace extension_runner {

ObserveQueue::ObserveQueue(InvocationHooks& hooks, size_t max_items, size_t max_bytes)
    : hooks_(hooks), max_items_(max_items), max_bytes_(max_bytes) {
  thread_ = std::thread([this] { drain(); });
}

ObserveQueue::~ObserveQueue() { stop(0); }

void ObserveQueue::push(ObserveCopy copy) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ || queue_.size() >= max_items_ || queued_bytes_ + copy.bytes > max_bytes_) {
      ++dropped_;
      return;
    }
    queued_bytes_ += copy.bytes;
    queue_.push_back(std::move(copy));
  }
  cv_.notify_one();
}

void ObserveQueue::drain() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    cv_.wait(lock, [this] { return !queue_.empty() || stopping_; });
    if (queue_.empty()) return;
    ObserveCopy copy = std::move(queue_.front());
    queue_.pop_front();
    queued_bytes_ -= copy.bytes;
    delivering_ = true;
    lock.unlock();
    hooks_.observe(copy.build());
    copy = {};  // free the body before waiting again
    lock.lock();
    delivering_ = false;
    ++delivered_;
    if (stopping_) cv_.notify_all();  // stop() waits for the queue to empty
  }
}

void ObserveQueue::stop(int64_t budget_ms) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!thread_.joinable()) return;
  stopping_ = true;
  cv_.notify_all();
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(budget_ms);
  const bool drained =
      cv_.wait_until(lock, until, [this] { return queue_.empty() && !delivering_; });
  // Past the budget: what is still queued is dropped at once (its memory freed), and the copy
  // the hooks have is abandoned rather than waited for up to its own deadline.
  dropped_ += queue_.size();
  queue_.clear();
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
