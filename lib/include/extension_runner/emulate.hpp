#pragma once
/**
 * @file emulate.hpp
 * `extension-runner emulate`: the real Lambda-mode lifecycle, in this process, against the
 * embedded Emulator, printing a timestamped trace of every API call and a summary.
 */
#include <functional>
#include <memory>
#include <string>

#include "extension_runner/config.hpp"
#include "extension_runner/lifecycle.hpp"

namespace extension_runner {

/** What the emulated function environment does. */
struct EmulateOptions {
  int invokes = 3;                       ///< INVOKE events before SHUTDOWN.
  int64_t function_timeout_ms = 3000;    ///< Each INVOKE's deadline is now + this.
  int64_t shutdown_budget_ms = 2000;     ///< SHUTDOWN deadline is now + this [EXT].
  std::string shutdown_reason = "spindown";
  bool json = false;                     ///< Trace as JSON lines instead of text.
};

using HandlerFactory = std::function<std::unique_ptr<EventHandler>(const Config&)>;

/**
 * Starts the emulator, runs the lifecycle against it with `config` (its runtime_api replaced),
 * prints the trace to stdout and a summary. Returns the lifecycle's exit code.
 */
int run_emulation(Config config, const std::string& name, const EmulateOptions& options,
                  const HandlerFactory& make_handler);

}  // namespace extension_runner
