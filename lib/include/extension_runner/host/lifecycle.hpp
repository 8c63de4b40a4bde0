#pragma once
/**
 * @file lifecycle.hpp
 * The Extensions API lifecycle: Register → (init) → loop `/next` → SHUTDOWN, with init/error
 * before the first `/next` and exit/error after [EXT]. What an event *means* is delegated to an
 * EventHandler so the loop stays one short, testable piece.
 */
#include <memory>
#include <string>

#include "extension_runner/core/result.hpp"
#include "extension_runner/host/settings.hpp"
#include "extension_runner/lambda/events.hpp"
#include "extension_runner/lambda/extensions_api.hpp"

namespace extension_runner {

/** What a handler gets at init: the settings, the registration and the API client. */
struct InitContext {
  const Config& config;
  const RegisterResponse& registration;
  ExtensionsClient& client;  ///< For subscriptions during init (same identifier).
  std::string extension_name;
};

/**
 * The host side of the lifecycle. Calls come from the lifecycle thread, in order:
 * init, then on_invoke for each INVOKE, then on_shutdown once.
 */
class EventHandler {
 public:
  virtual ~EventHandler() = default;
  /** After Register, before the first `/next`. An Error → init/error with error_type(kind). */
  virtual Result<void> init(const InitContext& context) = 0;
  /** An INVOKE. Returns when the lifecycle may call `/next` again. Error → exit/error. */
  virtual Result<void> on_invoke(const InvokeEvent& event) = 0;
  /** SHUTDOWN, the last call; must return well before `event.deadline_ms`. */
  virtual Result<void> on_shutdown(const ShutdownEvent& event) = 0;
  /** One line of what the handler did (e.g. telemetry counters), for `emulate`'s summary. */
  virtual std::string summary() const { return {}; }
};

/** Process exit codes of Lambda mode. */
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  ///< Reported through init/error or exit/error.
inline constexpr int kExitUsage = 2;    ///< Bad configuration or command line.

/**
 * Runs the whole lifecycle against `config.runtime_api` with `name` as Lambda-Extension-Name,
 * registering for `config.events` (SHUTDOWN alone on Managed Instances: `/next` then blocks
 * until SHUTDOWN [LMI]). Logs describe_config() first: the one INFO line saying how the
 * process is configured, platform mode included. Register, init/error and exit/error are
 * bounded by `config.api_timeout_ms`; `/next` is not [EXT].
 * Returns the process exit code: 0 after SHUTDOWN, 1 after reporting a failure.
 */
int run_lifecycle(const Config& config, const std::string& name, EventHandler& handler);

/** Writes each event as one JSON line to stdout: the diagnostic mode with no child. */
std::unique_ptr<EventHandler> make_stdout_handler();

}  // namespace extension_runner
