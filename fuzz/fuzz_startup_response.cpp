// decode_startup_response (protocol.hpp): the child's first line [docs/runner-protocol.md].
#include "extension_runner/runner/protocol.hpp"
#include "fuzz_check.hpp"

using namespace extension_runner;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto response = decode_startup_response(fuzz::as_text(data, size));
  if (!response) {
    FUZZ_CHECK(response.error().kind == ErrorKind::ProtocolError);
    return 0;
  }
  FUZZ_CHECK(fuzz::is_json(fuzz::as_text(data, size)));
  return 0;
}
