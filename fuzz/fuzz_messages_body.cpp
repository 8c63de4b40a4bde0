// parse_messages_body (messages/body.hpp): a function's POST /v1/messages body [docs/messages.md].
#include "extension_runner/messages/body.hpp"
#include "fuzz_check.hpp"

using namespace extension_runner;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto format = (data[0] & 1) != 0 ? MessagesFormat::NdJson : MessagesFormat::Json;
  const auto body = fuzz::as_text(data + 1, size - 1);
  const auto messages = parse_messages_body(body, format);
  if (!messages) {
    FUZZ_CHECK(messages.error().kind == ErrorKind::InvalidInput);
    return 0;
  }
  if (format == MessagesFormat::Json) FUZZ_CHECK(fuzz::is_json(body));
  for (const auto& message : *messages) {
    // Each message is compact JSON that re-serialises to itself, and the record around it is
    // one JSON object on one line (the child reads protocol lines).
    auto reparsed = parse_json(message);
    FUZZ_CHECK(reparsed.ok());
    FUZZ_CHECK(to_json(*reparsed) == message);
    const auto record = message_record_json("id", "2024-01-01T00:00:00.000Z", message);
    FUZZ_CHECK(fuzz::is_json(record));
    FUZZ_CHECK(record.find('\n') == std::string::npos);
  }
  return 0;
}
