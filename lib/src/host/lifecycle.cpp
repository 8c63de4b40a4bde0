#include "extension_runner/host/lifecycle.hpp"

#include <unistd.h>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/fd.hpp"
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

class StdoutHandler final : public EventHandler {
 public:
  Result<void> init(const InitContext&) override { return {}; }
  Result<void> on_invoke(const InvokeEvent& event) override { return print(event.raw); }
  Result<void> on_shutdown(const ShutdownEvent& event) override { return print(event.raw); }

 private:
  static Result<void> print(const std::string& raw) { return write_line(STDOUT_FILENO, raw); }
};

}  // namespace

std::unique_ptr<EventHandler> make_stdout_handler() { return std::make_unique<StdoutHandler>(); }

int run_lifecycle(const Config& config, const std::string& name, EventHandler& handler) {
  log_info(describe_config(config));
  ExtensionsClient client(config.runtime_api, bounded_call_timeouts(config.api_timeout_ms));
  const int64_t started = wall_clock_ms();
  auto registration = client.register_extension(name, config.events);
  if (!registration) {
    // Without an identifier Lambda accepts no error report: log the API's words and leave.
    log_error("register as '" + name + "' with the Extensions API at " + config.runtime_api +
              " (AWS_LAMBDA_RUNTIME_API) failed: " + registration.error().message +
              "; exiting 1 (nothing can be reported without an identifier)");
    return kExitFailure;
  }
  log_info("registered as '" + name + "' for function '" + registration->function_name + "' (" +
           registration->function_version + ") in " + std::to_string(wall_clock_ms() - started) +
           " ms");

  InitContext context{config, *registration, client, name};
  if (auto init = handler.init(context); !init) {
    return report_failure(client, Phase::Init, init.error());
  }

  uint64_t invokes = 0;
  while (true) {
    auto event = client.next_event();
    if (!event) {
      if (event.error().kind == ErrorKind::ApiFatal) {
        log_error("the Runtime API reported a non-recoverable state; exiting");
      }
      return report_failure(client, Phase::Running, event.error());
    }
    if (auto* invoke = std::get_if<InvokeEvent>(&*event)) {
      ++invokes;
      log_debug("INVOKE " + invoke->request_id + " (" +
                std::to_string(ms_until(invoke->deadline_ms)) + " ms left)");
      if (auto handled = handler.on_invoke(*invoke); !handled) {
        return report_failure(client, Phase::Running, handled.error());
      }
      continue;
    }
    const auto& shutdown = std::get<ShutdownEvent>(*event);
    log_info("SHUTDOWN (" + shutdown.shutdown_reason + ") after " + std::to_string(invokes) +
             " invokes, " + std::to_string(ms_until(shutdown.deadline_ms)) + " ms left");
    if (auto handled = handler.on_shutdown(shutdown); !handled) {
      return report_failure(client, Phase::Running, handled.error());
    }
    return kExitOk;
  }
}

}  // namespace extension_runner
