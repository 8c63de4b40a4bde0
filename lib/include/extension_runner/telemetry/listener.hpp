#pragma once
/**
 * @file listener.hpp
 * The local endpoint Lambda delivers telemetry to [TEL][LOGS], feeding a TelemetryQueue: an HTTP
 * server (http_listener.hpp) or, for the TCP destination, a line server (tcp_listener.hpp), each
 * on its own thread. It never logs per request (a subscriber to `extension` records would
 * receive its own lines [TEL]); every outcome is a counter instead.
 */
#include <memory>
#include <string>

#include "extension_runner/core/result.hpp"
#include "extension_runner/telemetry/options.hpp"
#include "extension_runner/telemetry/queue.hpp"

namespace extension_runner {

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

/** A destination's server, bound and serving on its own thread (http_ or tcp_listener.hpp). */
class ListenerServer {
 public:
  virtual ~ListenerServer() = default;
  /** The bound port (the ephemeral one when ListenerOptions::port was 0). */
  virtual int port() const = 0;
  /** Stops serving and joins the thread. Idempotent; the destructor calls it too. */
  virtual void stop() = 0;
};

/**
 * A bound, serving listener. Move-only owner of the server and its thread: the destructor
 * stops the server and joins the thread.
 */
class TelemetryListener {
 public:
  /**
   * Binds, starts serving on a thread and returns once the server accepts connections (so a
   * subscription sent afterwards can be delivered at once [TEL]); the server is the one of
   * `options.protocol`. ListenerFailed when the address cannot be bound or the server does not
   * start. `queue` must outlive the listener.
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
  TelemetryListener(std::unique_ptr<ListenerServer> server, std::string host);
  std::unique_ptr<ListenerServer> server_;
  std::string host_;
};

}  // namespace extension_runner
