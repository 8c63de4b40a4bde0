// `POST …/invocation/{id}/response` and `…/{id}/error` through the proxy.
#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/log.hpp"
#include "extension_runner/proxy/header_mapping.hpp"
#include "extension_runner/proxy/request_handler.hpp"
#include "extension_runner/proxy/runtime_body_source.hpp"

namespace extension_runner {
namespace {

// A Function URL's prelude (status code, headers, cookies) is small; the RESPONSE copy reports
// it when it ends within this many bytes.
constexpr size_t kPreludeBytes = 64 * 1024;

bool is_streaming(const RequestHead& head, const Route& route) {
  const std::string* mode = find_header(head.headers, runtime_header::kResponseMode);
  return route.kind == RouteKind::Response && mode != nullptr && iequals(*mode, "streaming");
}

HookContext context_of(const std::optional<InvocationRecord>& record, const std::string& id) {
  if (record) return record->context;
  HookContext context;  // an invocation the proxy did not see start (it began before it)
  context.aws_request_id = id;
  return context;
}

}  // namespace

bool RequestHandler::serve_answer(const RequestHead& head, const Route& route) {
  const std::string& id = route.request_id;
  const auto record = shared_.invocations.take(id);
  if (is_streaming(head, route)) return serve_stream(head, route, record);
  auto body = connection_.read_body_upto(shared_.options.body_limit_bytes);
  if (!body.ok()) return runtime_failed(body.error());
  if (!body->complete) {
    // Over Lambda's own limit: on to the platform as it is, which answers 413.
    bump(shared_.stats.unseen);
    return pass_through(head, std::move(body->bytes));
  }
  ResponseFacts facts;
  facts.request_id = id;
  facts.error = route.kind == RouteKind::Error;
  if (const std::string* type = find_header(head.headers, runtime_header::kErrorType)) {
    facts.error_type = *type;
  }
  // Shared: the hook's event, the request upstream and an observe copy all carry this one body.
  facts.body = std::make_shared<const std::string>(std::move(body->bytes));
  facts.headers = head.headers;
  Decision decision;
  if (intercepting(HookPhase::Response)) {
    HookCall call;
    call.context = context_of(record, id);
    call.event = response_event(facts);
    call.deadline_ms = shared_.hooks.call_deadline(record ? record->deadline_ms : std::nullopt);
    decision = shared_.hooks.ask(HookPhase::Response, std::move(call));
  }
  const bool kept = relay(answer_request(head, route, decision, *facts.body));
  if (observing(HookPhase::Response)) observe_answer(context_of(record, id), std::move(facts));
  return kept;
}

UpstreamRequest RequestHandler::answer_request(const RequestHead& head, const Route& route,
                                               const Decision& decision,
                                               const std::string& body) const {
  UpstreamRequest request;
  request.method = head.method;
  request.target = head.target;
  request.body = UpstreamRequest::Body::Buffered;
  request.buffered = body;
  switch (decision.kind) {
    case Decision::Kind::Replace:
      request.target = response_path(route.version, route.request_id);
      request.headers =
          substitute_headers(head.headers, replacement_type(head.headers, decision), nullptr);
      request.buffered = decision.body;
      break;
    case Decision::Kind::Fail:
      request.target = error_path(route.version, route.request_id);
      request.headers = substitute_headers(head.headers, "application/json", &decision.error_type);
      request.buffered = decision.body;
      break;
    default:  // Forward (Respond and Invalid never reach here: HookPolicy turns them away)
      request.headers = end_to_end_headers(head.headers);
      break;
  }
  return request;
}

bool RequestHandler::serve_stream(const RequestHead& head, const Route& route,
                                  const std::optional<InvocationRecord>& record) {
  RuntimeBodySource source(connection_);
  const std::string* type = find_header(head.headers, "Content-Type");
  if (type != nullptr && iequals(*type, kHttpIntegrationContentType))
    source.keep_start(kPreludeBytes);
  UpstreamRequest request;
  request.method = head.method;
  request.target = head.target;
  request.headers = end_to_end_headers(head.headers);
  request.body = UpstreamRequest::Body::Streamed;
  request.source = &source;
  if (connection_.framing().kind == BodyFraming::Kind::Length)
    request.length = connection_.framing().length;
  request.announced_trailers = find_header(head.headers, "Trailer");
  const bool kept = relay(request, &source);

  ResponseFacts facts;
  facts.request_id = route.request_id;
  facts.streamed = true;
  facts.bytes = source.bytes();
  facts.headers = head.headers;
  if (!source.start().empty()) facts.prelude_json = http_integration_prelude(source.start());
  const HeaderList trailers = source.trailers();
  if (const std::string* error = find_header(trailers, runtime_header::kErrorType)) {
    facts.error = true;
    facts.error_type = *error;
  }
  if (copying_streams()) observe_answer(context_of(record, route.request_id), std::move(facts));
  return kept;
}

void RequestHandler::observe_answer(const HookContext& context, ResponseFacts facts) {
  const int64_t timeout_ms = shared_.options.hook_timeout_ms;
  const size_t bytes = facts.body ? facts.body->size() : 0;
  // The copy shares the body; its event is built on the observe thread.
  shared_.observe.push(
      ObserveCopy{[context, facts = std::move(facts), timeout_ms]() {
                    return HookCall{context, response_event(facts), wall_clock_ms() + timeout_ms};
                  },
                  bytes, context.aws_request_id, HookPhase::Response});
}

}  // namespace extension_runner
