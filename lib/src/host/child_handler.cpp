#include "extension_runner/host/child_handler.hpp"

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/log.hpp"
#include "extension_runner/core/uuid.hpp"
#include "extension_runner/host/proxy_service.hpp"
#include "extension_runner/runner/child_invoker.hpp"

namespace extension_runner {
namespace {

// A handler the configuration never feeds is almost always a mistake made once and then seen
// on every function (an `on_telemetry` with telemetry off): said once, at the first start.
std::function<void(const StartupResponse&)> unreachable_handler_warning(const Config& config) {
  std::vector<std::pair<std::string, std::string>> silent;  // event type → the setting to change
  if (config.telemetry.mode == TelemetryMode::Off) {
    silent.emplace_back("TELEMETRY",
                        "telemetry is off: set EXTENSION_RUNNER_TELEMETRY=telemetry "
                        "(emulate --telemetry)");
  }
  if (!config.receives_invokes()) {
    silent.emplace_back("INVOKE",
                        "INVOKE is not registered (EXTENSION_RUNNER_EVENTS, or Lambda "
                        "Managed Instances)");
  }
  if (!config.messages.enabled) {
    silent.emplace_back("MESSAGES",
                        "the messages endpoint is off: set EXTENSION_RUNNER_MESSAGES=on");
  }
  if (config.proxy.mode == ProxyMode::Off) {
    for (const char* type : {"REQUEST", "RESPONSE"}) {
      silent.emplace_back(type,
                          "the Runtime API proxy is off: set EXTENSION_RUNNER_PROXY=intercept "
                          "(or observe) and the layer's exec wrapper (docs/proxy.md)");
    }
  }
  // One bit per row: each unreachable handler is said once, whichever child start sees it.
  auto warned = std::make_shared<std::atomic<uint32_t>>(0);
  return [silent = std::move(silent), warned](const StartupResponse& response) {
    for (size_t i = 0; i < silent.size(); ++i) {
      const auto& [type, why] = silent[i];
      const bool handled = std::find(response.handles.begin(), response.handles.end(), type) !=
                           response.handles.end();
      const uint32_t bit = 1U << i;
      if (handled && (warned->fetch_or(bit) & bit) == 0) {
        log_warn("the child has a " + type + " handler that will never run: " + why);
      }
    }
  };
}

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How long past an INVOKE's deadline a sync on_invoke keeps waiting: the invoker needs a
// moment to kill a hung child and report Runner.Timeout.
constexpr milliseconds kSyncGrace{500};

class ChildHandler : public EventHandler {
 public:
  ChildHandler(Config config, std::string mode, std::shared_ptr<Dispatcher> dispatcher,
               std::shared_ptr<ChildSlot> slot)
      : config_(std::move(config)),
        mode_(std::move(mode)),
        dispatcher_(std::move(dispatcher)),
        slot_(std::move(slot)) {}

  Result<void> init(const InitContext& context) override {
    const RegisterResponse& r = context.registration;
    auto startup = startup_request(
        config_.runner, context.extension_name, mode_, platform_name(config_.platform),
        RegisteredFunction{r.body_json, r.function_name, r.function_version, r.handler,
                           r.account_id.value_or("")});
    auto options = child_invoker_options(config_.runner, std::move(startup));
    // The slot keeps the factory, which keeps these options: a weak reference, or neither is
    // ever freed.
    options.on_started = [warn = unreachable_handler_warning(config_), takes_invoke = takes_invoke_,
                          slot = std::weak_ptr<ChildSlot>(slot_)](const StartupResponse& response) {
      warn(response);
      takes_invoke->store(response.takes("INVOKE"), std::memory_order_relaxed);
      // The proxy skips the hooks the child has no handler for.
      if (auto kept = slot.lock()) kept->note_started(response);
    };
    auto factory = [options]() -> Result<std::unique_ptr<Invoker>> {
      auto invoker = std::make_unique<ChildInvoker>(options);
      if (auto started = invoker->start(); !started) return started.error();
      return std::unique_ptr<Invoker>(std::move(invoker));
    };
    if (slot_) slot_->set(factory);
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
    // A child that said it has no INVOKE handler is not woken for one.
    if (!takes_invoke_->load(std::memory_order_relaxed)) return {};
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
    request.context.aws_request_id = random_uuid();
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
  std::shared_ptr<ChildSlot> slot_;         ///< Null without the proxy.
  /** The child's startup answer said it takes INVOKE (or said nothing); set on each start. */
  std::shared_ptr<std::atomic<bool>> takes_invoke_ = std::make_shared<std::atomic<bool>>(true);
};

}  // namespace

std::unique_ptr<EventHandler> make_child_handler(const Config& config, const std::string& mode,
                                                 std::shared_ptr<Dispatcher> dispatcher) {
  return std::make_unique<ChildHandler>(config, mode, std::move(dispatcher), nullptr);
}

std::unique_ptr<EventHandler> make_child_handler(const Config& config, const std::string& mode,
                                                 std::shared_ptr<Dispatcher> dispatcher,
                                                 std::shared_ptr<ChildSlot> slot) {
  return std::make_unique<ChildHandler>(config, mode, std::move(dispatcher), std::move(slot));
}

}  // namespace extension_runner
