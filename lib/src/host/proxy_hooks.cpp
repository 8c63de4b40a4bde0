#include "extension_runner/host/proxy_hooks.hpp"

#include <algorithm>
#include <chrono>
#include <string>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/log.hpp"

namespace extension_runner {
namespace {

std::chrono::steady_clock::time_point wait_deadline(int64_t deadline_ms) {
  const int64_t remaining = std::max<int64_t>(0, deadline_ms - wall_clock_ms());
  return std::chrono::steady_clock::now() + std::chrono::milliseconds(remaining + kHookGraceMs);
}

bool is_runner_error(const std::string& errortype) { return errortype.rfind("Runner.", 0) == 0; }

}  // namespace

InvokeRequest hook_request(HookCall call) {
  InvokeRequest request;
  request.context.aws_request_id = std::move(call.context.aws_request_id);
  request.context.client_context_json = std::move(call.context.client_context_json);
  if (call.context.identity) {
    request.context.identity = Identity{std::move(call.context.identity->cognito_identity_id),
                                        std::move(call.context.identity->cognito_identity_pool_id)};
  }
  request.context.invoked_function_arn = std::move(call.context.invoked_function_arn);
  request.event_json = std::move(call.event.head);
  request.event_payload = std::move(call.event.payload);
  request.event_end = std::move(call.event.end);
  // The proxy builds the event itself, compact and on one line (proxy/hooks.hpp).
  request.event_compact = true;
  request.deadline_ms = call.deadline_ms;
  // The reply's billing is dropped (hook_outcome): no /proc reads for it.
  request.measure_memory = false;
  return request;
}

Result<HookReply> hook_outcome(const Result<InvokeReply>& reply) {
  if (!reply) return reply.error();
  if (reply->errors && is_runner_error(reply->errortype)) {
    return make_error(ErrorKind::ProtocolError,
                      "the hook failed: " + reply->errortype + " " + reply->result_json);
  }
  HookReply out;
  out.result_json = reply->result_json;
  out.errortype = reply->errortype;
  out.errors = reply->errors;
  out.billed_ms = reply->billing.duration_ms;
  return out;
}

ProxyHooks::ProxyHooks(Dispatcher& main, Dispatcher::InvokerFactory extra_factory,
                       size_t max_extra_children, TakesPhase takes)
    : main_(main),
      extra_factory_(std::move(extra_factory)),
      max_extra_(max_extra_children),
      takes_(std::move(takes)) {}

bool ProxyHooks::takes(HookPhase phase) const { return !takes_ || takes_(phase); }

ProxyHooks::~ProxyHooks() { stop(0); }

Result<HookReply> ProxyHooks::on_request(HookCall call) { return decide(std::move(call)); }

Result<HookReply> ProxyHooks::on_response(HookCall call) { return decide(std::move(call)); }

// Inline on the observe queue's thread when the main child is idle: one thread hand-off less
// per copy. After cancel() copies queue as before, so that stop() is never kept waiting by one.
void ProxyHooks::observe(HookCall call) {
  const int64_t deadline_ms = call.deadline_ms;
  const std::string id = call.context.aws_request_id;
  InvokeRequest request = hook_request(std::move(call));
  const Ticket ticket =
      cancelled_ || observe_abandoned_
          ? main_.submit(std::move(request))
          : main_.run_or_submit(std::move(request), Dispatcher::Order::Fifo, &observe_abandoned_);
  if (!await_answer(ticket, deadline_ms, true)) {
    log_debug("observe copy for " + id + " not answered by its deadline");
  }
}

void ProxyHooks::abandon_observe() {
  observe_abandoned_ = true;
  main_.cancel_inline(&observe_abandoned_);
}

// Inline on the calling (connection) thread when the lane's child is idle, sparing the two
// cross-thread wake-ups of a queued request; cancel() interrupts such a run (cancel_inline).
Result<HookReply> ProxyHooks::decide(HookCall call) {
  if (cancelled_) return make_error(ErrorKind::Cancelled, "the extension is shutting down");
  const int64_t deadline_ms = call.deadline_ms;
  Lane lane = borrow_lane();
  const Ticket ticket = lane.dispatcher->run_or_submit(hook_request(std::move(call)),
                                                       Dispatcher::Order::Priority, &cancelled_);
  auto reply = await_answer(ticket, deadline_ms);
  return_lane(std::move(lane));
  if (!reply || (cancelled_ && !*reply && reply->error().kind == ErrorKind::Cancelled)) {
    return make_error(ErrorKind::Cancelled,
                      cancelled_ ? "the extension is shutting down"
                                 : "the hook gave no answer by the invocation's deadline");
  }
  return hook_outcome(*reply);
}

// In slices: a Ticket is a future, which cannot also wake on cancel(); 20 ms is small beside
// a SHUTDOWN budget and costs nothing while the child answers within the first slice.
std::optional<Result<InvokeReply>> ProxyHooks::await_answer(const Ticket& ticket,
                                                            int64_t deadline_ms, bool observing) {
  constexpr auto kSlice = std::chrono::milliseconds(20);
  const auto until = wait_deadline(deadline_ms);
  while (true) {
    const auto now = std::chrono::steady_clock::now();
    if (auto reply = ticket.wait_until(std::min(until, now + kSlice))) return reply;
    if (cancelled_ || (observing && observe_abandoned_)) return std::nullopt;
    if (std::chrono::steady_clock::now() >= until) return std::nullopt;
  }
}

// The flag first: queued hooks give their lanes back within a wait slice, and a run that starts
// after this finds the flag (run_or_submit's `abandoned`). Inline runs get the grace, then are
// interrupted: ending a child that was about to answer would cost it its SHUTDOWN event. Under
// mutex_, so a lent extra child cannot be dropped meanwhile. Only hook runs carry &cancelled_:
// an observe copy or an INVOKE running inline is left alone.
void ProxyHooks::cancel(std::chrono::steady_clock::time_point grace_until) {
  cancelled_ = true;
  std::unique_lock<std::mutex> lock(mutex_);
  const auto none_lent = [&] { return main_hooks_ == 0 && lent_extras_.empty(); };
  if (lanes_returned_.wait_until(lock, grace_until, none_lent)) return;
  if (main_hooks_ > 0) main_.cancel_inline(&cancelled_);
  for (Dispatcher* extra : lent_extras_) extra->cancel_inline(&cancelled_);
  lanes_returned_.wait(lock, none_lent);
}

// The main child when no other hook holds it and it is idle; else an idle extra child; else a
// new one while under the bound; else the main child's priority lane after all (queued).
ProxyHooks::Lane ProxyHooks::borrow_lane() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const bool main_idle = main_.wait_idle(std::chrono::steady_clock::now());
    if (stopped_ || max_extra_ == 0 || (main_hooks_ == 0 && main_idle)) {
      ++main_hooks_;
      return Lane{&main_, nullptr};
    }
    if (!idle_extras_.empty()) {
      Lane lane;
      lane.extra = std::move(idle_extras_.back());
      idle_extras_.pop_back();
      lane.dispatcher = lane.extra.get();
      lent_extras_.push_back(lane.dispatcher);
      return lane;
    }
    if (extras_started_ >= max_extra_) {
      ++main_hooks_;
      return Lane{&main_, nullptr};
    }
    ++extras_started_;
  }
  // Started outside the lock: a child's handshake takes a while and other hooks must not wait.
  auto extra = std::make_unique<Dispatcher>();
  if (auto started = extra->start(extra_factory_); !started) {
    log_warn("extra hook child failed to start: " + started.error().message);
    std::lock_guard<std::mutex> lock(mutex_);
    --extras_started_;
    ++main_hooks_;
    return Lane{&main_, nullptr};
  }
  log_info("extra hook child started for concurrent invocations");
  Lane lane;
  lane.dispatcher = extra.get();
  lane.extra = std::move(extra);
  std::lock_guard<std::mutex> lock(mutex_);
  lent_extras_.push_back(lane.dispatcher);
  return lane;
}

void ProxyHooks::return_lane(Lane lane) {
  std::unique_ptr<Dispatcher> finished;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    lanes_returned_.notify_all();
    if (!lane.extra) {
      --main_hooks_;
      return;
    }
    lent_extras_.erase(std::find(lent_extras_.begin(), lent_extras_.end(), lane.dispatcher));
    if (!stopped_ && !lane.extra->fatal_error()) {
      idle_extras_.push_back(std::move(lane.extra));
      return;
    }
    --extras_started_;
    finished = std::move(lane.extra);
  }
  finished->stop(0);
}

size_t ProxyHooks::extra_children() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return extras_started_;
}

void ProxyHooks::stop(int64_t budget_ms) {
  std::vector<std::unique_ptr<Dispatcher>> extras;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopped_ = true;
    extras.swap(idle_extras_);
    extras_started_ -= extras.size();
  }
  for (auto& extra : extras) extra->stop(budget_ms);
}

}  // namespace extension_runner
