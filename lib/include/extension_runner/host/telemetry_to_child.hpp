#pragma once
/**
 * @file telemetry_to_child.hpp
 * Where TELEMETRY events go when there is a child: into the child's Dispatcher, queued behind
 * the lifecycle's requests.
 */
#include <cstdint>
#include <memory>
#include <string>

#include "extension_runner/runner/dispatcher.hpp"
#include "extension_runner/telemetry/forwarder.hpp"

namespace extension_runner {

/** How long the child may work on one TELEMETRY batch once it starts it. */
inline constexpr int64_t kChildBatchBudgetMs = 5000;

/**
 * A BatchSink that hands each TELEMETRY (or MESSAGES) event to the child through `dispatcher`,
 * as a request whose id is `<id_prefix>-<n>`. The child gets
 * `child_budget_ms` from when the batch starts; the sink waits for the reply until the
 * forwarder's deadline. True when the child replied without `errors`.
 */
BatchSink make_child_telemetry_sink(std::shared_ptr<Dispatcher> dispatcher,
                                    int64_t child_budget_ms = kChildBatchBudgetMs,
                                    std::string id_prefix = "telemetry");

}  // namespace extension_runner
