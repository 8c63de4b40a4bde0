// decode_invoke_reply (protocol.hpp): a child's reply line [docs/runner-protocol.md].
// Invariant: a decoded reply encodes, and the encoding decodes to the same reply, so what
// the host forwards is what the child said.
#include "extension_runner/runner/protocol.hpp"
#include "fuzz_check.hpp"

using namespace extension_runner;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto reply = decode_invoke_reply(fuzz::as_text(data, size));
  if (!reply) {
    FUZZ_CHECK(reply.error().kind == ErrorKind::ProtocolError);
    return 0;
  }
  FUZZ_CHECK(fuzz::is_json(reply->result_json));
  const auto encoded = encode_invoke_reply(*reply);
  FUZZ_CHECK(encoded.ok());
  FUZZ_CHECK(encoded->find('\n') == std::string::npos);  // one line of the framing
  const auto again = decode_invoke_reply(*encoded);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->invokeid == reply->invokeid);
  FUZZ_CHECK(again->errortype == reply->errortype);
  FUZZ_CHECK(again->errors == reply->errors);
  FUZZ_CHECK(again->result_json == reply->result_json);
  FUZZ_CHECK(again->billing.duration_ms == reply->billing.duration_ms);
  FUZZ_CHECK(again->billing.memory == reply->billing.memory);
  FUZZ_CHECK(again->billing.used_mb == reply->billing.used_mb);
  return 0;
}
