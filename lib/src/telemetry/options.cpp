#include "extension_runner/telemetry/options.hpp"

#include <algorithm>

namespace extension_runner {

const char* flush_mode_name(FlushMode mode) {
  switch (mode) {
    case FlushMode::Invoke:
      return "invoke";
    case FlushMode::Periodic:
      return "periodic";
    case FlushMode::Adaptive:
      return "adaptive";
  }
  return "adaptive";
}

std::string TelemetryOptions::effective_schema() const {
  if (!schema.empty()) return schema;
  // 2025-01-29 is what Managed Instances require and is backward compatible on the standard
  // platform [TEL]: one default for both (and the TCP destination form's schema).
  return mode == TelemetryMode::Logs ? kLogsSchema : kTelemetrySchema;
}

bool TelemetryOptions::subscribes_to(const std::string& type) const {
  return std::find(types.begin(), types.end(), type) != types.end();
}

bool TelemetryOptions::flush_may_wait(bool receives_invokes) const {
  if (mode == TelemetryMode::Off || !receives_invokes) return false;
  if (flush != FlushMode::Invoke && flush != FlushMode::Adaptive) return false;
  return subscribes_to("platform");
}

}  // namespace extension_runner
