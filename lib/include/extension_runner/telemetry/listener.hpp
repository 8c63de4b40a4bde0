#pragma once
/**
 * @file telemetry_listener.hpp
 * The local HTTP endpoint Lambda delivers telemetry to [TEL][LOGS]: a cpp-httplib server on its
 * own thread, feeding a TelemetryQueue. It never logs per request (a subscriber to `extension`
 * records would receive its own lines [TEL]); every outcome is a counter instead.
 *
 * Answers:
 * - POST (and PUT in Logs API mode) to `/` (the path of the destination URI it subscribes
 *   with) of a JSON array of objects → 200 once queued; POST to any other path → 404;
 * - queue full → 503 (kPushbackStatus): the batch is refused whole and counted, and Lambda
 *   retries it with backoff or drops it and reports `platform.logsDropped` [TEL][RIE];
 * - body not JSON / not an array of objects → 400; body over body_limit → 413;
 * - any other method (PUT in Telemetry mode) → 405.
 *
 * With the TCP destination (`{"protocol":"TCP","port":N}`, schema 2025-01-29 [TEL][RIE]) it is a
 * plain TCP server instead: Lambda connects and writes one JSON event per line. There is no
 * status to push back with, so when the queue is full the listener stops reading (the sender
 * meets a slow reader; AWS's emulator then holds its one batch in flight and drops the batches
 * that become ready meanwhile, reporting them with `platform.logsDropped` [RIE]). A line that is
 * not a JSON object, or longer than body_limit, is counted as a rejected request and skipped.
 */
#include <memory>
#include <string>

#include "extension_runner/core/result.hpp"
#include "extension_runner/telemetry/options.hpp"
#include "extension_runner/telemetry/queue.hpp"

namespace extension_runner {

/**
 * 503 Service Unavailable: "temporarily overloaded, try later" is exactly the situation, and
 * unlike 429 it is what generic HTTP clients (and Lambda's "results in an error") retry.
 */
inline constexpr int kPushbackStatus = 503;

/**
 * The largest body accepted: a payload can reach `2 * maxBytes + metadataBytes` [TEL]; the
 * metadata (`time`, `type`, JSON framing) is bounded by 256 bytes per item plus 64 KiB.
 */
size_t listener_body_limit(int buffer_max_bytes, int buffer_max_items);

/** How to run a listener. */
struct ListenerOptions {
  std::string host = "0.0.0.0";  ///< Bind address.
  int port = 0;                  ///< 0 = ephemeral.
  bool accept_put = false;       ///< Logs API mode: "the listener may receive PUT or POST" [LOGS].
  size_t body_limit = 2 * 262144 + 65536;
  TelemetryProtocol protocol = TelemetryProtocol::Http;
};

/** Listener options for the telemetry settings: listen address, mode and buffering. */
Result<ListenerOptions> listener_options(const TelemetryOptions& telemetry);

/**
 * A bound, serving listener. Move-only owner of the server and its thread: the destructor
 * stops the server and joins the thread.
 */
class TelemetryListener {
 public:
  /**
   * Binds, starts serving on a thread and returns once the server accepts connections (so a
   * subscription sent afterwards can be delivered at once [TEL]). ListenerFailed when the
   * address cannot be bound or the server does not start. `queue` must outlive the listener.
   */
  static Result<TelemetryListener> start(const ListenerOptions& options, TelemetryQueue& queue);

  TelemetryListener(TelemetryListener&&) noexcept;
  TelemetryListener& operator=(TelemetryListener&&) noexcept;
  TelemetryListener(const TelemetryListener&) = delete;
  TelemetryListener& operator=(const TelemetryListener&) = delete;
  ~TelemetryListener();

  /** The actually bound port (the ephemeral one when options.port was 0). */
  int port() const;
  /** The bound host, as given. */
  const std::string& host() const;
  /** Stops accepting and joins the server thread. Idempotent. */
  void stop();

 private:
  struct Impl;
  explicit TelemetryListener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace extension_runner
