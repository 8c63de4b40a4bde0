#include "extension_runner/telemetry/flush_strategy.hpp"

namespace extension_runner {

bool adaptive_prefers_periodic(const std::deque<int64_t>& starts_ms) {
  const size_t n = starts_ms.size();
  if (n < kAdaptiveWindow) return false;
  const int64_t span = starts_ms.back() - starts_ms.front();
  const int64_t latest = starts_ms.back() - starts_ms[n - 2];
  return span <= kAdaptiveMaxIntervalMs * static_cast<int64_t>(n - 1) &&
         latest <= kAdaptiveMaxIntervalMs;
}

bool FlushStrategy::should_wait(int64_t now_ms) {
  switch (mode_) {
    case FlushMode::Invoke:
      return true;
    case FlushMode::Periodic:
      return false;
    case FlushMode::Adaptive:
      starts_ms_.push_back(now_ms);
      while (starts_ms_.size() > kAdaptiveWindow) starts_ms_.pop_front();
      return !adaptive_prefers_periodic(starts_ms_);
  }
  return true;
}

}  // namespace extension_runner
