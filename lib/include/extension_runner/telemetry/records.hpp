#pragma once
/**
 * @file records.hpp
 * Telemetry API / Logs API records [TEL schema][LOGS]: a POSTed batch is a JSON array of
 * `{"time": ISO-8601, "type": string, "record": object|string}`.
 *
 * A parsed record keeps its JSON text exactly as it arrived, so it can be passed through to
 * the child untouched, plus the few fields the host itself needs (type, requestId,
 * droppedRecords). Typed views of every documented record type are built on demand by
 * view_record().
 */
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "extension_runner/core/result.hpp"

namespace extension_runner {

/** One element of a POSTed batch. */
struct TelemetryRecord {
  std::string raw;         ///< The element's JSON text, byte for byte as received.
  std::string time;        ///< `time`, "" when absent.
  std::string type;        ///< `type`, "" when absent (e.g. `platform.report`, `function`).
  std::string request_id;  ///< `record.requestId` when record is an object holding one, else "".
  int64_t dropped_records = 0;  ///< `record.droppedRecords` of a `platform.logsDropped`, else 0.

  /**
   * Bytes this record holds in memory (the struct, its strings' heap blocks with malloc's
   * overhead): what the queue's byte capacity counts, so that capacity bounds the memory.
   */
  size_t size() const;
  /** `platform.runtimeDone` or `platform.report`: marks the end of an invocation's telemetry. */
  bool ends_invocation() const;
};

/**
 * Parses one POSTed body. InvalidInput when it is not JSON, not an array, or an element is not
 * an object (the schema has no other element shape). An empty array is a valid, empty batch.
 * One pass with the checks of parse_json (its error text when the body is not JSON); a field is
 * taken from the first member of its name, as a DOM lookup would (`requestId` and
 * `droppedRecords` only directly inside the element's `record` object).
 */
Result<std::vector<TelemetryRecord>> parse_telemetry_batch(std::string_view body);

/**
 * How many elements a batch body holds, by a scan without parsing (for a pushback decision
 * before paying for the parse). Meaningful for bodies parse_telemetry_batch accepts.
 */
size_t count_batch_elements(std::string_view body);

/**
 * count_batch_elements over a body that arrives in pieces: feed() each piece in order, any
 * split; count() then equals count_batch_elements of the whole. Holds no bytes of the body, so
 * a refused body can be counted as it is read and thrown away.
 */
class BatchElementCounter {
 public:
  BatchElementCounter& feed(std::string_view chunk);
  size_t count() const { return count_; }

 private:
  enum class Phase { Leading, Inside, Done };
  void element();

  Phase phase_ = Phase::Leading;
  size_t count_ = 0;
  int depth_ = 0;
  bool in_string_ = false, escaped_ = false, in_element_ = false;
};

/** `spans[]` entry: a named sub-phase [TEL schema `Span`]. */
struct Span {
  std::string name;   ///< e.g. `responseLatency`, `responseDuration`, `runtimeOverhead`.
  std::string start;  ///< ISO-8601.
  double duration_ms = 0;
};

/** `tracing` [TEL schema `TraceContext`]. */
struct TraceContext {
  std::string span_id;  ///< Optional in the schema: "" when absent.
  std::string type;     ///< `X-Amzn-Trace-Id`.
  std::string value;
};

/** `platform.initStart`. */
struct InitStartRecord {
  std::string initialization_type;  ///< `on-demand`, `provisioned-concurrency`, `snap-start`.
  std::string phase;                ///< `init` or `invoke`.
  std::optional<std::string> runtime_version;
  std::optional<std::string> runtime_version_arn;
  std::optional<std::string> function_name;
  std::optional<std::string> function_version;
};

/** `platform.initRuntimeDone`. */
struct InitRuntimeDoneRecord {
  std::string initialization_type;
  std::optional<std::string> phase;
  std::string status;  ///< `success`, `failure`, `error`, `timeout`.
  std::optional<std::string> error_type;
  std::vector<Span> spans;
};

/** `platform.initReport`. */
struct InitReportRecord {
  std::string initialization_type;
  std::string phase;
  std::string status;
  std::optional<std::string> error_type;
  double duration_ms = 0;  ///< `metrics.durationMs`.
  std::vector<Span> spans;
};

/** `platform.start` (Telemetry API) and `platform.start` / `platform.end` (Logs API). */
struct StartRecord {
  std::string request_id;
  std::optional<std::string> version;
  std::optional<TraceContext> tracing;
};

/** `platform.runtimeDone` `metrics`. */
struct RuntimeDoneMetrics {
  double duration_ms = 0;
  std::optional<int64_t> produced_bytes;
};

/** `platform.runtimeDone`: the runtime finished the invocation (sent after its response). */
struct RuntimeDoneRecord {
  std::string request_id;
  std::string status;
  std::optional<std::string> error_type;
  std::optional<RuntimeDoneMetrics> metrics;
  std::vector<Span> spans;
  std::optional<TraceContext> tracing;
};

/** `platform.report` `metrics`. */
struct ReportMetrics {
  double duration_ms = 0;
  int64_t billed_duration_ms = 0;
  int64_t memory_size_mb = 0;
  int64_t max_memory_used_mb = 0;
  std::optional<double> init_duration_ms;
  std::optional<double> restore_duration_ms;
};

/** `platform.report`: the last record of an invocation. */
struct ReportRecord {
  std::string request_id;
  std::string status;  ///< "" under the 2022-07-01 and Logs API schemas.
  std::optional<std::string> error_type;
  ReportMetrics metrics;
  std::vector<Span> spans;
  std::optional<TraceContext> tracing;
};

/** `platform.restoreStart` (SnapStart). */
struct RestoreStartRecord {
  std::optional<std::string> runtime_version;
  std::optional<std::string> runtime_version_arn;
  std::optional<std::string> function_name;
  std::optional<std::string> function_version;
};

/** `platform.restoreRuntimeDone` and `platform.restoreReport` (the latter has `metrics`). */
struct RestoreDoneRecord {
  std::string status;
  std::optional<std::string> error_type;
  std::optional<double> duration_ms;  ///< `metrics.durationMs` (restoreReport only).
  std::vector<Span> spans;
};

/** `platform.extension`: an extension's registration state. */
struct ExtensionStateRecord {
  std::string name;
  std::string state;
  std::vector<std::string> events;
  std::optional<std::string> error_type;
};

/** `platform.telemetrySubscription` / `platform.logsSubscription`. */
struct SubscriptionRecord {
  std::string name;
  std::string state;
  std::vector<std::string> types;
};

/** `platform.logsDropped`: Lambda dropped records because a consumer was too slow [TEL]. */
struct LogsDroppedRecord {
  std::string reason;
  int64_t dropped_records = 0;
  int64_t dropped_bytes = 0;
};

/** `platform.fault` (record is a string) [LOGS]. */
struct FaultRecord {
  std::string text;
};

/**
 * `function` / `extension`: a log line that is a **string** or, with JSON log format, an
 * **object** [TEL schema]. Both are kept: `text` is the string, or the object's compact JSON.
 */
struct LogLineRecord {
  bool is_object = false;
  std::string text;
  std::optional<std::string> message;     ///< Object key `message`.
  std::optional<std::string> level;       ///< Object key `level`.
  std::optional<std::string> request_id;  ///< Object key `requestId`.
};

/** Any other type: only the raw text is meaningful. */
struct UnknownRecord {};

using RecordView = std::variant<InitStartRecord, InitRuntimeDoneRecord, InitReportRecord,
                                StartRecord, RuntimeDoneRecord, ReportRecord, RestoreStartRecord,
                                RestoreDoneRecord, ExtensionStateRecord, SubscriptionRecord,
                                LogsDroppedRecord, FaultRecord, LogLineRecord, UnknownRecord>;

/**
 * The typed view of a record, chosen by its `type`. Missing or mistyped fields take their
 * defaults (the host never rejects a record for its content); InvalidInput only when `raw` is
 * not a JSON object, or `record` has the wrong JSON kind for the type (e.g. a string
 * `platform.report`).
 */
Result<RecordView> view_record(const TelemetryRecord& record);

}  // namespace extension_runner
