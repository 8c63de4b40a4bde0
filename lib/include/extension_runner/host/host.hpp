#pragma once
/**
 * @file host.hpp
 * Wires an extension together from its Config, so `main` stays a short read:
 * - no EXTENSION_RUNNER_COMMAND → events (and telemetry batches) are printed as JSON lines;
 * - a command → the runner handler drives the child runtime through one Dispatcher;
 * - EXTENSION_RUNNER_TELEMETRY on → the telemetry decorator subscribes during init and feeds
 *   TELEMETRY batches into the same Dispatcher (or stdout), with the per-invoke and shutdown
 *   flushes.
 */
#include <memory>
#include <string>

#include "extension_runner/host/lifecycle.hpp"
#include "extension_runner/host/settings.hpp"
#include "extension_runner/runner/dispatcher.hpp"
#include "extension_runner/telemetry/forwarder.hpp"

namespace extension_runner {

/**
 * The handler for `config`; `mode` (`lambda` | `emulate`) is sent to the child at startup.
 * `observer`, if set, hears of every reply from the child (emulate's trace).
 */
std::unique_ptr<EventHandler> make_host_handler(const Config& config, const std::string& mode,
                                                ReplyObserver observer = {});

/**
 * A BatchSink that hands each TELEMETRY event to the child through `dispatcher`, queued behind
 * lifecycle requests. The child gets `child_budget_ms` from when the batch starts; the sink
 * waits for the reply until the forwarder's deadline. True when the child replied without
 * `errors`.
 */
BatchSink make_dispatcher_sink(std::shared_ptr<Dispatcher> dispatcher, int64_t child_budget_ms);

}  // namespace extension_runner
