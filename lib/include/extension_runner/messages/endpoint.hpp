#pragma once
/**
 * @file endpoint.hpp
 * The function's local endpoint (docs/messages.md): `POST /v1/messages` queues the body's
 * messages, tagged with their invocation, for the child. Answers: 202 once queued; 400 for a
 * malformed body (nothing of it queued); 413 over MessagesOptions::max_body_bytes; 415 for an
 * unsupported Content-Type; 503 + `Retry-After: 1` when the queue is full or the host is
 * shutting down (the messages counted as refused); 405 for other methods on the path; 404
 * elsewhere. Serves on its own threads from start() until destruction.
 */
#include <atomic>
#include <cstdint>
#include <memory>

#include "extension_runner/core/result.hpp"
#include "extension_runner/messages/invocation_tag.hpp"
#include "extension_runner/messages/options.hpp"
#include "extension_runner/telemetry/queue.hpp"

namespace extension_runner {

class MessagesEndpoint {
 public:
  /**
   * Binds `options.listen` (port 0: an ephemeral one) and serves; returns once it accepts
   * connections. ConfigInvalid for a bad address, ListenerFailed when it cannot bind. `queue`
   * and `tag` must outlive the endpoint.
   */
  static Result<std::unique_ptr<MessagesEndpoint>> start(const MessagesOptions& options,
                                                         TelemetryQueue& queue,
                                                         const InvocationTag& tag);
  /** Stops serving (waits for requests in progress). */
  ~MessagesEndpoint();
  MessagesEndpoint(const MessagesEndpoint&) = delete;
  MessagesEndpoint& operator=(const MessagesEndpoint&) = delete;

  int port() const;
  /** From now on every POST is answered 503 and counted refused (SHUTDOWN: the drain ends). */
  void refuse_new();
  /** Messages answered 503 (queue full or refuse_new) so far. */
  uint64_t refused() const;

  class Server;

 private:
  explicit MessagesEndpoint(std::unique_ptr<Server> server);
  std::unique_ptr<Server> server_;
};

}  // namespace extension_runner
