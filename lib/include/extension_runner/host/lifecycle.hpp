#pragma once
/**
 * @file lifecycle.hpp
 * The extension's lifecycle, in the order Lambda runs it [EXT]: register → start the child →
 * subscribe to telemetry → loop on `/next` → SHUTDOWN. A failure before the first `/next` is an
 * init/error, after it an exit/error, unless EXTENSION_RUNNER_ON_FAILURE=continue keeps the
 * function untouched (docs/platform-teams.md). docs/architecture.md traces it through the code.
 */
#include <memory>
#include <optional>
#include <string>

#include "extension_runner/core/result.hpp"
#include "extension_runner/host/proxy_service.hpp"
#include "extension_runner/host/settings.hpp"
#include "extension_runner/host/shutdown_budget.hpp"
#include "extension_runner/lambda/events.hpp"
#include "extension_runner/lambda/extensions_api.hpp"
#include "extension_runner/messages/forwarder.hpp"
#include "extension_runner/telemetry/forwarder.hpp"

namespace extension_runner {

/** What the parts get at init: the settings, the registration and the API client. */
struct InitContext {
  const Config& config;
  const RegisterResponse& registration;
  ExtensionsClient& client;  ///< For the subscription (same identifier).
  std::string extension_name;
};

/**
 * Where Lambda's events go: the child runtime (child_handler.hpp), or stdout with no child.
 * Calls come from the lifecycle thread, in order: init, on_invoke for each INVOKE, then
 * on_shutdown once.
 */
class EventHandler {
 public:
  virtual ~EventHandler() = default;
  /** After Register, before the subscription and the first `/next`: starts the child. */
  virtual Result<void> init(const InitContext& context) = 0;
  /** An INVOKE. Returns when the lifecycle may call `/next` again. */
  virtual Result<void> on_invoke(const InvokeEvent& event) = 0;
  /** SHUTDOWN, the last call, after the telemetry drain; returns by `budget`'s child bounds. */
  virtual Result<void> on_shutdown(const ShutdownEvent& event, const ShutdownBudget& budget) = 0;
  /** Whether there is a child to give part of the shutdown budget to. */
  virtual bool has_child() const { return false; }
};

/** How TELEMETRY batches are delivered, when EXTENSION_RUNNER_TELEMETRY is on. */
struct TelemetryDelivery {
  BatchSink sink;            ///< The child's dispatcher, or stdout.
  ForwarderOptions options;  ///< The forwarder's tunables for this sink.
};

/** What the lifecycle drives: made by make_extension() (host.hpp), or by a test. */
struct Extension {
  std::unique_ptr<EventHandler> events;
  std::optional<TelemetryDelivery> telemetry;  ///< Unset: no subscription.
  /** The Runtime API proxy (EXTENSION_RUNNER_PROXY on); started before `/register`. */
  std::unique_ptr<ProxyService> proxy;
  std::optional<TelemetryDelivery> messages;  ///< Unset: no messages endpoint.
  /**
   * Started before `/register` (docs/messages.md). After `events`, so destroyed before the
   * child its sink talks to.
   */
  std::unique_ptr<MessagesForwarder> messages_forwarder;
  /**
   * Made by the lifecycle's subscribe step. Declared last, so destroyed first: its sink may
   * still be talking to the child that `events` owns.
   */
  std::unique_ptr<TelemetryForwarder> forwarder;
  /** Failures that EXTENSION_RUNNER_ON_FAILURE=continue absorbed, and what they cost. */
  struct Absorbed {
    std::string first;         ///< The first failure's error type and message ("" = none).
    uint64_t failures = 0;     ///< Failures absorbed.
    uint64_t events_lost = 0;  ///< INVOKE and SHUTDOWN events that no child received.
  } absorbed;

  /** One line of what happened (telemetry and proxy counters, absorbed failures). */
  std::string summary() const;
};

/** Process exit codes of Lambda mode. */
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  ///< Reported through init/error or exit/error.
inline constexpr int kExitUsage = 2;    ///< Bad configuration or command line.

/**
 * Runs the whole lifecycle against `config.runtime_api` with `name` as Lambda-Extension-Name,
 * registering for `config.events` (SHUTDOWN alone on Managed Instances: `/next` then blocks
 * until SHUTDOWN [LMI]). Logs describe_config() first. Register, the subscription, init/error
 * and exit/error are bounded by `config.api_timeout_ms`; `/next` is not [EXT].
 * Returns the process exit code: 0 after SHUTDOWN, 1 after reporting a failure (with
 * `config.on_failure` = Continue, a failure of the child, the listener or the subscription is
 * logged once at ERROR and counted instead, and the lifecycle goes on to SHUTDOWN and 0).
 */
int run_lifecycle(const Config& config, const std::string& name, Extension& extension);

/**
 * A configuration error inside Lambda: registers as `name` (SHUTDOWN only, which every platform
 * accepts) and reports `error` through init/error, the same path as every init failure, so the
 * platform shows it. Returns kExitUsage.
 */
int report_config_error(const std::string& runtime_api, const std::string& name,
                        const Error& error);

}  // namespace extension_runner
