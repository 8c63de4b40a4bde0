#pragma once
/**
 * @file managed_instances.hpp
 * The concurrency model of Lambda Managed Instances for the emulator [LMI][RIE]: one
 * environment runs several invocations at once and is never frozen, there are no INVOKE events,
 * and each invocation shows only in telemetry: `platform.start`, its `function` log lines and
 * `platform.report` (no `platform.runtimeDone`), interleaved with the other invocations'.
 */
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace extension_runner {

/**
 * Plays `invokes` invocations with at most `concurrency` in flight, as telemetry records. Each
 * round yields one record of every invocation in flight, in slot order, so records of
 * concurrent invocations interleave; a slot whose invocation ended starts the next one in the
 * following round. Per invocation, in order: `platform.start`, one `function` record per
 * entry of `log_records_json`, `platform.report` (`status`, `metrics.durationMs` measured from
 * its start, `spans`). `function` records are JSON objects, as with the JSON log format that
 * Managed Instances default to: a string entry becomes `{"timestamp","level":"INFO",
 * "requestId","message"}`, an object entry gets `requestId` if it lacks one. Not thread-safe.
 */
class ConcurrentInvocations {
 public:
  ConcurrentInvocations(int invokes, int concurrency, std::vector<std::string> log_records_json);

  /** The next round's records (compact JSON `{"time","type","record"}`); empty once done. */
  std::vector<std::string> next_round();
  bool done() const;
  /** Request ids of the invocations started so far, in start order. */
  const std::vector<std::string>& request_ids() const { return request_ids_; }
  /** Records per invocation (start + logs + report). */
  size_t records_per_invocation() const { return log_records_json_.size() + 2; }

 private:
  struct Slot {
    std::string request_id;
    size_t next = 0;  ///< 0 = start, 1..logs = log lines, logs+1 = report.
    int64_t started_ms = 0;
    bool active = false;
  };
  std::string record_for(Slot& slot) const;

  int invokes_;
  std::vector<std::string> log_records_json_;
  std::vector<Slot> slots_;
  std::vector<std::string> request_ids_;
};

}  // namespace extension_runner
