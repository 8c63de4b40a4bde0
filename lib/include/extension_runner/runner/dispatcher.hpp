#pragma once
/**
 * @file dispatcher.hpp
 * One worker thread that owns an Invoker and runs every request through it, in FIFO order.
 * Producers (the lifecycle's INVOKE/SHUTDOWN, later the telemetry module's
 * `{"eventType":"TELEMETRY","records":[…]}` batches) submit requests from any thread and
 * wait on the returned Ticket as long as they choose.
 *
 * The invoker is created, used and destroyed on the worker thread, so a child it spawns is
 * tied (PR_SET_PDEATHSIG) to a thread that lives as long as the dispatcher.
 */
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "extension_runner/core/result.hpp"
#include "extension_runner/runner/invoker.hpp"
#include "extension_runner/runner/protocol.hpp"

namespace extension_runner {

/** The pending outcome of one submitted request; copyable, awaitable from any thread. */
class Ticket {
 public:
  /** The reply (or the invoker's Error) once done; nullopt if `deadline` came first. */
  std::optional<Result<InvokeReply>> wait_until(
      std::chrono::steady_clock::time_point deadline) const;

 private:
  friend class Dispatcher;
  std::shared_future<Result<InvokeReply>> future_;
  std::shared_ptr<const Result<InvokeReply>> done_;  ///< Set instead when run inline.
};

/**
 * Told about every request the dispatcher finished, on the thread that ran it (the worker, or
 * the caller of run_or_submit), one at a time; keep it cheap.
 */
using ReplyObserver =
    std::function<void(const InvokeRequest& request, const Result<InvokeReply>& reply)>;

class Dispatcher {
 public:
  using InvokerFactory = std::function<Result<std::unique_ptr<Invoker>>()>;

  /** Starts the worker thread (idle until start()). `observer` may be empty. */
  explicit Dispatcher(ReplyObserver observer = {});
  /** stop(0) if not stopped yet. */
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  /** Runs `factory` on the worker thread and keeps the invoker; returns the factory's error. */
  Result<void> start(InvokerFactory factory);
  /**
   * As start(), without waiting: requests submitted from now on queue behind the factory. If it
   * fails, its Error becomes the fatal error, so those requests (and fatal_error()) carry it.
   */
  void start_in_background(InvokerFactory factory);

  /**
   * Queues `request` behind those already queued. Its ticket completes with the invoker's
   * answer; with the invoker's fatal Error once one occurred (later requests are not run); or
   * with Error{Cancelled} if the dispatcher stops first. Each reply is logged (debug; warn
   * when `errors`).
   */
  Ticket submit(InvokeRequest request);
  /**
   * As submit(), but the request's deadline is set when it *starts*: now + `budget_ms` (then
   * capped). For work that waits behind other requests (telemetry batches behind a long
   * INVOKE) and must not expire in the queue.
   */
  Ticket submit_with_budget(InvokeRequest request, int64_t budget_ms);
  /**
   * As submit(), on the priority lane: the request runs before every ordinary request still
   * queued (after the priority requests queued before it, and after a running request or a
   * queued start). For the Runtime API proxy's hooks, which sit on an invocation's path and
   * must never wait behind queued telemetry batches (docs/runner-protocol.md).
   */
  Ticket submit_priority(InvokeRequest request);

  /** Where run_or_submit() queues a request it cannot run at once. */
  enum class Order {
    Fifo,      ///< As submit().
    Priority,  ///< As submit_priority().
  };

  /**
   * The sync fast path: when nothing is queued or running and the invoker is ready()
   * (Invoker::ready: nothing to spawn), runs `request` on the calling thread and returns its
   * completed ticket, sparing the two thread hand-offs of submit() + wait; otherwise exactly
   * submit() (or submit_priority(), for Order::Priority). Either way the outcome, ordering,
   * fatal-error and stop() behaviour are those of submit(): the worker does not start queued
   * work until the request is done, and stop() cancels it like a request running on the worker.
   * When `abandoned` is given and already true as the request would start on the calling
   * thread, its ticket completes with Error{Cancelled} instead: with cancel_inline() this
   * closes the race between a caller's cancellation and the request starting.
   */
  Ticket run_or_submit(InvokeRequest request, Order order = Order::Fifo,
                       const std::atomic<bool>* abandoned = nullptr);

  /**
   * Interrupts the request running on a caller's thread in run_or_submit() right now if it was
   * given this `abandoned` flag (Invoker::cancel: it returns promptly with Error{Cancelled}, and
   * the invoker, sticky, serves nothing more); any other request, inline or on the worker, is
   * left alone. From any thread.
   */
  void cancel_inline(const std::atomic<bool>* abandoned);

  /** Waits until nothing is queued or running; false if `deadline` came first. */
  bool wait_idle(std::chrono::steady_clock::time_point deadline);

  /** Requests started from now on get `deadline = min(own, epoch_ms)` (for the SHUTDOWN budget). */
  void cap_deadlines(int64_t epoch_ms);

  /** The invoker's fatal Error (e.g. ChildCrashed), once it happened. */
  std::optional<Error> fatal_error() const;

  /**
   * Ends everything within about `budget_ms`: queued requests are cancelled, a running one is
   * interrupted (Invoker::cancel), then the invoker's shutdown(budget_ms) runs on the worker
   * and the worker is joined. Idempotent.
   */
  void stop(int64_t budget_ms);

 private:
  struct Job {
    std::optional<InvokeRequest> request;
    std::function<void()> call;   ///< Runs on the worker instead of a request.
    std::function<void()> after;  ///< Runs on the worker once it is idle again.
    std::shared_ptr<std::promise<Result<InvokeReply>>> promise;
    bool last = false;      ///< The worker exits after this job.
    int64_t budget_ms = 0;  ///< > 0: deadline = start + budget_ms.
    bool priority = false;  ///< Queued on the priority lane (submit_priority).
  };

  void run();
  /** Runs `request` on the invoker (its deadline set from `budget_ms` > 0 and the cap). */
  Result<InvokeReply> run_request(InvokeRequest& request, int64_t budget_ms);
  /** mutex_ held. */
  Ticket submit_locked(InvokeRequest request, int64_t budget_ms, bool priority = false);

  mutable std::mutex mutex_;
  std::condition_variable cv_;       ///< Work arrived.
  std::condition_variable idle_cv_;  ///< A job finished.
  std::deque<Job> queue_;
  bool busy_ = false;  ///< A request runs (on the worker, or inline in run_or_submit).
  bool stopping_ = false;
  std::optional<Error> fatal_;
  std::optional<int64_t> deadline_cap_;
  std::unique_ptr<Invoker> invoker_;  ///< Created, used and destroyed on the worker thread.
  Invoker* running_ = nullptr;        ///< invoker_ while a request runs, for cancel().
  bool running_inline_ = false;       ///< The running request runs in run_or_submit().
  const std::atomic<bool>* running_flag_ = nullptr;  ///< Its `abandoned` flag.
  ReplyObserver observer_;  ///< Set before the worker starts, then only read by it.
  std::thread worker_;
};

}  // namespace extension_runner
