#include "extension_runner/telemetry/records.hpp"

#include "extension_runner/core/json.hpp"

namespace extension_runner {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// RapidJSON's DOM does not keep source offsets, so the element boundaries are found by a
// second, trivial scan. It only runs on text RapidJSON has already accepted, so it needs
// to know nothing but strings (with escapes) and bracket nesting.
std::vector<std::string_view> split_array_elements(std::string_view text) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < text.size() && is_space(text[i])) ++i;
  ++i;  // '['
  while (i < text.size()) {
    while (i < text.size() && (is_space(text[i]) || text[i] == ',')) ++i;
    if (i >= text.size() || text[i] == ']') break;
    const size_t start = i;
    int depth = 0;
    bool in_string = false;
    for (; i < text.size(); ++i) {
      const char c = text[i];
      if (in_string) {
        if (c == '\\') {
          ++i;
        } else if (c == '"') {
          in_string = false;
          if (depth == 0) {
            ++i;
            break;
          }
        }
        continue;
      }
      if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (depth == 0) break;  // the closing bracket of the outer array
        if (--depth == 0) {
          ++i;
          break;
        }
      } else if (depth == 0 && (c == ',' || is_space(c))) {
        break;
      }
    }
    out.push_back(text.substr(start, i - start));
  }
  return out;
}

std::optional<double> json_double(const rapidjson::Value& v, const char* key) {
  const auto* m = json_member(v, key);
  if (m == nullptr || !m->IsNumber()) return std::nullopt;
  return m->GetDouble();
}

std::string str(const rapidjson::Value& v, const char* key) {
  return json_string(v, key).value_or("");
}

std::vector<std::string> strings(const rapidjson::Value& v, const char* key) {
  std::vector<std::string> out;
  const auto* m = json_member(v, key);
  if (m == nullptr || !m->IsArray()) return out;
  for (const auto& e : m->GetArray()) {
    if (e.IsString()) out.emplace_back(e.GetString(), e.GetStringLength());
  }
  return out;
}

std::vector<Span> spans(const rapidjson::Value& v) {
  std::vector<Span> out;
  const auto* m = json_member(v, "spans");
  if (m == nullptr || !m->IsArray()) return out;
  for (const auto& e : m->GetArray()) {
    out.push_back(Span{str(e, "name"), str(e, "start"), json_double(e, "durationMs").value_or(0)});
  }
  return out;
}

std::optional<TraceContext> tracing(const rapidjson::Value& v) {
  const auto* m = json_member(v, "tracing");
  if (m == nullptr || !m->IsObject()) return std::nullopt;
  return TraceContext{str(*m, "spanId"), str(*m, "type"), str(*m, "value")};
}

const rapidjson::Value& metrics_of(const rapidjson::Value& v) {
  static const rapidjson::Value kEmpty(rapidjson::kObjectType);
  const auto* m = json_member(v, "metrics");
  return (m != nullptr && m->IsObject()) ? *m : kEmpty;
}

RecordView view_object(const std::string& type, const rapidjson::Value& r) {
  if (type == "platform.initStart") {
    return InitStartRecord{str(r, "initializationType"),     str(r, "phase"),
                           json_string(r, "runtimeVersion"), json_string(r, "runtimeVersionArn"),
                           json_string(r, "functionName"),   json_string(r, "functionVersion")};
  }
  if (type == "platform.initRuntimeDone") {
    return InitRuntimeDoneRecord{str(r, "initializationType"), json_string(r, "phase"),
                                 str(r, "status"), json_string(r, "errorType"), spans(r)};
  }
  if (type == "platform.initReport") {
    return InitReportRecord{str(r, "initializationType"),
                            str(r, "phase"),
                            str(r, "status"),
                            json_string(r, "errorType"),
                            json_double(metrics_of(r), "durationMs").value_or(0),
                            spans(r)};
  }
  if (type == "platform.start" || type == "platform.end") {
    return StartRecord{str(r, "requestId"), json_string(r, "version"), tracing(r)};
  }
  if (type == "platform.runtimeDone") {
    std::optional<RuntimeDoneMetrics> metrics;
    if (const auto* m = json_member(r, "metrics"); m != nullptr && m->IsObject()) {
      metrics = RuntimeDoneMetrics{json_double(*m, "durationMs").value_or(0),
                                   json_int64(*m, "producedBytes")};
    }
    return RuntimeDoneRecord{
        str(r, "requestId"), str(r, "status"), json_string(r, "errorType"), metrics, spans(r),
        tracing(r)};
  }
  if (type == "platform.report") {
    const auto& m = metrics_of(r);
    ReportMetrics metrics{
        json_double(m, "durationMs").value_or(0),  json_int64(m, "billedDurationMs").value_or(0),
        json_int64(m, "memorySizeMB").value_or(0), json_int64(m, "maxMemoryUsedMB").value_or(0),
        json_double(m, "initDurationMs"),          json_double(m, "restoreDurationMs")};
    return ReportRecord{
        str(r, "requestId"), str(r, "status"), json_string(r, "errorType"), metrics, spans(r),
        tracing(r)};
  }
  if (type == "platform.restoreStart") {
    return RestoreStartRecord{json_string(r, "runtimeVersion"), json_string(r, "runtimeVersionArn"),
                              json_string(r, "functionName"), json_string(r, "functionVersion")};
  }
  if (type == "platform.restoreRuntimeDone" || type == "platform.restoreReport") {
    std::optional<double> duration;
    if (type == "platform.restoreReport") duration = json_double(metrics_of(r), "durationMs");
    return RestoreDoneRecord{str(r, "status"), json_string(r, "errorType"), duration, spans(r)};
  }
  if (type == "platform.extension") {
    return ExtensionStateRecord{str(r, "name"), str(r, "state"), strings(r, "events"),
                                json_string(r, "errorType")};
  }
  if (type == "platform.telemetrySubscription" || type == "platform.logsSubscription") {
    return SubscriptionRecord{str(r, "name"), str(r, "state"), strings(r, "types")};
  }
  if (type == "platform.logsDropped") {
    return LogsDroppedRecord{str(r, "reason"), json_int64(r, "droppedRecords").value_or(0),
                             json_int64(r, "droppedBytes").value_or(0)};
  }
  return UnknownRecord{};
}

bool is_platform_object_type(const std::string& type) {
  static const char* const kTypes[] = {"platform.initStart",
                                       "platform.initRuntimeDone",
                                       "platform.initReport",
                                       "platform.start",
                                       "platform.end",
                                       "platform.runtimeDone",
                                       "platform.report",
                                       "platform.restoreStart",
                                       "platform.restoreRuntimeDone",
                                       "platform.restoreReport",
                                       "platform.extension",
                                       "platform.telemetrySubscription",
                                       "platform.logsSubscription",
                                       "platform.logsDropped"};
  for (const char* t : kTypes) {
    if (type == t) return true;
  }
  return false;
}

bool is_log_line_type(const std::string& type) { return type == "function" || type == "extension"; }

}  // namespace

size_t TelemetryRecord::size() const {
  // A string's own buffer lives on the heap only beyond the small-string capacity (15 in
  // libstdc++); malloc adds about 16 bytes to each block, the queue's deque ~16 per element.
  const auto heap = [](const std::string& s) {
    return s.capacity() > 15 ? s.capacity() + 1 + 16 : size_t{0};
  };
  return sizeof(TelemetryRecord) + 16 + heap(raw) + heap(time) + heap(type) + heap(request_id);
}

BatchElementCounter& BatchElementCounter::feed(std::string_view chunk) {
  // Its own scan, not split_array_elements: this one sees bodies nobody validated yet, so it
  // must make progress on any byte (and on a body cut anywhere into chunks).
  for (const char c : chunk) {
    if (phase_ == Phase::Leading) {
      if (is_space(c)) continue;
      phase_ = c == '[' ? Phase::Inside : Phase::Done;
      continue;
    }
    if (phase_ == Phase::Done) break;
    if (in_string_) {
      if (escaped_) {
        escaped_ = false;
      } else if (c == '\\') {
        escaped_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
    } else if (c == '"') {
      element();
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      element();
      ++depth_;
    } else if (c == '}' || c == ']') {
      if (depth_ == 0) {
        phase_ = Phase::Done;
      } else {
        --depth_;
      }
    } else if (depth_ == 0 && c == ',') {
      in_element_ = false;
    } else if (!is_space(c)) {
      element();
    }
  }
  return *this;
}

void BatchElementCounter::element() {
  if (depth_ == 0 && !in_element_) {
    in_element_ = true;
    ++count_;
  }
}

size_t count_batch_elements(std::string_view body) {
  return BatchElementCounter().feed(body).count();
}

bool TelemetryRecord::ends_invocation() const {
  return type == "platform.runtimeDone" || type == "platform.report";
}

Result<std::vector<TelemetryRecord>> parse_telemetry_batch(std::string_view body) {
  auto doc = parse_json(body);
  if (!doc) return make_error(ErrorKind::InvalidInput, doc.error().message);
  if (!doc->IsArray()) {
    return make_error(ErrorKind::InvalidInput, "telemetry batch is not a JSON array");
  }
  const auto texts = split_array_elements(body);
  const auto& array = doc->GetArray();
  if (texts.size() != array.Size()) {
    return make_error(ErrorKind::InvalidInput, "telemetry batch could not be split into records");
  }
  std::vector<TelemetryRecord> records;
  records.reserve(texts.size());
  for (rapidjson::SizeType i = 0; i < array.Size(); ++i) {
    const auto& e = array[i];
    if (!e.IsObject()) {
      return make_error(ErrorKind::InvalidInput,
                        "telemetry record " + std::to_string(i) + " is not a JSON object");
    }
    TelemetryRecord record;
    record.raw = std::string(texts[i]);
    record.time = str(e, "time");
    record.type = str(e, "type");
    if (const auto* r = json_member(e, "record"); r != nullptr && r->IsObject()) {
      record.request_id = str(*r, "requestId");
      if (record.type == "platform.logsDropped") {
        record.dropped_records = json_int64(*r, "droppedRecords").value_or(0);
      }
    }
    records.push_back(std::move(record));
  }
  return records;
}

Result<RecordView> view_record(const TelemetryRecord& record) {
  auto doc = parse_json(record.raw);
  if (!doc) return make_error(ErrorKind::InvalidInput, doc.error().message);
  if (!doc->IsObject()) return make_error(ErrorKind::InvalidInput, "record is not a JSON object");
  const auto type = str(*doc, "type");
  const auto* r = json_member(*doc, "record");
  if (is_log_line_type(type) || type == "platform.fault") {
    if (r != nullptr && r->IsString()) {
      std::string text(r->GetString(), r->GetStringLength());
      if (type == "platform.fault") return RecordView{FaultRecord{std::move(text)}};
      LogLineRecord line;
      line.text = std::move(text);
      return RecordView{std::move(line)};
    }
    if (r != nullptr && r->IsObject() && is_log_line_type(type)) {
      LogLineRecord line;
      line.is_object = true;
      line.text = to_json(*r);
      line.message = json_string(*r, "message");
      line.level = json_string(*r, "level");
      line.request_id = json_string(*r, "requestId");
      return RecordView{std::move(line)};
    }
    return make_error(
        ErrorKind::InvalidInput,
        type + " record must be a string" + (type == "platform.fault" ? "" : " or an object"));
  }
  if (r == nullptr || !r->IsObject()) {
    if (!is_platform_object_type(type)) return RecordView{UnknownRecord{}};
    return make_error(ErrorKind::InvalidInput, type + " record must be an object");
  }
  return view_object(type, *r);
}

}  // namespace extension_runner
