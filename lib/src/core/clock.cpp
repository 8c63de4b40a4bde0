#include "extension_runner/core/clock.hpp"

#include <cstdio>
#include <ctime>

namespace extension_runner {

int64_t wall_clock_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string format_iso8601(int64_t epoch_ms) {
  const auto seconds = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(epoch_ms % 1000));
  return buffer;
}

std::chrono::steady_clock::time_point steady_deadline(int64_t deadline_epoch_ms) {
  const int64_t left = ms_until(deadline_epoch_ms);
  return std::chrono::steady_clock::now() + std::chrono::milliseconds(left > 0 ? left : 0);
}

int64_t ms_until(int64_t deadline_epoch_ms) { return deadline_epoch_ms - wall_clock_ms(); }

}  // namespace extension_runner
