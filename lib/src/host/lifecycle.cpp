#include "extension_runner/host/lifecycle.hpp"

#include <chrono>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/json.hpp"
#include "extension_runner/core/log.hpp"

namespace extension_runner {
namespace {

// Before the first `/next` a failure is an init failure, after it an exit failure [EXT].
enum class Phase { Init, Running };

int report_failure(ExtensionsClient& client, Phase phase, const Error& error) {
  ErrorReport report{std::string(error_type(error.kind)), error.message, {}};
  const char* what = phase == Phase::Init ? "init/error" : "exit/error";
  log_error(std::string(what) + " " + report.error_type + ": " + error.message);
  auto sent = phase == Phase::Init ? client.init_error(report) : client.exit_error(report);
  if (!sent) {
    log_warn(std::string("could not report ") + what + " to the Extensions API at " +
             client.runtime_api() + ": " + sent.error().message + "; exiting 1 anyway");
  }
  return kExitFailure;
}

/** Where events go once the child is lost under EXTENSION_RUNNER_ON_FAILURE=continue. */
class DiscardingHandler final : public EventHandler {
 public:
  explicit DiscardingHandler(uint64_t& lost) : lost_(lost) {}
  Result<void> init(const InitContext&) override { return {}; }
  Result<void> on_invoke(const InvokeEvent&) override { return count(); }
  Result<void> on_shutdown(const ShutdownEvent&, const ShutdownBudget&) override { return count(); }

 private:
  Result<void> count() {
    ++lost_;
    return {};
  }
  uint64_t& lost_;
};

/**
 * A failure of the child, the listener or the subscription. Report: init/error or exit/error,
 * and the lifecycle ends. Continue: one ERROR line saying what is lost, counted, and the
 * lifecycle goes on (with `lose_child`, without the child; else `lost_without_child` says what
 * is lost). Returns the exit code to end with, or nullopt to go on.
 */
std::optional<int> on_part_failure(
    const Config& config, ExtensionsClient& client, Phase phase, const Error& error,
    Extension& extension, bool lose_child,
    const char* lost_without_child = "telemetry or messages are not delivered") {
  if (config.on_failure == FailurePolicy::Report) return report_failure(client, phase, error);
  auto& absorbed = extension.absorbed;
  if (absorbed.failures++ == 0) {
    absorbed.first = std::string(error_type(error.kind)) + ": " + error.message;
  }
  const std::string lost =
      lose_child ? "events, telemetry and messages go nowhere (counted)" : lost_without_child;
  log_error(std::string(error_type(error.kind)) + ": " + error.message + "; " + lost +
            " until SHUTDOWN, the function is not affected (EXTENSION_RUNNER_ON_FAILURE=continue)");
  if (lose_child) {
    extension.events = std::make_unique<DiscardingHandler>(absorbed.events_lost);
    // With the child gone the telemetry has nowhere to go: not subscribed at all.
    if (!extension.forwarder) extension.telemetry.reset();
  }
  return std::nullopt;
}

Result<RegisterResponse> register_extension(ExtensionsClient& client, const Config& config,
                                            const std::string& name) {
  const int64_t started = wall_clock_ms();
  auto registration = client.register_extension(name, config.events);
  if (!registration) {
    // Without an identifier Lambda accepts no error report: log the API's words and leave.
    log_error("register as '" + name + "' with the Extensions API at " + config.runtime_api +
              " (AWS_LAMBDA_RUNTIME_API) failed: " + registration.error().message +
              "; exiting 1 (nothing can be reported without an identifier)");
    return registration.error();
  }
  log_info("registered as '" + name + "' for function '" + registration->function_name + "' (" +
           registration->function_version + ") in " + std::to_string(wall_clock_ms() - started) +
           " ms");
  return registration;
}

// The listener serves before the subscription is sent: Lambda may deliver at once [TEL].
Result<void> subscribe_telemetry(const InitContext& init, Extension& extension) {
  ExtensionsClient& client = init.client;
  auto forwarder = TelemetryForwarder::start(
      init.config.telemetry, TelemetryContext{init.config.platform, init.config.receives_invokes()},
      init.registration.identifier,
      [&client](const HttpRequest& request) { return client.send(request); },
      extension.telemetry->sink, extension.telemetry->options);
  if (!forwarder) return forwarder.error();
  extension.forwarder = std::move(*forwarder);
  return {};
}

// Before `/register`, so a function's first post (during its init) finds the endpoint.
// The error waits for the registration: without an identifier nothing can be reported.
Result<void> open_messages_endpoint(const Config& config, Extension& extension) {
  auto forwarder = MessagesForwarder::start(config.messages, config.telemetry.flush,
                                            config.platform != Platform::ManagedInstances,
                                            extension.messages->sink, extension.messages->options);
  if (!forwarder) return forwarder.error();
  extension.messages_forwarder = std::move(*forwarder);
  return {};
}

Result<void> handle_invoke(const InvokeEvent& event, Extension& extension) {
  const auto received = std::chrono::steady_clock::now();
  log_debug("INVOKE " + event.request_id + " (" + std::to_string(ms_until(event.deadline_ms)) +
            " ms left)");
  if (extension.messages_forwarder) extension.messages_forwarder->before_invoke(event);
  auto handled = extension.events->on_invoke(event);
  // The invocation's observe copies reach the child before the environment freezes.
  if (extension.proxy) extension.proxy->after_invoke(event);
  // Even after a failed invoke the function's telemetry belongs to this invocation.
  if (extension.forwarder) extension.forwarder->after_invoke(event, received);
  // After the telemetry wait: its runtimeDone means the function has posted all it will.
  if (extension.messages_forwarder) extension.messages_forwarder->after_invoke(event, received);
  return handled;
}

// Before `/register`: Lambda starts the runtime once every extension registered [EXT], and
// `wrap` must find the address by then. A failure is reported after registering (only then
// can it be); meanwhile `wrap` finds no address and runs the runtime without the proxy.
std::optional<Error> start_proxy(const std::string& name, Extension& extension) {
  if (!extension.proxy) return std::nullopt;
  const EnvLookup env = process_env();
  if (auto warning = exec_wrapper_warning(name, env("AWS_LAMBDA_EXEC_WRAPPER"))) {
    log_warn(*warning);
  }
  auto started = extension.proxy->start(proxy_address_path(name, env));
  if (started) return std::nullopt;
  extension.proxy.reset();
  return started.error();
}

// The proxy's observe copies and the telemetry drain first, while the child still runs and can
// take them; then the child.
Result<void> handle_shutdown(const ShutdownEvent& event, Extension& extension) {
  const auto budget =
      ShutdownBudget::split(event.deadline_ms, wall_clock_ms(), extension.events->has_child(),
                            extension.proxy != nullptr);
  if (extension.proxy) extension.proxy->stop(budget.proxy_until_ms);
  if (extension.forwarder) extension.forwarder->shutdown(budget.telemetry_until_ms);
  if (extension.messages_forwarder) {
    extension.messages_forwarder->shutdown(budget.telemetry_until_ms);
  }
  return extension.events->on_shutdown(event, budget);
}

/** `/next` until SHUTDOWN; returns the exit code. */
int run_event_loop(const Config& config, ExtensionsClient& client, Extension& extension) {
  uint64_t invokes = 0;
  while (true) {
    auto event = client.next_event();
    if (!event) {
      // Without `/next` there is no lifecycle to keep: reported whatever the failure policy.
      if (event.error().kind == ErrorKind::ApiFatal) {
        log_error("the Runtime API reported a non-recoverable state; exiting");
      }
      return report_failure(client, Phase::Running, event.error());
    }
    if (auto* invoke = std::get_if<InvokeEvent>(&*event)) {
      ++invokes;
      if (auto handled = handle_invoke(*invoke, extension); !handled) {
        if (auto code =
                on_part_failure(config, client, Phase::Running, handled.error(), extension, true)) {
          return *code;
        }
      }
      continue;
    }
    const auto& shutdown = std::get<ShutdownEvent>(*event);
    log_info("SHUTDOWN (" + shutdown.shutdown_reason + ") after " + std::to_string(invokes) +
             " invokes, " + std::to_string(ms_until(shutdown.deadline_ms)) + " ms left");
    if (auto handled = handle_shutdown(shutdown, extension); !handled) {
      if (auto code =
              on_part_failure(config, client, Phase::Running, handled.error(), extension, false)) {
        return *code;
      }
    }
    if (extension.absorbed.failures > 0) log_info(extension.summary());
    return kExitOk;
  }
}

}  // namespace

std::string Extension::summary() const {
  std::string line = forwarder ? forwarder->counters().to_line() : std::string();
  if (proxy) line += std::string(line.empty() ? "" : " ") + proxy->counters_line();
  if (messages_forwarder) {
    line += std::string(line.empty() ? "" : " ") + messages_forwarder->counters().to_line();
  }
  if (absorbed.failures > 0) {
    line += std::string(line.empty() ? "" : " ") +
            "on-failure=continue: failures=" + std::to_string(absorbed.failures) +
            " events_lost=" + std::to_string(absorbed.events_lost) +
            " first=" + json_quote(absorbed.first);
  }
  return line;
}

int run_lifecycle(const Config& config, const std::string& name, Extension& extension) {
  log_info(describe_config(config));
  ExtensionsClient client(config.runtime_api, bounded_call_timeouts(config.api_timeout_ms));

  const std::optional<Error> proxy_failed = start_proxy(name, extension);
  Result<void> messages_opened;
  if (extension.messages) messages_opened = open_messages_endpoint(config, extension);

  auto registration = register_extension(client, config, name);
  if (!registration) return kExitFailure;
  const InitContext init{config, *registration, client, name};
  if (proxy_failed) {
    if (auto code = on_part_failure(config, client, Phase::Init, *proxy_failed, extension, false,
                                    "the runtime runs without the Runtime API proxy")) {
      return *code;
    }
  }

  if (!messages_opened) {
    if (auto code = on_part_failure(config, client, Phase::Init, messages_opened.error(), extension,
                                    false)) {
      return *code;
    }
  }

  if (auto started = extension.events->init(init); !started) {
    if (auto code =
            on_part_failure(config, client, Phase::Init, started.error(), extension, true)) {
      return *code;
    }
  }

  if (extension.telemetry) {
    if (auto subscribed = subscribe_telemetry(init, extension); !subscribed) {
      if (auto code =
              on_part_failure(config, client, Phase::Init, subscribed.error(), extension, false)) {
        return *code;
      }
    }
  }

  return run_event_loop(config, client, extension);
}

int report_config_error(const std::string& runtime_api, const std::string& name,
                        const Error& error) {
  ExtensionsClient client(runtime_api);
  if (auto registration = client.register_extension(name, {"SHUTDOWN"}); !registration) {
    log_error("register as '" + name +
              "' to report a configuration error failed: " + registration.error().message);
    return kExitUsage;
  }
  report_failure(client, Phase::Init, error);
  return kExitUsage;
}

}  // namespace extension_runner
