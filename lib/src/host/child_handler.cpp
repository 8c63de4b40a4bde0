#include "extension_runner/host/child_handler.hpp"

#include <algorithm>
#include <random>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/log.hpp"
#include "extension_runner/runner/child_invoker.hpp"

namespace extension_runner {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How long past an INVOKE's deadline a sync on_invoke keeps waiting: the invoker needs a
// moment to kill a hung child and report Runner.Timeout.
constexpr milliseconds kSyncGrace{500};

std::string generate_request_id() {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd());
  const uint64_t hi = gen(), lo = gen();
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xfff),
                static_cast<unsigned>(0x8000 | ((lo >> 48) & 0x3fff)),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return buf;
}

class ChildHandler : public EventHandler {
 public:
  ChildHandler(const Config& config, std::string mode, std::shared_ptr<Dispatcher> dispatcher)
      : config_(config), mode_(std::move(mode)), dispatcher_(std::move(dispatcher)) {}

  Result<void> init(const InitContext& context) override {
    StartupRequest startup;
    startup.handler = config_.runner.handler;
    startup.name = context.extension_name;
    startup.mode = mode_;
    startup.version = kProtocolVersion;
    startup.function_json = context.registration.body_json;
    startup.platform = platform_name(config_.platform);
    const auto set = [&](const char* key, const std::string& value) {
      if (!value.empty()) startup.env[key] = value;
    };
    set("AWS_LAMBDA_FUNCTION_NAME", context.registration.function_name);
    set("AWS_LAMBDA_FUNCTION_VERSION", context.registration.function_version);
    set("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", config_.runner.memory_size);
    set("EXTENSION_RUNNER_FUNCTION_HANDLER", context.registration.handler);
    set("EXTENSION_RUNNER_ACCOUNT_ID", context.registration.account_id.value_or(""));
    set("EXTENSION_RUNNER_HANDLER", config_.runner.handler);
    set("EXTENSION_RUNNER_NAME", context.extension_name);
    auto options = child_invoker_options(config_.runner, std::move(startup));
    auto factory = [options]() -> Result<std::unique_ptr<Invoker>> {
      auto invoker = std::make_unique<ChildInvoker>(options);
      if (auto started = invoker->start(); !started) return started.error();
      return std::unique_ptr<Invoker>(std::move(invoker));
    };
    if (config_.runner.child_start == ChildStart::Background) {
      // The function's init does not wait for the child; events queue behind its handshake.
      dispatcher_->start_in_background(std::move(factory));
      return {};
    }
    return dispatcher_->start(std::move(factory));
  }

  Result<void> on_invoke(const InvokeEvent& event) override {
    if (auto fatal = dispatcher_->fatal_error()) {
      startup_failure_reported_ = true;
      return *fatal;
    }
    last_arn_ = event.invoked_function_arn;
    InvokeRequest request;
    request.context.aws_request_id = event.request_id;
    request.context.invoked_function_arn = event.invoked_function_arn;
    request.event_json = event.raw;
    request.event_compact = true;  // parse_event wrote it
    request.deadline_ms = event.deadline_ms;
    if (config_.runner.dispatch == Dispatch::Async) {
      dispatcher_->submit(std::move(request));
      return {};
    }
    // Sync: this thread talks to the child itself when nothing else is queued.
    Ticket ticket = dispatcher_->run_or_submit(std::move(request));
    auto reply = ticket.wait_until(steady_deadline(event.deadline_ms) + kSyncGrace);
    if (!reply) {
      log_warn("request " + event.request_id +
               ": the child runtime is still working on it past the invoke's deadline");
      return {};
    }
    if (!*reply && reply->error().kind != ErrorKind::Cancelled) {
      startup_failure_reported_ = true;
      return reply->error();
    }
    return {};
  }

  Result<void> on_shutdown(const ShutdownEvent& event, const ShutdownBudget& budget) override {
    dispatcher_->cap_deadlines(budget.child_request_until_ms);
    if (!dispatcher_->fatal_error()) send_shutdown(event, budget.child_request_until_ms);
    dispatcher_->stop(std::max<int64_t>(0, ms_until(budget.child_exit_until_ms)));
    // A background start that failed is reported even when SHUTDOWN is the first event.
    if (auto fatal = dispatcher_->fatal_error();
        fatal && fatal->kind == ErrorKind::ChildStartupFailed && !startup_failure_reported_) {
      return *fatal;
    }
    return {};
  }

  bool has_child() const override { return true; }

 private:
  void send_shutdown(const ShutdownEvent& event, int64_t request_deadline_ms) {
    InvokeRequest request;
    request.context.aws_request_id = generate_request_id();
    request.context.invoked_function_arn = last_arn_;
    request.event_json = event.raw;
    request.event_compact = true;
    request.deadline_ms = request_deadline_ms;
    Ticket ticket = dispatcher_->submit(std::move(request));
    if (!ticket.wait_until(steady_deadline(request_deadline_ms) + milliseconds(50))) {
      log_warn("the child runtime did not reply to SHUTDOWN before the shutdown deadline");
    }
  }

  Config config_;
  std::string mode_;
  std::string last_arn_;
  bool startup_failure_reported_ = false;   ///< An on_invoke already returned the fatal error.
  std::shared_ptr<Dispatcher> dispatcher_;  ///< Shared with the telemetry sink, if any.
};

}  // namespace

std::unique_ptr<EventHandler> make_child_handler(const Config& config, const std::string& mode,
                                                 std::shared_ptr<Dispatcher> dispatcher) {
  return std::make_unique<ChildHandler>(config, mode, std::move(dispatcher));
}

}  // namespace extension_runner
