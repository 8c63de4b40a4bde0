#pragma once
/**
 * @file http_listener.hpp
 * The HTTP destination of a subscription [TEL][LOGS]: a cpp-httplib server on its own thread,
 * feeding a TelemetryQueue. Answers:
 * - POST (and PUT in Logs API mode) to `/` (the path of the destination URI it subscribes
 *   with) of a JSON array of objects → 200 once queued; POST to any other path → 404;
 * - queue full → 503 (kPushbackStatus): the batch is refused whole and counted, and Lambda
 *   retries it with backoff or drops it and reports `platform.logsDropped` [TEL][RIE];
 * - body not JSON / not an array of objects → 400; body over body_limit → 413;
 * - any other method (PUT in Telemetry mode) → 405.
 */
#include <memory>

#include "extension_runner/core/result.hpp"
#include "extension_runner/telemetry/listener.hpp"
#include "extension_runner/telemetry/queue.hpp"

namespace extension_runner {

/**
 * 503 Service Unavailable: "temporarily overloaded, try later" is exactly the situation, and
 * unlike 429 it is what generic HTTP clients (and Lambda's "results in an error") retry.
 */
inline constexpr int kPushbackStatus = 503;

/**
 * Binds `options.host:options.port` and serves on a thread; returns once the server accepts
 * connections. ListenerFailed (naming EXTENSION_RUNNER_LISTEN and the system's reason) when the
 * address cannot be bound or the server does not start. `queue` must outlive the server.
 */
Result<std::unique_ptr<ListenerServer>> start_http_listener(const ListenerOptions& options,
                                                            TelemetryQueue& queue);

}  // namespace extension_runner
