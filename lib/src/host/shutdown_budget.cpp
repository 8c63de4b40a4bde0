#include "extension_runner/host/shutdown_budget.hpp"

#include <algorithm>

namespace extension_runner {

ShutdownBudget ShutdownBudget::split(int64_t deadline_ms, int64_t now_ms, bool has_child,
                                     bool has_proxy) {
  const int64_t remaining = std::max<int64_t>(deadline_ms - now_ms, 0);
  const int64_t safety = std::min<int64_t>(300, remaining / 5);
  const int64_t child_exit = has_child ? std::min<int64_t>(500, remaining / 4) : 0;
  const int64_t child_request = has_child ? std::min<int64_t>(500, remaining / 4) : 0;
  ShutdownBudget budget;
  budget.deadline_ms = deadline_ms;
  budget.child_exit_until_ms = deadline_ms - safety;
  budget.child_request_until_ms = budget.child_exit_until_ms - child_exit;
  budget.telemetry_until_ms = budget.child_request_until_ms - child_request;
  const int64_t drains = std::max<int64_t>(budget.telemetry_until_ms - now_ms, 0);
  budget.proxy_until_ms = now_ms + (has_proxy ? std::min<int64_t>(300, drains / 4) : 0);
  return budget;
}

}  // namespace extension_runner
