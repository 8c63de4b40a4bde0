// `GET …/runtime/invocation/next` through the proxy: fetch, hold, decide, hand over.
#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/log.hpp"
#include "extension_runner/proxy/header_mapping.hpp"
#include "extension_runner/proxy/request_handler.hpp"

namespace extension_runner {
namespace {

/** Collects a small answer the runtime never sees (to a post the proxy made itself). */
class SmallAnswer : public ResponseSink {
 public:
  bool on_head(int status, HeaderList) override {
    status_ = status;
    return true;
  }
  bool on_body(std::string_view data) override {
    if (body_.size() < 4096) body_.append(data.substr(0, 4096 - body_.size()));
    return true;
  }
  int status() const { return status_; }
  const std::string& body() const { return body_; }

 private:
  int status_ = 0;
  std::string body_;
};

}  // namespace

bool RequestHandler::serve_next(const RequestHead& head, const Route& route) {
  if (auto drained = connection_.discard_body(); !drained.ok())
    return runtime_failed(drained.error());
  while (true) {
    HoldingSink held(connection_, http11_, shared_.options.body_limit_bytes);
    UpstreamRequest request;
    request.target = head.target;
    request.headers = end_to_end_headers(head.headers);
    auto fetched = upstream_.exchange(request, held);
    if (!fetched.ok()) return upstream_failed(fetched.error(), held.relay().started());
    if (held.overflowed()) {
      bump(shared_.stats.unseen);
      bump(shared_.stats.invocations);
      log_warn("proxy: an event over " + std::to_string(shared_.options.body_limit_bytes) +
               " bytes went to the runtime without the hooks");
      if (const std::string* id = find_header(held.headers(), runtime_header::kRequestId)) {
        handed_out(*id);
      }
      if (auto finished = held.relay().finish(); !finished.ok()) {
        return runtime_failed(finished.error(), true);
      }
      return !held.relay().must_close();
    }
    const std::string* id = find_header(held.headers(), runtime_header::kRequestId);
    if (held.status() != 200 || id == nullptr) {
      return write_held_answer(connection_, held.status(), held.headers(), held.body()).ok();
    }
    // Shared from here on: the hook's event, the runtime's answer and an observe copy all
    // carry this one body.
    const SharedBody body = held.take_body();
    // Decided once: the event is built only for a hook that is then asked.
    const bool hooked = intercepting(HookPhase::Request);
    HookCall call = register_invocation(held, body, *id, hooked);
    const HookContext context = call.context;
    const Decision decision =
        hooked ? shared_.hooks.ask(HookPhase::Request, std::move(call)) : Decision{};
    if (decision.kind == Decision::Kind::Forward || decision.kind == Decision::Kind::Replace) {
      return deliver_event(held, body, context, decision);
    }
    // The hook settled the invocation itself: the runtime waits for the next one.
    (void)shared_.invocations.take(*id);
    auto settled = settle_for_runtime(route, *id, decision);
    end_invocation(*id);
    if (!settled.ok()) return upstream_failed(settled.error(), false);
  }
}

HookCall RequestHandler::register_invocation(const HoldingSink& held, const SharedBody& body,
                                             const std::string& request_id, bool with_event) {
  InvocationRecord record;
  record.context = context_from_headers(held.headers());
  record.context.aws_request_id = request_id;
  record.deadline_ms = deadline_from_headers(held.headers());
  HookCall call;
  call.context = record.context;
  call.deadline_ms = shared_.hooks.call_deadline(record.deadline_ms);
  if (with_event) call.event = request_event(request_id, body, held.headers());
  shared_.invocations.add(request_id, std::move(record), wall_clock_ms());
  return call;
}

bool RequestHandler::deliver_event(const HoldingSink& held, const SharedBody& body,
                                   const HookContext& context, const Decision& decision) {
  handed_out(context.aws_request_id);
  Result<void> written =
      decision.kind == Decision::Kind::Replace
          ? write_held_answer(
                connection_, held.status(),
                substitute_headers(held.headers(), replacement_type(held.headers(), decision),
                                   nullptr),
                decision.body)
          : write_held_answer(connection_, held.status(), held.headers(), *body);
  if (!written.ok()) {
    log_warn("proxy: the runtime went away before it got event " + context.aws_request_id);
    return runtime_failed(written.error());
  }
  bump(shared_.stats.invocations);
  if (observing(HookPhase::Request)) {
    // The copy shares the body; its event is built on the observe thread.
    const int64_t timeout_ms = shared_.options.hook_timeout_ms;
    shared_.observe.push(
        ObserveCopy{[context, body, headers = held.headers(), timeout_ms]() {
                      return HookCall{context, request_event(context.aws_request_id, body, headers),
                                      wall_clock_ms() + timeout_ms};
                    },
                    body->size(), context.aws_request_id, HookPhase::Request});
  }
  return true;
}

Result<void> RequestHandler::settle_for_runtime(const Route& route, const std::string& request_id,
                                                const Decision& decision) {
  const bool respond = decision.kind == Decision::Kind::Respond;
  UpstreamRequest request;
  request.method = "POST";
  request.target =
      respond ? response_path(route.version, request_id) : error_path(route.version, request_id);
  request.headers = {{"Content-Type", respond && !decision.body_is_json ? "application/octet-stream"
                                                                        : "application/json"}};
  if (!respond) request.headers.emplace_back(runtime_header::kErrorType, decision.error_type);
  request.body = UpstreamRequest::Body::Buffered;
  request.buffered = decision.body;
  SmallAnswer answer;
  auto sent = upstream_.exchange(request, answer);
  if (!sent.ok()) return sent;
  const std::string what = respond ? "answered by the REQUEST hook"
                                   : "failed by the REQUEST hook (" + decision.error_type + ")";
  if (answer.status() / 100 == 2) {
    log_debug("proxy: invocation " + request_id + " " + what);
  } else {
    log_warn("proxy: invocation " + request_id + " " + what + ", but the Runtime API answered " +
             std::to_string(answer.status()) + ": " + answer.body());
  }
  return {};
}

}  // namespace extension_runner
