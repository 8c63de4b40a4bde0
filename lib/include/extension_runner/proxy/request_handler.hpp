#pragma once
/**
 * @file request_handler.hpp
 * Serves one runtime request end to end, on the thread of the runtime's connection:
 * - `GET …/invocation/next`: fetches the event (no timeout), holds it (up to the body limit),
 *   asks the REQUEST hook in intercept mode and carries out its decision, hands the event to the
 *   runtime, queues an observe copy in observe mode;
 * - `POST …/{id}/response` and `…/{id}/error`: holds the body, asks the RESPONSE hook in
 *   intercept mode, forwards (the original, a replacement or an error), relays the platform's
 *   answer unchanged, queues an observe copy in observe mode; a streamed response
 *   (`Lambda-Runtime-Function-Response-Mode: streaming`) instead goes through chunk by chunk,
 *   trailers included, and the hooks get a copy without its body in both modes;
 * - anything else: passed through, body and answer streamed both ways.
 * Answers of the platform (200, 202, 400, 403, 410, 413, 500, …) reach the runtime unchanged;
 * an unreachable Runtime API is a 502 `{"errorType":"Extension.ApiUnreachable",…}` and an ERROR.
 */
#include <optional>
#include <string>

#include "extension_runner/proxy/answer_sinks.hpp"
#include "extension_runner/proxy/decision.hpp"
#include "extension_runner/proxy/hook_policy.hpp"
#include "extension_runner/proxy/invocation_events.hpp"
#include "extension_runner/proxy/invocation_table.hpp"
#include "extension_runner/proxy/observe_queue.hpp"
#include "extension_runner/proxy/routes.hpp"
#include "extension_runner/proxy/runtime_body_source.hpp"
#include "extension_runner/proxy/runtime_connection.hpp"
#include "extension_runner/proxy/stats.hpp"
#include "extension_runner/proxy/upstream.hpp"

namespace extension_runner {

/** What every connection shares: options, counters, in-flight invocations, hooks, copies. */
struct ProxyShared {
  const ProxyOptions& options;
  ProxyStats& stats;
  InvocationTable& invocations;
  HookPolicy& hooks;
  ObserveQueue& observe;
};

class RequestHandler {
 public:
  RequestHandler(ProxyShared shared, RuntimeConnection& connection, UpstreamClient& upstream)
      : shared_(shared), connection_(connection), upstream_(upstream) {}

  /** Serves `head` (read from the connection). False when the connection must close now. */
  bool serve(const RequestHead& head);
  /**
   * The connection is closed: an invocation handed out on it and not answered on it has ended
   * for the observe queue (ObserveQueue::settle), as far as the proxy can tell.
   */
  void connection_ended();

 private:
  // next_flow.cpp
  bool serve_next(const RequestHead& head, const Route& route);
  /** The invocation's record kept, and its REQUEST call (with the event when `with_event`). */
  HookCall register_invocation(const HoldingSink& held, const SharedBody& body,
                               const std::string& request_id, bool with_event);
  bool deliver_event(const HoldingSink& held, const SharedBody& body, const HookContext& context,
                     const Decision& decision);
  Result<void> settle_for_runtime(const Route& route, const std::string& request_id,
                                  const Decision& decision);

  // answer_flow.cpp
  bool serve_answer(const RequestHead& head, const Route& route);
  bool serve_stream(const RequestHead& head, const Route& route,
                    const std::optional<InvocationRecord>& record);
  UpstreamRequest answer_request(const RequestHead& head, const Route& route,
                                 const Decision& decision, const std::string& body) const;
  void observe_answer(const HookContext& context, ResponseFacts facts);

  // request_handler.cpp
  /** `request_id` is over for the observe queue (ObserveQueue::settle). */
  void end_invocation(const std::string& request_id);
  /** `request_id`'s event goes to the runtime on this connection (which it then answers). */
  void handed_out(const std::string& request_id);
  bool pass_through(const RequestHead& head, std::string prefix);
  /** Sends `request` and relays the answer; `source`: the runtime's body it streams, if any. */
  bool relay(const UpstreamRequest& request, const RuntimeBodySource* source = nullptr);
  bool upstream_failed(const Error& error, bool answer_started);
  /** Reports the runtime's side failing; a broken request gets a 400 if nothing was answered. */
  bool runtime_failed(const Error& error, bool answer_started = false);
  /** Observe mode, and the hooks take `phase` (a copy is made). */
  bool observing(HookPhase phase) const;
  /** Intercept mode, and the hooks take `phase` (the hook is asked). */
  bool intercepting(HookPhase phase) const;
  /** Either mode, and the hooks take RESPONSE: a streamed response is never held, only copied. */
  bool copying_streams() const;

  ProxyShared shared_;
  RuntimeConnection& connection_;
  UpstreamClient& upstream_;
  bool http11_ = true;
  std::string unanswered_;  ///< The invocation last handed out here, until it is answered.
};

/**
 * Headers for a body the proxy substitutes (a hook's payload, or an error): `original`'s
 * end-to-end fields without `Content-Type` and the error fields (`…-Function-Error-Type`,
 * `…-Function-XRay-Error-Cause`), then `Content-Type` = `content_type` and, for an error,
 * `Lambda-Runtime-Function-Error-Type` = `error_type`.
 */
HeaderList substitute_headers(const HeaderList& original, const std::string& content_type,
                              const std::string* error_type);

/**
 * The Content-Type of a hook's replacement body: `application/json` for a `payload`; for
 * `payloadBase64` bytes the original's (the hook cannot name another), else
 * `application/octet-stream`.
 */
std::string replacement_type(const HeaderList& original, const Decision& decision);

}  // namespace extension_runner
