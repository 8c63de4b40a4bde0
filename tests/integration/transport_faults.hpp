#pragma once
// Transport faults for the fake Extensions API (docs/faults.md): calls broken below the HTTP
// status line, on any endpoint of the emulator's server (the Telemetry API subscription too).
// They act through the emulator's before-route hook, so before the identifier checks and any
// status-code Fault.
#include <memory>
#include <string>

#include "extension_runner/fake_platform/extensions_api.hpp"

namespace test_support {

/** How a TransportFault breaks a call. */
enum class Transport {
  Reset,              ///< The connection is reset (RST) before any answer byte.
  CloseBeforeAnswer,  ///< The connection is closed (FIN) without an answer.
  CloseMidBody,       ///< Status and headers promise a body; half of it arrives, then FIN.
  Body,               ///< A complete answer with `status` and `body` instead of the real one.
  Slow,               ///< The real answer, after `delay_ms` (or sooner, when the API stops).
  VanishAfter,        ///< The real answer, then the API is gone: new connections are refused.
};

/** One transport fault: the next `times` calls to an endpoint get it. */
struct TransportFault {
  Transport kind = Transport::Reset;
  int status = 200;  ///< Transport::Body.
  std::string body;  ///< Transport::Body; CloseMidBody's promised body ("" = a cut INVOKE).
  int delay_ms = 0;  ///< Transport::Slow.
  int times = 1;     ///< How many calls it applies to.
};

/**
 * Transport faults on one emulator. The constructor installs them as its before-route hook;
 * the hook keeps the queued faults alive, so this object may go before the emulator does.
 * A broken call is recorded with status 0 (no answer), the Body fault's status, or (Slow,
 * VanishAfter) the real answer's.
 */
class TransportFaults {
 public:
  explicit TransportFaults(extension_runner::Emulator& api);

  /** Queues `fault` for the next calls to `endpoint`, after any queued before it. */
  void inject(extension_runner::Endpoint endpoint, TransportFault fault);
  /** Whether a VanishAfter fault has taken the API away. */
  bool vanished() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace test_support
