#pragma once
/**
 * @file observe_queue.hpp
 * Observe copies on their way to the hooks: a bounded queue (items and bytes) drained by one
 * thread, so the function's path only ever pays for a push. A copy that does not fit is dropped
 * and counted, never waited for. The copy's event is built on the drain thread, not on the
 * function's path.
 */
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "extension_runner/proxy/hooks.hpp"

namespace extension_runner {

/** One copy: builds its HookCall when its turn comes; `bytes` counts against the bound. */
struct ObserveCopy {
  std::function<HookCall()> build;
  size_t bytes = 0;
};

class ObserveQueue {
 public:
  /** Starts the drain thread, which hands each copy to `hooks.observe`. */
  ObserveQueue(InvocationHooks& hooks, size_t max_items, size_t max_bytes);
  /** stop(0) when not stopped yet. */
  ~ObserveQueue();
  ObserveQueue(const ObserveQueue&) = delete;
  ObserveQueue& operator=(const ObserveQueue&) = delete;

  /** Queues `copy`, or drops it (counted) when either bound would be exceeded or stopping. */
  void push(ObserveCopy copy);

  /**
   * Drains what is queued until `budget_ms` is up, drops (and counts) the rest, and joins the
   * drain thread. A copy still being observed when the budget ends is abandoned
   * (InvocationHooks::abandon_observe), so this returns within the budget plus the time
   * observe() takes to give up. Idempotent.
   */
  void stop(int64_t budget_ms);

  uint64_t dropped() const;
  uint64_t delivered() const;

 private:
  void drain();

  InvocationHooks& hooks_;
  const size_t max_items_;
  const size_t max_bytes_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<ObserveCopy> queue_;
  size_t queued_bytes_ = 0;
  bool stopping_ = false;
  bool delivering_ = false;  ///< hooks_.observe() runs on the drain thread now.
  uint64_t dropped_ = 0;
  uint64_t delivered_ = 0;
  std::thread thread_;
};

}  // namespace extension_runner
