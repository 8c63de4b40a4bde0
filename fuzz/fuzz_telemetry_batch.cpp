// parse_telemetry_batch + view_record (telemetry_records.hpp): a body POSTed to the
// telemetry listener [TEL]. Invariants: every accepted record's `raw` is one JSON object that
// re-parses, alone, to a record with the same fields; view_record never crashes on it. The
// listener's count of a refused body (count_batch_elements, BatchElementCounter over pieces cut
// anywhere) agrees with itself on any input, and with the parse on an accepted one. The
// one-pass parse agrees with a DOM of the same body (parse_json + the DOM's first-member
// lookups, what the parse was before): same acceptance, same error text, same fields.
#include <algorithm>
#include <string>

#include "extension_runner/core/json.hpp"
#include "extension_runner/telemetry/records.hpp"
#include "fuzz_check.hpp"

using namespace extension_runner;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  const size_t count = count_batch_elements(text);
  const size_t cut = size > 0 ? data[0] % (size + 1) : 0;
  BatchElementCounter pieces;
  pieces.feed(text.substr(0, cut)).feed(text.substr(cut));
  FUZZ_CHECK(pieces.count() == count);
  const auto batch = parse_telemetry_batch(text);
  if (batch) FUZZ_CHECK(batch->size() == count);
  const auto dom = parse_json(text);
  if (!dom) {
    FUZZ_CHECK(!batch);
    FUZZ_CHECK(batch.error().message == dom.error().message);
  } else if (!dom->IsArray()) {
    FUZZ_CHECK(!batch);
  } else {
    const auto& array = dom->GetArray();
    const bool all_objects =
        std::all_of(array.Begin(), array.End(), [](const auto& e) { return e.IsObject(); });
    FUZZ_CHECK(all_objects == batch.ok());
    for (rapidjson::SizeType i = 0; batch && i < array.Size(); ++i) {
      const auto& e = array[i];
      const auto& record = (*batch)[i];
      FUZZ_CHECK(record.time == json_string(e, "time").value_or(""));
      FUZZ_CHECK(record.type == json_string(e, "type").value_or(""));
      const auto* r = json_member(e, "record");
      const bool object = r != nullptr && r->IsObject();
      FUZZ_CHECK(record.request_id == (object ? json_string(*r, "requestId").value_or("") : ""));
      const int64_t dropped = object && record.type == "platform.logsDropped"
                                  ? json_int64(*r, "droppedRecords").value_or(0)
                                  : 0;
      FUZZ_CHECK(record.dropped_records == dropped);
    }
  }
  if (!batch) {
    FUZZ_CHECK(batch.error().kind == ErrorKind::InvalidInput);
    return 0;
  }
  for (const auto& record : *batch) {
    const auto doc = parse_json(record.raw);
    FUZZ_CHECK(doc.ok());
    FUZZ_CHECK(doc->IsObject());
    const auto alone = parse_telemetry_batch("[" + record.raw + "]");
    FUZZ_CHECK(alone.ok());
    FUZZ_CHECK(alone->size() == 1);
    const auto& same = alone->front();
    FUZZ_CHECK(same.raw == record.raw);
    FUZZ_CHECK(same.time == record.time);
    FUZZ_CHECK(same.type == record.type);
    FUZZ_CHECK(same.request_id == record.request_id);
    FUZZ_CHECK(same.dropped_records == record.dropped_records);
    (void)record.ends_invocation();
    (void)view_record(record);
  }
  return 0;
}
