// parse_event (events.hpp): an `/event/next` body from the Extensions API [EXT].
// Invariant: an accepted event re-parses from its own `raw` to the same event.
#include "extension_runner/lambda/events.hpp"
#include "fuzz_check.hpp"

using namespace extension_runner;

namespace {
int64_t deadline_of(const Event& event) {
  return std::visit([](const auto& e) { return e.deadline_ms; }, event);
}
const std::string& raw_of(const Event& event) {
  return std::visit([](const auto& e) -> const std::string& { return e.raw; }, event);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parsed = parse_event(fuzz::as_text(data, size));
  if (!parsed) {
    FUZZ_CHECK(!parsed.error().message.empty());
    return 0;
  }
  const Event& event = *parsed;
  FUZZ_CHECK(fuzz::is_json(raw_of(event)));
  const auto again = parse_event(raw_of(event));
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(event_type(*again) == event_type(event));
  FUZZ_CHECK(deadline_of(*again) == deadline_of(event));
  FUZZ_CHECK(raw_of(*again) == raw_of(event));
  if (const auto* invoke = std::get_if<InvokeEvent>(&event)) {
    const auto& other = std::get<InvokeEvent>(*again);
    FUZZ_CHECK(!invoke->request_id.empty());
    FUZZ_CHECK(other.request_id == invoke->request_id);
    FUZZ_CHECK(other.invoked_function_arn == invoke->invoked_function_arn);
    FUZZ_CHECK(other.tracing.has_value() == invoke->tracing.has_value());
  } else {
    const auto& shutdown = std::get<ShutdownEvent>(event);
    FUZZ_CHECK(std::get<ShutdownEvent>(*again).shutdown_reason == shutdown.shutdown_reason);
  }
  return 0;
}
