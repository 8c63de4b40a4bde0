#pragma once
/**
 * @file emulate.hpp
 * `extension-runner emulate`: the real Lambda-mode lifecycle, in this process, against the
 * embedded Emulator, printing a timestamped trace of what crossed each API and a summary.
 */
#include <functional>
#include <memory>
#include <string>

#include "extension_runner/debug/scenario.hpp"
#include "extension_runner/host/lifecycle.hpp"
#include "extension_runner/host/settings.hpp"
#include "extension_runner/runner/dispatcher.hpp"

namespace extension_runner {

struct EmulateOptions {
  Scenario scenario;  ///< What the emulated function environment does.
  bool json =
      false;  ///< Trace as JSON lines (`{"t_ms","source","what","detail"}`) instead of text.
  /**
   * With the Runtime API proxy on (`--proxy`): the function's runtime as a command speaking the
   * Runtime API (`--function`); empty plays the built-in echo function.
   */
  std::string function_command;
};

/** Builds the extension; `observer` must be given every child reply (for the trace). */
using ExtensionFactory = std::function<Extension(const Config&, ReplyObserver observer)>;

/**
 * Starts the emulator, runs the lifecycle against it with `config` (its runtime_api replaced),
 * prints the trace and a summary to stdout. SIGINT/SIGTERM turn into a SHUTDOWN with reason
 * `SandboxTerminated` (as RIE does); a second one exits at once (children die with the host).
 * With `config.proxy` on, the emulator serves the Runtime API too and plays a runtime through
 * the proxy (docs/debug-mode.md, "Through the Runtime API proxy"): the built-in echo function
 * or `options.function_command`, started once the extension's init is done.
 * Returns the lifecycle's exit code.
 */
int run_emulation(Config config, const std::string& name, const EmulateOptions& options,
                  const ExtensionFactory& make_extension);

}  // namespace extension_runner
