#pragma once
/**
 * @file telemetry_handler.hpp
 * Adds Telemetry/Logs API forwarding to any EventHandler (the runner handler, or the stdout
 * handler without a child) as a decorator, so the lifecycle and the child handling stay as
 * they are.
 */
#include <memory>

#include "extension_runner/host/lifecycle.hpp"
#include "extension_runner/telemetry/forwarder.hpp"

namespace extension_runner {

/**
 * Wraps `inner`:
 * - init: inner.init (the child is up and can take telemetry), then, unless telemetry is off,
 *   TelemetryForwarder::start with the registration's identifier over `context.client`
 *   (its Error, e.g. SubscribeFailed, becomes init/error);
 * - on_invoke: inner.on_invoke, then the per-invoke flush (after_invoke), then return;
 * - on_shutdown: the shutdown flush (child still running), then inner.on_shutdown.
 * `sink` receives the TELEMETRY events (see BatchSink; e.g. make_no_child_sink(config)).
 */
std::unique_ptr<EventHandler> make_telemetry_handler(std::unique_ptr<EventHandler> inner,
                                                     BatchSink sink, ForwarderOptions options = {});

}  // namespace extension_runner
