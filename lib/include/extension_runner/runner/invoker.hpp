#pragma once
/**
 * @file invoker.hpp
 * The seed's Invoker: something that runs one request to completion.
 */
#include <cstdint>

#include "extension_runner/core/result.hpp"
#include "extension_runner/runner/protocol.hpp"

namespace extension_runner {

/**
 * Runs requests one at a time. Implementations: the child-process Invoker (runner protocol)
 * and a stdout writer used when no child is configured.
 * A failure of the request itself (timeout, crash) is a reply with `errors: true` and an
 * `errortype`; an Error result means the invoker can no longer serve (e.g. crash limit hit).
 */
class Invoker {
 public:
  virtual ~Invoker() = default;
  /** Runs `request`; must return by `request.deadline_ms` (plus a small kill/restart margin). */
  virtual Result<InvokeReply> invoke(const InvokeRequest& request) = 0;
  /** Ends the child (if any) within `budget_ms`. Idempotent. */
  virtual void shutdown(int64_t budget_ms) = 0;
  /**
   * Stops serving, from any thread: an invoke() in progress returns promptly (its child is
   * killed) and later ones fail with Cancelled; shutdown() still works. Sticky. Used when the
   * SHUTDOWN budget runs out while a request is still running.
   */
  virtual void cancel() {}
  /**
   * True when invoke() would only talk to what is already running (nothing to spawn or
   * restart), so the Dispatcher may run it on the submitting thread instead of its worker
   * (still one request at a time). False by default.
   */
  virtual bool ready() const { return false; }
};

}  // namespace extension_runner
