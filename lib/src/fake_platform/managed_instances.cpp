#include "extension_runner/fake_platform/managed_instances.hpp"

#include <algorithm>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/json.hpp"
#include "extension_runner/core/uuid.hpp"
#include "extension_runner/fake_platform/extensions_api.hpp"
#include "extension_runner/fake_platform/telemetry_api.hpp"
#include "extension_runner/lambda/platform.hpp"

namespace extension_runner {
namespace {

// A log entry under the JSON log format, which Managed Instances default to [LMI]: the
// runtime tags every line with its invocation's requestId.
std::string json_log_line(const std::string& entry_json, const std::string& request_id) {
  auto doc = parse_json(entry_json);
  if (doc.ok() && doc->IsObject()) {
    if (json_member(*doc, "requestId") == nullptr) {
      rapidjson::Value id;
      id.SetString(request_id.data(), static_cast<rapidjson::SizeType>(request_id.size()),
                   doc->GetAllocator());
      doc->AddMember("requestId", id, doc->GetAllocator());
    }
    return to_json(*doc);
  }
  const std::string message = doc.ok() && doc->IsString()
                                  ? std::string(doc->GetString(), doc->GetStringLength())
                                  : entry_json;
  return "{\"timestamp\":" + json_quote(format_iso8601(wall_clock_ms())) +
         ",\"level\":\"INFO\",\"requestId\":" + json_quote(request_id) +
         ",\"message\":" + json_quote(message) + "}";
}

}  // namespace

ConcurrentInvocations::ConcurrentInvocations(int invokes, int concurrency,
                                             std::vector<std::string> log_records_json)
    : invokes_(std::max(invokes, 0)),
      log_records_json_(std::move(log_records_json)),
      slots_(static_cast<size_t>(std::max(concurrency, 1))) {}

bool ConcurrentInvocations::done() const {
  if (static_cast<int>(request_ids_.size()) < invokes_) return false;
  return std::none_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.active; });
}

std::vector<std::string> ConcurrentInvocations::next_round() {
  std::vector<std::string> round;
  for (auto& slot : slots_) {
    if (!slot.active) {
      if (static_cast<int>(request_ids_.size()) >= invokes_) continue;
      slot = Slot{random_uuid(), 0, wall_clock_ms(), true};
      request_ids_.push_back(slot.request_id);
    }
    round.push_back(record_for(slot));
  }
  return round;
}

std::string ConcurrentInvocations::record_for(Slot& slot) const {
  const size_t logs = log_records_json_.size();
  const size_t index = slot.next++;
  if (index == 0) return TelemetryEmulator::start_record(slot.request_id);
  if (index <= logs) {
    return TelemetryEmulator::record("function",
                                     json_log_line(log_records_json_[index - 1], slot.request_id));
  }
  slot.active = false;
  const int64_t duration = wall_clock_ms() - slot.started_ms;
  // Managed Instances' report carries durationMs only: billing is per instance [RIE].
  return TelemetryEmulator::record("platform.report",
                                   "{\"requestId\":" + json_quote(slot.request_id) +
                                       ",\"status\":\"success\",\"metrics\":{\"durationMs\":" +
                                       std::to_string(duration) + "},\"spans\":[]}");
}

}  // namespace extension_runner
