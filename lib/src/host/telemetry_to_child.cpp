#include "extension_runner/host/telemetry_to_child.hpp"

#include <atomic>

#include "extension_runner/core/clock.hpp"

namespace extension_runner {

BatchSink make_child_telemetry_sink(std::shared_ptr<Dispatcher> dispatcher, int64_t child_budget_ms,
                                    std::string id_prefix) {
  auto sequence = std::make_shared<std::atomic<uint64_t>>(0);
  return [dispatcher = std::move(dispatcher), sequence, child_budget_ms,
          id_prefix = std::move(id_prefix)](const std::string& event_json, int64_t deadline_ms) {
    InvokeRequest request;
    request.context.aws_request_id = id_prefix + "-" + std::to_string(++*sequence);
    request.event_json = event_json;
    // Records are JSON the listener validated; without a line break the event is one protocol
    // line as it is, and re-serialising 1,000 records cost as much as receiving them.
    request.event_compact = event_json.find_first_of("\r\n") == std::string::npos;
    auto reply = dispatcher->submit_with_budget(std::move(request), child_budget_ms)
                     .wait_until(steady_deadline(deadline_ms));
    return reply && reply->ok() && !reply->value().errors;
  };
}

}  // namespace extension_runner
