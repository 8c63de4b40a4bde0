#pragma once
/**
 * @file observe_queue.hpp
 * Observe copies on their way to the hooks: a bounded queue (items and bytes) drained by one
 * thread, so the function's path only ever pays for a push. A copy that does not fit is dropped
 * and counted, never waited for. The copy's event is built on the drain thread, not on the
 * function's path.
 *
 * A REQUEST copy waits for its invocation's end (docs/proxy.md, "Observe copies"): the
 * invocation's response, or any other end (a hook's decision, the runtime's connection closing),
 * or the end of its hold (kRequestCopyHold) as noticed by the next push or await, whichever
 * comes first; an invocation shorter than the hold never shares the CPU with its copies. The
 * host, on Lambda, waits for an invocation's copies before it asks for the next event (await),
 * so they reach the child before the environment freezes [EXT], after the response: billed,
 * never on the function's path.
 */
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "extension_runner/proxy/hooks.hpp"

namespace extension_runner {

/**
 * How long a REQUEST copy may wait for its invocation to end. Long enough that most fast
 * invocations (tens of ms at most) end first and their copies go after the response, off the
 * function's CPU; short enough that an observer learns of a long invocation while it runs.
 */
inline constexpr std::chrono::milliseconds kRequestCopyHold{10};

/** One copy: builds its HookCall when its turn comes; `bytes` counts against the bound. */
struct ObserveCopy {
  std::function<HookCall()> build;
  size_t bytes = 0;
  std::string request_id;                 ///< Its invocation ("" for none: never held).
  HookPhase phase = HookPhase::Response;  ///< REQUEST copies are held (file comment).
};

class ObserveQueue {
 public:
  using Clock = std::chrono::steady_clock;

  /** Starts the drain thread, which hands each copy to `hooks.observe`. */
  ObserveQueue(InvocationHooks& hooks, size_t max_items, size_t max_bytes,
               std::chrono::milliseconds request_hold = kRequestCopyHold);
  /** stop(0) when not stopped yet. */
  ~ObserveQueue();
  ObserveQueue(const ObserveQueue&) = delete;
  ObserveQueue& operator=(const ObserveQueue&) = delete;

  /**
   * Queues `copy`, or drops it (counted) when either bound would be exceeded or stopping. A
   * REQUEST copy is held (file comment); any other copy releases the held REQUEST copy of its
   * invocation first, so an invocation's copies reach the hooks in order. Releases every held
   * copy whose hold is over.
   */
  void push(ObserveCopy copy);

  /** `request_id`'s event goes to the runtime now: await() for it waits for its end. */
  void begin(const std::string& request_id);

  /**
   * `request_id`'s invocation ended (answered, settled by a hook, or its runtime's connection
   * closed): its held REQUEST copy goes now, and await() for it returns once its copies are
   * delivered. Call it after pushing the invocation's last copy. Idempotent.
   */
  void settle(const std::string& request_id);

  /**
   * Waits until `request_id` has ended (settle) and none of its copies is queued or being
   * delivered; releases its held REQUEST copy when the hold is over meanwhile. False when
   * `until` came first, when the queue stops, and when the invocation is still unknown after
   * kUnknownGrace: it never began here (its runtime does not use the proxy), or it ended longer
   * ago than the most recent kRememberedEnds, more than the one invocation at a time of Lambda.
   */
  bool await(const std::string& request_id, Clock::time_point until);

  /**
   * Drains what is queued (held copies included, at once) until `budget_ms` is up, drops (and
   * counts) the rest, and joins the drain thread. A copy still being observed when the budget
   * ends is abandoned (InvocationHooks::abandon_observe), so this returns within the budget
   * plus the time observe() takes to give up. Idempotent.
   */
  void stop(int64_t budget_ms);

  uint64_t dropped() const;
  uint64_t delivered() const;

  static constexpr size_t kRememberedEnds = 64;
  /**
   * How long await() waits for an invocation to begin here: Lambda hands the event to the
   * runtime and the INVOKE to the extension at once [EXT], and the proxy may see its event a
   * little after the host sees the INVOKE.
   */
  static constexpr std::chrono::milliseconds kUnknownGrace{100};

 private:
  struct Entry {
    ObserveCopy copy;
    Clock::time_point release_at;  ///< Delivered from then on (REQUEST copies: the hold's end).
  };

  void drain();
  /** mutex_ held: the first entry due for delivery, or queue_.end(). */
  std::deque<Entry>::iterator first_due(Clock::time_point now);
  /** mutex_ held: makes `request_id`'s held copies due now; whether there were any. */
  bool release(const std::string& request_id, Clock::time_point now);
  /** mutex_ held. */
  bool ended_and_delivered(const std::string& request_id) const;
  /** mutex_ held: the delivery of one copy of `request_id` is over (or it was dropped). */
  void forget_one(const std::string& request_id);

  InvocationHooks& hooks_;
  const size_t max_items_;
  const size_t max_bytes_;
  const std::chrono::milliseconds request_hold_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;       ///< A copy is due, or stopping: for the drain thread.
  std::condition_variable done_cv_;  ///< A copy was delivered or an invocation ended.
  std::deque<Entry> queue_;
  size_t queued_bytes_ = 0;
  /** Copies per invocation queued or being delivered. */
  std::unordered_map<std::string, size_t> pending_;
  std::unordered_set<std::string> begun_;  ///< Invocations begun and not yet ended.
  std::deque<std::string> ended_;          ///< The latest kRememberedEnds ended invocations.
  bool stopping_ = false;
  bool delivering_ = false;  ///< hooks_.observe() runs on the drain thread now.
  uint64_t dropped_ = 0;
  uint64_t delivered_ = 0;
  std::thread thread_;
};

}  // namespace extension_runner
