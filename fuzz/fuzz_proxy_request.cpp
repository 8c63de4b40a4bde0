// decode_proxy_request (protocol.hpp): the `invoke --request` file [docs/runner-protocol.md].
// Invariant: a decoded request can always be encoded as the InvokeRequest the host sends
// the child, and that encoding is one line that decodes back to the same context.
#include "extension_runner/runner/protocol.hpp"
#include "fuzz_check.hpp"

using namespace extension_runner;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto request = decode_proxy_request(fuzz::as_text(data, size));
  if (!request) {
    FUZZ_CHECK(request.error().kind == ErrorKind::ProtocolError);
    return 0;
  }
  FUZZ_CHECK(fuzz::is_json(request->event_json));
  if (request->context.client_context_json) {
    FUZZ_CHECK(fuzz::is_json(*request->context.client_context_json));
  }
  InvokeRequest invoke;
  invoke.context = request->context;
  invoke.event_json = request->event_json;
  invoke.deadline_ms = request->remaining_ms;
  const auto encoded = encode_invoke_request(invoke);
  FUZZ_CHECK(encoded.ok());
  FUZZ_CHECK(encoded->find('\n') == std::string::npos);
  const auto doc = parse_json(*encoded);
  FUZZ_CHECK(doc.ok());
  const auto* context = json_member(*doc, "context");
  FUZZ_CHECK(context != nullptr);
  const auto decoded = decode_invoke_context(to_json(*context));
  FUZZ_CHECK(decoded.ok());
  FUZZ_CHECK(decoded->aws_request_id == request->context.aws_request_id);
  FUZZ_CHECK(decoded->invoked_function_arn == request->context.invoked_function_arn);
  FUZZ_CHECK(decoded->client_context_json == request->context.client_context_json);
  FUZZ_CHECK(decoded->identity.has_value() == request->context.identity.has_value());
  return 0;
}
