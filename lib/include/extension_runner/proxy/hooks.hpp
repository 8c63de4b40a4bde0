#pragma once
/**
 * @file hooks.hpp
 * What the proxy calls for each invocation, and the plain values it passes. A HookCall holds
 * exactly the fields of a runner-protocol `InvokeRequest` and a HookReply those of an
 * `InvokeReply` that decide (docs/runner-protocol.md, "Runtime API proxy"), so the host's
 * adapter only copies fields across to its Dispatcher; the proxy itself knows nothing of the
 * child process.
 */
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "extension_runner/core/result.hpp"

namespace extension_runner {

/** Which hook: what the runtime is about to get (REQUEST), or what the platform is (RESPONSE). */
enum class HookPhase { Request, Response };

/** `context.identity` of an InvokeRequest, from `Lambda-Runtime-Cognito-Identity`. */
struct CognitoIdentity {
  std::string cognito_identity_id;
  std::string cognito_identity_pool_id;
};

/** `context` of an InvokeRequest: the runner protocol's names, built from the event's headers. */
struct HookContext {
  std::string aws_request_id;
  std::optional<std::string> client_context_json;  ///< A compact JSON object, or null.
  std::optional<CognitoIdentity> identity;
  std::string invoked_function_arn;
};

/**
 * A hook's event, `{"eventType":"REQUEST"|"RESPONSE",…}`: compact, valid JSON on one line (the
 * adapter may set InvokeRequest::event_compact and pass it on as it is), in pieces: `head`, then
 * `*payload` and `end` when `payload` is set. A JSON body rides as `payload`, shared with whoever
 * forwards it rather than copied into the event: it can be a 6 MiB response, on the billed path.
 */
struct HookEvent {
  std::string head;
  std::shared_ptr<const std::string> payload;
  std::string end;

  /** The whole text, joined (a copy: for tests and logs, not for the billed path). */
  std::string text() const { return payload ? head + *payload + end : head; }
};

/** One request to the hooks: an InvokeRequest's `context`, `event` and `deadline`. */
struct HookCall {
  HookContext context;
  HookEvent event;
  /** When the answer must be in: epoch ms (the invocation's deadline, capped by the budget). */
  int64_t deadline_ms = 0;
};

/** The deciding fields of an InvokeReply (`result`, `errortype`, `errors`), and its time. */
struct HookReply {
  std::string result_json = "null";  ///< Any JSON, as compact text.
  std::string errortype;
  bool errors = false;
  /**
   * The hook's own time as the runner protocol bills it (`billing.duration`): from the request's
   * first byte written to the reply read, measured by the host; 0 when unknown (a test fake).
   */
  double billed_ms = 0;
};

/**
 * The extension logic the proxy consults. Implemented by the host (over the runner protocol's
 * Dispatcher) and by test fakes.
 *
 * Threads: on_request and on_response are called on the thread serving the runtime's
 * connection, so calls for concurrent invocations (Managed Instances run up to
 * `AWS_LAMBDA_MAX_CONCURRENCY` at once [LMI]) arrive concurrently and must not wait on each
 * other. observe() is called on the proxy's one observe thread, one copy at a time.
 */
class InvocationHooks {
 public:
  virtual ~InvocationHooks() = default;

  /**
   * Intercept mode, before the runtime gets the event: the REQUEST hook's answer, by
   * `call.deadline_ms`. An Error means the hook failed, its message saying how (no reply by the
   * deadline, the child crashed, a protocol error, cancelled), and the proxy applies its
   * FailPolicy. A reply the host made up itself for a timeout or a crash (`Runner.Timeout`,
   * `Runner.Crashed`, `Runner.ProtocolError`) must come back as such an Error too: `errors: true`
   * in a HookReply means the extension chose to fail the invocation. Takes the call by value,
   * as observe() does: the event (up to a whole payload) moves on into the request, uncopied.
   */
  virtual Result<HookReply> on_request(HookCall call) = 0;

  /** Intercept mode, before the platform gets a buffered response: as on_request. */
  virtual Result<HookReply> on_response(HookCall call) = 0;

  /**
   * Observe mode (and streamed responses in both modes): a copy of what was already forwarded.
   * Runs off the function's path, on the proxy's observe thread; may block, but should be done
   * by `call.deadline_ms`, since copies behind it wait (and are dropped once the queue is full).
   * Takes the call by value: the event (up to a whole response body) can move on, uncopied.
   */
  virtual void observe(HookCall call) = 0;

  /**
   * Makes the observe() call running now, if any, return promptly, and later ones not wait for
   * an answer: the observe thread must end within a stop's budget (ObserveQueue::stop). From any
   * thread. By default nothing, for implementations whose observe() never blocks for long.
   */
  virtual void abandon_observe() {}

  /**
   * Whether the extension logic takes `phase`'s events at all. When it does not, the proxy
   * neither asks that hook nor makes that copy: the original goes on as a `null` answer would
   * have let it, at no cost (docs/runner-protocol.md, `handles`). Asked once per invocation and
   * phase, from any thread, so it must be cheap. By default every phase is taken.
   */
  virtual bool takes(HookPhase /*phase*/) const { return true; }
};

}  // namespace extension_runner
