// view_record (telemetry_records.hpp) on any record text, with `type` forced to one of the
// documented record types by the first byte so every typed view is reached.
// Input: 1 byte picking the type, then the record's `record` value as JSON text.
#include <iterator>
#include <string>

#include "extension_runner/telemetry/records.hpp"
#include "fuzz_check.hpp"

using namespace extension_runner;

namespace {
const char* const kTypes[] = {
    "platform.initStart",
    "platform.initRuntimeDone",
    "platform.initReport",
    "platform.start",
    "platform.runtimeDone",
    "platform.report",
    "platform.end",
    "platform.restoreStart",
    "platform.restoreRuntimeDone",
    "platform.restoreReport",
    "platform.extension",
    "platform.telemetrySubscription",
    "platform.logsSubscription",
    "platform.logsDropped",
    "platform.fault",
    "function",
    "extension",
    "something.else",
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string type = kTypes[data[0] % std::size(kTypes)];
  const std::string_view value = fuzz::as_text(data + 1, size - 1);

  // The value as the whole record text, and wrapped in a record of the chosen type.
  TelemetryRecord bare;
  bare.raw = std::string(value);
  (void)view_record(bare);

  TelemetryRecord wrapped;
  wrapped.type = type;
  wrapped.raw = R"({"time":"2024-01-01T00:00:00.000Z","type":")" + type + R"(","record":)" +
                std::string(value) + "}";
  const auto view = view_record(wrapped);
  if (view) {
    if (const auto* line = std::get_if<LogLineRecord>(&*view); line && line->is_object) {
      FUZZ_CHECK(fuzz::is_json(line->text));
    }
  }
  return 0;
}
