#pragma once
/**
 * @file host.hpp
 * The composition root: the Extension the lifecycle drives, made from a Config.
 * - no EXTENSION_RUNNER_COMMAND → events (and telemetry batches) are printed as JSON lines;
 * - a command → the child handler drives the child runtime through one Dispatcher, which
 *   TELEMETRY batches share (telemetry_to_child.hpp);
 * - EXTENSION_RUNNER_TELEMETRY on → the lifecycle subscribes after the child started, with the
 *   memory policy applied first (memory_policy.hpp).
 */
#include <memory>
#include <string>

#include "extension_runner/host/lifecycle.hpp"
#include "extension_runner/host/settings.hpp"
#include "extension_runner/runner/dispatcher.hpp"

namespace extension_runner {

/** Who runs the host: Lambda itself, or the debug mode. The child is told in its StartupRequest. */
enum class HostMode { Lambda, Emulate };

/** `lambda` or `emulate`: StartupRequest.mode [docs/runner-protocol.md]. */
const char* host_mode_name(HostMode mode);

/**
 * The extension for `config`. `observer`, if set, hears of every reply from the child
 * (emulate's trace).
 */
Extension make_extension(const Config& config, HostMode mode, ReplyObserver observer = {});

}  // namespace extension_runner
