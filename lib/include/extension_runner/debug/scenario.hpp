#pragma once
/**
 * @file scenario.hpp
 * What `extension-runner emulate` plays: a JSON scenario file (documented in the README).
 *
 * ```json
 * {"invokes": 3, "spacingMs": 50, "functionTimeoutMs": 3000, "durationMs": 5,
 *  "shutdownReason": "spindown", "shutdownBudgetMs": 2000,
 *  "managedInstances": false, "concurrency": 1,
 *  "logs": ["a function log line", {"level": "INFO", "message": "a JSON log line"}],
 *  "messages": [{"metric": "items", "value": 3}],
 *  "payloads": [{"order": 1}, {"order": 2}],
 *  "faults": {"register": {"status": 403, "errorType": "Extension.InvalidExtensionName"},
 *             "next": {"status": 500, "after": 2},
 *             "telemetry": "NotSupported"}}   // or "ValidationError", "Silent"
 * ```
 * Every field is optional; unknown fields are an error (a typo must not silently do nothing).
 */
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "extension_runner/core/result.hpp"

namespace extension_runner {

/** An injected API failure: answer `status` with `{"errorType","errorMessage"}`. */
struct ScenarioFault {
  int status = 500;
  std::string error_type;
  std::string error_message = "injected by the scenario";
  int after = 0;  ///< Let this many calls succeed first.
};

/** How the emulated Telemetry API answers the subscription. */
enum class TelemetryFault {
  None,
  NotSupported,
  ValidationError,
  Silent,  ///< The subscription is accepted, but nothing is ever delivered.
};

struct Scenario {
  int invokes = 3;                     ///< INVOKE events before SHUTDOWN (0–100000).
  int64_t spacing_ms = 0;              ///< Pause between an invoke's end and the next INVOKE.
  int64_t function_timeout_ms = 3000;  ///< Each INVOKE's deadline: now + this.
  /**
   * How long the function "runs" per invoke: platform.start and the logs at the INVOKE,
   * platform.runtimeDone (the runtime's response) this much later.
   */
  int64_t duration_ms = 0;
  std::string shutdown_reason = "spindown";
  int64_t shutdown_budget_ms = 2000;  ///< SHUTDOWN deadline: now + this [EXT].
  /** Function log records emitted per invoke, each a raw JSON string or object. */
  std::vector<std::string> log_records_json{R"("START handling the event")",
                                            R"({"level":"INFO","message":"work done"})"};
  /**
   * `managedInstances`: play Lambda Managed Instances [LMI]: the host sees
   * AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances, Register refuses INVOKE, no INVOKE
   * events, the `invokes` run `concurrency` at a time and show only in telemetry.
   */
  /**
   * `messages`: JSON values the function POSTs to the messages endpoint during each invocation,
   * tagged with it (docs/messages.md); non-empty turns EXTENSION_RUNNER_MESSAGES on.
   */
  std::vector<std::string> messages_json;
  /**
   * `payloads`: with the Runtime API proxy on, the events the runtime gets, one per invoke in
   * order, starting over when there are fewer than invokes; empty means `{}` each time.
   */
  std::vector<std::string> payloads_json;
  bool managed_instances = false;
  int concurrency = 1;  ///< `concurrency`: invocations in flight at once (1–64; Managed Instances).
  std::optional<ScenarioFault> register_fault;
  std::optional<ScenarioFault> next_fault;
  TelemetryFault telemetry_fault = TelemetryFault::None;
};

/** Parses a scenario document; InvalidInput errors name the offending field. */
Result<Scenario> parse_scenario(std::string_view json);

/** Reads and parses a scenario file. */
Result<Scenario> load_scenario(const std::string& path);

}  // namespace extension_runner
