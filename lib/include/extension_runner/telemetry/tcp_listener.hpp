#pragma once
/**
 * @file tcp_listener.hpp
 * The TCP destination of a subscription (`{"protocol":"TCP","port":N}`, schema 2025-01-29
 * [TEL][RIE]): a plain TCP server on its own thread; Lambda connects and writes one JSON event
 * per line. There is no status to push back with, so when the queue is full the listener stops
 * reading (the sender meets a slow reader; AWS's emulator then holds its one batch in flight and
 * drops the batches that become ready meanwhile, reporting them with `platform.logsDropped`
 * [RIE]). A line that is not a JSON object, or longer than body_limit, is counted as a rejected
 * request and skipped.
 */
#include <memory>

#include "extension_runner/core/result.hpp"
#include "extension_runner/telemetry/listener.hpp"
#include "extension_runner/telemetry/queue.hpp"

namespace extension_runner {

/**
 * Binds `options.host:options.port`, listening at once (a connection made before the thread
 * runs waits in the backlog), and serves on a thread. ListenerFailed (naming
 * EXTENSION_RUNNER_LISTEN and the reason) when the address cannot be resolved or bound.
 * `queue` must outlive the server.
 */
Result<std::unique_ptr<ListenerServer>> start_tcp_listener(const ListenerOptions& options,
                                                           TelemetryQueue& queue);

}  // namespace extension_runner
