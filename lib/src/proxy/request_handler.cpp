#include "extension_runner/proxy/request_handler.hpp"

#include "extension_runner/core/log.hpp"
#include "extension_runner/proxy/header_mapping.hpp"
#include "extension_runner/proxy/runtime_body_source.hpp"

namespace extension_runner {

bool RequestHandler::serve(const RequestHead& head) {
  bump(shared_.stats.requests);
  http11_ = head.version == "HTTP/1.1";
  if (auto framing = connection_.start_body(head); !framing.ok()) {
    log_warn("proxy: refused a runtime request: " + framing.error().message);
    (void)write_error_answer(connection_, 400, error_type(ErrorKind::InvalidInput),
                             framing.error().message);
    return false;
  }
  const Route route = classify_route(head.method, head.target);
  bool keep = false;
  switch (route.kind) {
    case RouteKind::Next:
      keep = serve_next(head, route);
      break;
    case RouteKind::Response:
    case RouteKind::Error:
      keep = serve_answer(head, route);
      // Whatever came of it, the runtime is done with this invocation; its copies are queued.
      end_invocation(route.request_id);
      break;
    case RouteKind::PassThrough:
      keep = pass_through(head, {});
      break;
  }
  return keep && keeps_alive(head) && connection_.body_ended();
}

void RequestHandler::end_invocation(const std::string& request_id) {
  shared_.observe.settle(request_id);
  if (request_id == unanswered_) unanswered_.clear();
}

// A runtime asks again once it is done with the invocation it had here, answered or not.
void RequestHandler::handed_out(const std::string& request_id) {
  if (!unanswered_.empty() && unanswered_ != request_id) end_invocation(unanswered_);
  unanswered_ = request_id;
  shared_.observe.begin(request_id);
}

void RequestHandler::connection_ended() {
  // A runtime that died has closed every connection: its invocation ended unanswered.
  if (!unanswered_.empty()) end_invocation(unanswered_);
}

bool RequestHandler::pass_through(const RequestHead& head, std::string prefix) {
  RuntimeBodySource source(connection_, std::move(prefix));
  UpstreamRequest request;
  request.method = head.method;
  request.target = head.target;
  request.headers = end_to_end_headers(head.headers);
  const BodyFraming& framing = connection_.framing();
  if (framing.kind != BodyFraming::Kind::None) {
    request.body = UpstreamRequest::Body::Streamed;
    request.source = &source;
    if (framing.kind == BodyFraming::Kind::Length) request.length = framing.length;
    request.announced_trailers = find_header(head.headers, "Trailer");
  }
  return relay(request, &source);
}

bool RequestHandler::relay(const UpstreamRequest& request, const RuntimeBodySource* source) {
  RelaySink sink(connection_, http11_);
  auto exchanged = upstream_.exchange(request, sink);
  // A runtime that broke off its body is the first failure, whatever followed from it (a cut
  // upload, or an answer it is no longer there to read): reported once, as that.
  if (source != nullptr && source->failure()) {
    return runtime_failed(*source->failure(), sink.started());
  }
  if (!exchanged.ok()) return upstream_failed(exchanged.error(), sink.started());
  if (auto finished = sink.finish(); !finished.ok()) return runtime_failed(finished.error(), true);
  return !sink.must_close();
}

bool RequestHandler::upstream_failed(const Error& error, bool answer_started) {
  switch (error.kind) {
    case ErrorKind::Cancelled:
      return false;  // stopping: the runtime's connection is being shut as well
    case ErrorKind::ApiUnreachable:
      bump(shared_.stats.upstream_errors);
      log_error(
          "proxy: the Runtime API failed: " + error.message +
          (answer_started ? "; the answer to the runtime was cut off" : "; the runtime gets 502"));
      if (!answer_started) {
        (void)write_error_answer(connection_, 502, error_type(ErrorKind::ApiUnreachable),
                                 error.message);
      }
      return false;
    default:
      return runtime_failed(error, answer_started);
  }
}

bool RequestHandler::runtime_failed(const Error& error, bool answer_started) {
  if (error.kind == ErrorKind::InvalidInput) {
    log_warn("proxy: the runtime sent a broken request: " + error.message);
    if (!answer_started) {
      (void)write_error_answer(connection_, 400, error_type(ErrorKind::InvalidInput),
                               error.message);
    }
    return false;
  }
  bump(shared_.stats.runtime_disconnects);
  log_warn("proxy: the runtime's connection failed: " + error.message);
  return false;
}

bool RequestHandler::observing(HookPhase phase) const {
  return shared_.options.mode == ProxyMode::Observe && shared_.hooks.takes(phase);
}
bool RequestHandler::intercepting(HookPhase phase) const {
  return shared_.options.mode == ProxyMode::Intercept && shared_.hooks.takes(phase);
}
bool RequestHandler::copying_streams() const {
  return shared_.options.mode != ProxyMode::Off && shared_.hooks.takes(HookPhase::Response);
}

HeaderList substitute_headers(const HeaderList& original, const std::string& content_type,
                              const std::string* error_type) {
  HeaderList out;
  for (const auto& field : end_to_end_headers(original)) {
    if (iequals(field.first, "Content-Type") || iequals(field.first, runtime_header::kErrorType) ||
        iequals(field.first, "Lambda-Runtime-Function-XRay-Error-Cause")) {
      continue;
    }
    out.push_back(field);
  }
  out.emplace_back("Content-Type", content_type);
  if (error_type != nullptr) out.emplace_back(runtime_header::kErrorType, *error_type);
  return out;
}

std::string replacement_type(const HeaderList& original, const Decision& decision) {
  if (decision.body_is_json) return "application/json";
  const std::string* type = find_header(original, "Content-Type");
  return type != nullptr ? *type : "application/octet-stream";
}

}  // namespace extension_runner
