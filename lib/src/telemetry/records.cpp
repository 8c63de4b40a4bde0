#include "extension_runner/telemetry/records.hpp"

#include "extension_runner/core/json.hpp"

namespace extension_runner {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// One pass over the body: RapidJSON's reader (through parse_json_events, so with every check of
// parse_json) feeds this handler, which keeps each element's byte range and the four fields the
// queue needs, and never builds a DOM. What it extracts is what the DOM lookups gave before: the
// FIRST member of a name counts (FindMember), whatever its type, and `record.requestId` /
// `record.droppedRecords` only directly inside the element's first `record` member.
// A shape error (root not an array, an element not an object) is noted and the parse goes on,
// so a body that is not JSON at all still reports the JSON error, as the DOM parse did.
// NOLINTBEGIN(readability-identifier-naming): RapidJSON's SAX handler interface names these.
class BatchHandler {
 public:
  BatchHandler(std::string_view body, const rapidjson::MemoryStream& stream)
      : body_(body), stream_(stream) {}

  bool Null() { return scalar(); }
  bool Bool(bool /*b*/) { return scalar(); }
  bool Int64(int64_t i) {
    if (begin_value(Kind::Scalar) == Field::DroppedRecords) dropped_ = i;
    return true;
  }
  bool Uint64(uint64_t /*u*/) { return scalar(); }  // beyond int64: not a count (json_int64)
  bool Double(double d) {
    if (begin_value(Kind::Scalar) == Field::DroppedRecords) dropped_ = exact_int64(d);
    return true;
  }
  bool String(const char* s, rapidjson::SizeType n, bool /*copy*/) {
    switch (begin_value(Kind::Scalar)) {
      case Field::Time:
        record_.time.assign(s, n);
        break;
      case Field::Type:
        record_.type.assign(s, n);
        break;
      case Field::RequestId:
        record_.request_id.assign(s, n);
        break;
      default:
        break;
    }
    return true;
  }
  bool Key(const char* s, rapidjson::SizeType n, bool /*copy*/) {
    const std::string_view key(s, n);
    if (depth_ == 2) {
      if (key == "time") {
        pending_ = first(Seen::Time);
      } else if (key == "type") {
        pending_ = first(Seen::Type);
      } else if (key == "record") {
        pending_ = first(Seen::Record);
      }
    } else if (depth_ == 3 && in_record_) {
      if (key == "requestId") {
        pending_ = first(Seen::RequestId);
      } else if (key == "droppedRecords") {
        pending_ = first(Seen::DroppedRecords);
      }
    }
    return true;
  }
  bool StartObject() {
    const Field field = begin_value(Kind::Object);
    ++depth_;
    if (failed()) return true;
    if (depth_ == 2) {
      start_ = stream_.Tell() - 1;  // just past the '{'
      record_ = TelemetryRecord{};
      seen_ = 0;
      dropped_.reset();
    } else if (depth_ == 3 && field == Field::Record) {
      in_record_ = true;
    }
    return true;
  }
  bool EndObject(rapidjson::SizeType /*members*/) {
    if (depth_ == 3) in_record_ = false;
    if (depth_ == 2 && !failed()) {
      record_.raw.assign(body_.data() + start_, stream_.Tell() - start_);  // through the '}'
      if (record_.type == "platform.logsDropped") record_.dropped_records = dropped_.value_or(0);
      records_.push_back(std::move(record_));
    }
    --depth_;
    return true;
  }
  bool StartArray() {
    begin_value(Kind::Array);
    ++depth_;
    return true;
  }
  bool EndArray(rapidjson::SizeType /*elements*/) {
    --depth_;
    return true;
  }

  /** The shape error, if any (checked after the JSON itself was found valid). */
  const std::optional<std::string>& shape_error() const { return shape_error_; }
  std::vector<TelemetryRecord> take_records() { return std::move(records_); }

 private:
  enum class Kind { Scalar, Object, Array };
  enum class Field { None, Time, Type, Record, RequestId, DroppedRecords };
  enum Seen : unsigned { Time = 1, Type = 2, Record = 4, RequestId = 8, DroppedRecords = 16 };

  bool failed() const { return shape_error_.has_value(); }
  bool scalar() {
    begin_value(Kind::Scalar);
    return true;
  }
  // The field a member name selects, only at its first occurrence in its object.
  Field first(Seen which) {
    if ((seen_ & which) != 0) return Field::None;
    seen_ |= which;
    switch (which) {
      case Seen::Time:
        return Field::Time;
      case Seen::Type:
        return Field::Type;
      case Seen::Record:
        return Field::Record;
      case Seen::RequestId:
        return Field::RequestId;
      case Seen::DroppedRecords:
        return Field::DroppedRecords;
    }
    return Field::None;
  }
  // Every value starts here, at the depth of its container: checks the shape and returns (and
  // clears) the field the preceding key selected. Values nested deeper never see a pending
  // field: the key's own value is always the very next event.
  Field begin_value(Kind kind) {
    if (failed()) return Field::None;
    if (depth_ == 0 && kind != Kind::Array) {
      shape_error_ = "telemetry batch is not a JSON array";
      return Field::None;
    }
    if (depth_ == 1 && kind != Kind::Object) {
      shape_error_ =
          "telemetry record " + std::to_string(records_.size()) + " is not a JSON object";
      return Field::None;
    }
    const Field field = pending_;
    pending_ = Field::None;
    return field;
  }

  std::string_view body_;
  const rapidjson::MemoryStream& stream_;
  std::vector<TelemetryRecord> records_;
  TelemetryRecord record_;  // the element being read
  size_t start_ = 0;        // its first byte
  std::optional<int64_t> dropped_;
  unsigned seen_ = 0;  // Seen bits of the element and of its record object
  Field pending_ = Field::None;
  int depth_ = 0;  // 1 inside the batch array, 2 inside an element, 3 inside its members
  bool in_record_ = false;
  std::optional<std::string> shape_error_;
};
// NOLINTEND(readability-identifier-naming)

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
  // Its own scan, not the parser's: this one sees bodies nobody validated yet, so it
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
  // A bare MemoryStream, as parse_json uses: offsets must be those of the body's own bytes.
  rapidjson::MemoryStream stream(body.data(), body.size());
  BatchHandler handler(body, stream);
  if (auto parsed = parse_json_events(stream, handler); !parsed) {
    return make_error(ErrorKind::InvalidInput, parsed.error().message);
  }
  if (handler.shape_error()) return make_error(ErrorKind::InvalidInput, *handler.shape_error());
  return handler.take_records();
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
