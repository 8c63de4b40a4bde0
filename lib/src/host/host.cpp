#include "extension_runner/host/host.hpp"

#include <malloc.h>

#include <atomic>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/host/child_handler.hpp"
#include "extension_runner/host/telemetry_handler.hpp"

namespace extension_runner {
namespace {

// How long the child may work on one TELEMETRY batch once it starts it.
constexpr int64_t kChildBatchBudgetMs = 5000;
// A batch may wait behind an INVOKE as long as a function may run (15 minutes), so telemetry
// is not dropped just because the child was busy; the shutdown deadline caps it.
constexpr int64_t kBatchWaitMs = int64_t{15} * 60 * 1000;

}  // namespace

BatchSink make_dispatcher_sink(std::shared_ptr<Dispatcher> dispatcher, int64_t child_budget_ms) {
  auto sequence = std::make_shared<std::atomic<uint64_t>>(0);
  return [dispatcher = std::move(dispatcher), sequence, child_budget_ms](
             const std::string& event_json, int64_t deadline_ms) {
    InvokeRequest request;
    request.context.aws_request_id = "telemetry-" + std::to_string(++*sequence);
    request.event_json = event_json;
    // Records are JSON the listener validated; without a line break the event is one protocol
    // line as it is, and re-serialising 1,000 records cost as much as receiving them.
    request.event_compact = event_json.find_first_of("\r\n") == std::string::npos;
    auto reply = dispatcher->submit_with_budget(std::move(request), child_budget_ms)
                     .wait_until(steady_deadline(deadline_ms));
    return reply && reply->ok() && !reply->value().errors;
  };
}

std::unique_ptr<EventHandler> make_host_handler(const Config& config, const std::string& mode,
                                                ReplyObserver observer) {
#ifdef M_ARENA_MAX
  if (config.telemetry.mode != TelemetryMode::Off) {
    // In Lambda, before any thread of ours exists (arenas are made per thread on first use;
    // under `emulate` the emulator's threads have made theirs already, and the host's threads
    // then share the arenas that exist: the bound is for the Lambda case). Records are
    // allocated on the listener's worker threads and freed on the delivery thread; memory freed
    // in one arena is reused only by the threads of that arena, so with two arenas the queue's
    // footprint split between them and their peaks added up, differently in each run (with
    // which worker parsed what): up to queue bytes + 7 MB under 8 concurrent posters. One arena
    // ends that, at no CPU cost measured (the workers parse one body each; bench/README.md).
    // A fixed mmap threshold (which also ends glibc's dynamic one, raised to the size of the
    // first large block freed): blocks of 256 KiB and more (Lambda's largest batch, the
    // TELEMETRY events) are mapped, and unmapped when freed, rather than left as holes between
    // long-lived records; 64 KiB saved another ~0.3 MB but cost ~20 % of the listener's CPU in
    // page faults. (README, Telemetry, Memory.)
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    mallopt(M_TRIM_THRESHOLD, 256 * 1024);
  }
#endif
  if (config.runner.command.empty()) {
    auto inner = make_stdout_handler();
    if (config.telemetry.mode == TelemetryMode::Off) return inner;
    return make_telemetry_handler(std::move(inner), make_no_child_sink(config.telemetry));
  }
  auto dispatcher = std::make_shared<Dispatcher>(std::move(observer));
  auto inner = make_runner_handler(config, mode, dispatcher);
  if (config.telemetry.mode == TelemetryMode::Off) return inner;
  ForwarderOptions options;
  options.delivery_timeout_ms = kBatchWaitMs;
  return make_telemetry_handler(
      std::move(inner), make_dispatcher_sink(std::move(dispatcher), kChildBatchBudgetMs), options);
}

}  // namespace extension_runner
