#include "extension_runner/runner/dispatcher.hpp"

#include <algorithm>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/log.hpp"
#include "extension_runner/core/text.hpp"

namespace extension_runner {
namespace {

// A failed reply's result quoted in its warning is cut to this many bytes.
constexpr size_t kMaxQuotedResult = 500;

void log_reply(const InvokeRequest& request, const Result<InvokeReply>& reply) {
  if (!reply) {
    log_warn("request " + request.context.aws_request_id + " failed: " + reply.error().message);
    return;
  }
  // Built for every request otherwise (hooks included), to be dropped at the usual level.
  if (!reply->errors && !log_enabled(LogLevel::Debug)) return;
  std::string summary = "request " + request.context.aws_request_id + " done in " +
                        std::to_string(static_cast<int64_t>(reply->billing.duration_ms)) + " ms";
  // Not measured for hooks and observe copies: a 0 would read as a figure.
  if (request.measure_memory) {
    summary += ", max memory used " + std::to_string(reply->billing.used_mb) + " MB";
  }
  if (reply->errors) {
    log_warn(summary + " with error " + reply->errortype + ": " +
             clip(reply->result_json, kMaxQuotedResult));
  } else {
    log_debug(summary);
  }
}

}  // namespace

std::optional<Result<InvokeReply>> Ticket::wait_until(
    std::chrono::steady_clock::time_point deadline) const {
  if (done_) return *done_;
  if (!future_.valid()) return Result<InvokeReply>(make_error(ErrorKind::Cancelled, "no request"));
  if (future_.wait_until(deadline) != std::future_status::ready) return std::nullopt;
  return future_.get();
}

Dispatcher::Dispatcher(ReplyObserver observer)
    : observer_(std::move(observer)), worker_([this] { run(); }) {}

Dispatcher::~Dispatcher() { stop(0); }

Result<void> Dispatcher::start(InvokerFactory factory) {
  auto done = std::make_shared<std::promise<Result<void>>>();
  auto future = done->get_future();
  auto outcome = std::make_shared<Result<void>>();
  Job job;
  job.call = [this, factory = std::move(factory), outcome] {
    auto made = factory();
    if (!made) {
      *outcome = made.error();
      return;
    }
    invoker_ = std::move(*made);
  };
  // Answered once the worker is idle again, so a run_or_submit right after start() finds it so.
  job.after = [done, outcome] { done->set_value(*outcome); };
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return make_error(ErrorKind::Cancelled, "dispatcher stopped");
    queue_.push_back(std::move(job));
  }
  cv_.notify_all();
  return future.get();
}

void Dispatcher::start_in_background(InvokerFactory factory) {
  Job job;
  job.call = [this, factory = std::move(factory)] {
    auto made = factory();
    if (!made) {
      log_error(made.error().message);  // now, not only when the first event finds it
      std::lock_guard<std::mutex> lock(mutex_);
      fatal_ = made.error();
      return;
    }
    invoker_ = std::move(*made);
  };
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) return;
  queue_.push_back(std::move(job));
  cv_.notify_all();
}

Ticket Dispatcher::submit(InvokeRequest request) {
  return submit_with_budget(std::move(request), 0);
}

Ticket Dispatcher::submit_with_budget(InvokeRequest request, int64_t budget_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  return submit_locked(std::move(request), budget_ms);
}

Ticket Dispatcher::submit_priority(InvokeRequest request) {
  std::lock_guard<std::mutex> lock(mutex_);
  return submit_locked(std::move(request), 0, true);
}

Ticket Dispatcher::submit_locked(InvokeRequest request, int64_t budget_ms, bool priority) {
  Job job;
  job.request = std::move(request);
  job.budget_ms = budget_ms;
  job.priority = priority;
  job.promise = std::make_shared<std::promise<Result<InvokeReply>>>();
  Ticket ticket;
  ticket.future_ = job.promise->get_future().share();
  if (stopping_) {
    job.promise->set_value(make_error(ErrorKind::Cancelled, "dispatcher stopped"));
    return ticket;
  }
  // A priority request goes before the first ordinary request; calls (a start) ahead of that
  // stay ahead, since without them there is no invoker to run it.
  const auto position =
      priority ? std::find_if(queue_.begin(), queue_.end(),
                              [](const Job& queued) { return queued.request && !queued.priority; })
               : queue_.end();
  queue_.insert(position, std::move(job));
  // Notifying under the lock is fine: the worker cannot miss it, and it is one futex call.
  cv_.notify_all();
  return ticket;
}

Ticket Dispatcher::run_or_submit(InvokeRequest request, Order order,
                                 const std::atomic<bool>* abandoned) {
  Ticket ticket;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const bool idle =
        !stopping_ && queue_.empty() && !busy_ && invoker_ && !fatal_ && invoker_->ready();
    if (!idle) return submit_locked(std::move(request), 0, order == Order::Priority);
    if (abandoned != nullptr && *abandoned) {
      ticket.done_ = std::make_shared<const Result<InvokeReply>>(
          make_error(ErrorKind::Cancelled, "abandoned before it started"));
      return ticket;
    }
    busy_ = true;
    running_ = invoker_.get();
    running_inline_ = true;
    running_flag_ = abandoned;
  }
  // A completed ticket without a promise: setting one costs a futex wake (its call_once) even
  // when nobody waits.
  ticket.done_ = std::make_shared<const Result<InvokeReply>>(run_request(request, 0));
  bool queued = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    busy_ = false;
    running_ = nullptr;
    running_inline_ = false;
    running_flag_ = nullptr;
    queued = !queue_.empty();
  }
  idle_cv_.notify_all();  // no system call while nobody waits in wait_idle()
  // The worker holds queued work back while a request runs here; with nothing queued, waking
  // it would only cost it (and us) a futex round trip for nothing.
  if (queued) cv_.notify_all();
  return ticket;
}

void Dispatcher::cancel_inline(const std::atomic<bool>* abandoned) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (running_inline_ && running_ != nullptr && abandoned != nullptr &&
      running_flag_ == abandoned) {
    running_->cancel();
  }
}

bool Dispatcher::wait_idle(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  return idle_cv_.wait_until(lock, deadline, [&] { return queue_.empty() && !busy_; });
}

void Dispatcher::cap_deadlines(int64_t epoch_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  deadline_cap_ = deadline_cap_ ? std::min(*deadline_cap_, epoch_ms) : epoch_ms;
}

std::optional<Error> Dispatcher::fatal_error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return fatal_;
}

void Dispatcher::stop(int64_t budget_ms) {
  std::deque<Job> dropped;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!worker_.joinable()) return;
    if (!stopping_) {
      stopping_ = true;
      for (auto& job : queue_) {
        if (job.promise) dropped.push_back(std::move(job));
      }
      queue_.erase(
          std::remove_if(queue_.begin(), queue_.end(), [](const Job& j) { return !j.call; }),
          queue_.end());
      if (running_ != nullptr) running_->cancel();
      Job last;
      last.call = [this, budget_ms] {
        if (invoker_) invoker_->shutdown(budget_ms);
        invoker_.reset();
      };
      last.last = true;
      queue_.push_back(std::move(last));
    }
  }
  if (!dropped.empty()) {
    log_warn("dispatcher stopping: " + std::to_string(dropped.size()) +
             " queued request(s) not delivered");
  }
  for (auto& job : dropped) {
    job.promise->set_value(make_error(ErrorKind::Cancelled, "dispatcher stopped"));
  }
  cv_.notify_all();
  worker_.join();
}

void Dispatcher::run() {
  while (true) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      // busy_ while idle here means a request runs inline (run_or_submit): wait for it.
      cv_.wait(lock, [&] { return !queue_.empty() && !busy_; });
      job = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      if (job.request && invoker_ && !fatal_) running_ = invoker_.get();
    }
    if (job.call) {
      job.call();
    } else {
      job.promise->set_value(run_request(*job.request, job.budget_ms));
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      busy_ = false;
      running_ = nullptr;
    }
    idle_cv_.notify_all();
    if (job.after) job.after();
    if (job.last) return;
  }
}

Result<InvokeReply> Dispatcher::run_request(InvokeRequest& request, int64_t budget_ms) {
  std::optional<Error> fatal;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    fatal = fatal_;
    if (budget_ms > 0) request.deadline_ms = wall_clock_ms() + budget_ms;
    if (deadline_cap_) request.deadline_ms = std::min(request.deadline_ms, *deadline_cap_);
  }
  if (fatal) return *fatal;
  if (!invoker_) return make_error(ErrorKind::Cancelled, "no invoker started");
  Result<InvokeReply> reply = invoker_->invoke(request);
  log_reply(request, reply);
  if (observer_) observer_(request, reply);
  if (!reply && reply.error().kind != ErrorKind::Cancelled) {
    std::lock_guard<std::mutex> lock(mutex_);
    fatal_ = reply.error();
  }
  return reply;
}

}  // namespace extension_runner
