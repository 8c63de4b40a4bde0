#pragma once
/**
 * @file proxy_hooks.hpp
 * The Runtime API proxy's hooks (proxy/hooks.hpp) answered by the child runtime: each HookCall
 * becomes one runner-protocol InvokeRequest whose event is the REQUEST / RESPONSE event
 * (docs/runner-protocol.md, "Runtime API proxy").
 *
 * Hooks sit on an invocation's path. They take the main child's priority lane
 * (Dispatcher::submit_priority), so queued telemetry batches never delay them; when the lane's
 * child is idle the hook runs on the calling thread itself (Dispatcher::run_or_submit), sparing
 * two cross-thread wake-ups per call. Observe copies run likewise on the observe thread. Concurrent
 * hooks (Managed Instances run up to `AWS_LAMBDA_MAX_CONCURRENCY` invocations at once [LMI]) do not
 * wait on each other: while the main child is busy, a hook goes to an extra hook child, started
 * on demand (same command, same handshake) up to a bound and kept for later hooks; beyond the
 * bound hooks queue on the main child's priority lane. An extra child that failed for good
 * (its crash limit) is dropped, and the next concurrent hook starts a fresh one.
 */
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "extension_runner/proxy/hooks.hpp"
#include "extension_runner/runner/dispatcher.hpp"

namespace extension_runner {

/**
 * How long past a hook's deadline the adapter waits for the child's answer: the invoker itself
 * answers `Runner.Timeout` at the deadline (killing the child), which takes a moment; the grace
 * keeps that answer, with its reason, instead of a bare "no answer".
 */
inline constexpr int64_t kHookGraceMs = 500;

/**
 * The runner-protocol request for a hook call: its fields moved across (pass an rvalue to spare
 * copying the event), with `measure_memory` off, since hook_outcome drops the billing.
 */
InvokeRequest hook_request(HookCall call);

/**
 * The hook's outcome from the child's reply: the reply's deciding fields, or an Error
 * (ProtocolError) when the reply is the host's own `Runner.*` answer (timeout, crash, protocol
 * error), since that is a hook failure, not the extension's decision (proxy/hooks.hpp); a
 * dispatcher Error is passed on as it is.
 */
Result<HookReply> hook_outcome(const Result<InvokeReply>& reply);

class ProxyHooks : public InvocationHooks {
 public:
  /** Whether the child takes a phase's events (InvocationHooks::takes). */
  using TakesPhase = std::function<bool(HookPhase)>;

  /**
   * `main` is the child's dispatcher (it outlives this object); `extra_factory` makes the
   * invoker of an extra hook child; at most `max_extra_children` of them (0: every hook uses
   * the main child); `takes` answers takes() (null: every phase).
   */
  ProxyHooks(Dispatcher& main, Dispatcher::InvokerFactory extra_factory, size_t max_extra_children,
             TakesPhase takes = nullptr);
  /** stop(0) if not stopped yet. */
  ~ProxyHooks() override;
  ProxyHooks(const ProxyHooks&) = delete;
  ProxyHooks& operator=(const ProxyHooks&) = delete;

  /** The child's answer to the REQUEST event by the call's deadline (+ kHookGraceMs). */
  Result<HookReply> on_request(HookCall call) override;
  /** As on_request, for the RESPONSE event. */
  Result<HookReply> on_response(HookCall call) override;
  /**
   * The copy on the main child's ordinary lane (FIFO with telemetry), on this thread when the
   * child is idle (after cancel(): always queued); the answer is ignored.
   */
  void observe(HookCall call) override;
  /**
   * Interrupts an observe copy running on the observe thread (Dispatcher::cancel_inline: the
   * main child is ended and serves no more, as its own deadline would have done later); queued
   * copies stop waiting for their answer.
   */
  void abandon_observe() override;
  /** What the child said it handles, through the constructor's `takes`. */
  bool takes(HookPhase phase) const override;

  /** Extra hook children alive now (started, not yet dropped or stopped). */
  size_t extra_children() const;

  /**
   * Hook calls waiting for an answer return Error{Cancelled} at once (the proxy then applies its
   * FailPolicy), and so do later ones: at SHUTDOWN a held invocation must not keep the
   * extension past its deadline. A hook running on its caller's thread may finish until
   * `grace_until` (its answer then stands, and its child lives on to get the SHUTDOWN event);
   * one still running then is interrupted (Dispatcher::cancel_inline): the child holding it is
   * ended and its invoker serves no more, as the SHUTDOWN's Dispatcher::stop would have done
   * later. Returns when no hook runs any more. An observe copy already running is left alone
   * (abandon_observe).
   */
  void cancel(std::chrono::steady_clock::time_point grace_until);

  /** Ends the extra hook children within about `budget_ms`; later hooks use the main child. */
  void stop(int64_t budget_ms);

 private:
  /** A dispatcher lent to one hook call; `extra` is null for the main child. */
  struct Lane {
    Dispatcher* dispatcher = nullptr;
    std::unique_ptr<Dispatcher> extra;
  };

  Result<HookReply> decide(HookCall call);
  /**
   * The ticket's answer by `deadline_ms` (+ grace), or nullopt; ends early after cancel() (or
   * abandon_observe(), when `observing`).
   */
  std::optional<Result<InvokeReply>> await_answer(const Ticket& ticket, int64_t deadline_ms,
                                                  bool observing = false);
  Lane borrow_lane();
  void return_lane(Lane lane);

  Dispatcher& main_;
  Dispatcher::InvokerFactory extra_factory_;
  const size_t max_extra_;
  const TakesPhase takes_;

  mutable std::mutex mutex_;
  std::condition_variable lanes_returned_;  ///< A lane came back (return_lane).
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> observe_abandoned_{false};
  size_t main_hooks_ = 0;  ///< Hook calls holding the main child's lane.
  size_t extras_started_ = 0;
  bool stopped_ = false;
  std::vector<std::unique_ptr<Dispatcher>> idle_extras_;
  std::vector<Dispatcher*> lent_extras_;  ///< Extra children lent to a hook call now.
};

}  // namespace extension_runner
