// load_config (config.hpp) with fuzzed values: the environment and flags are operator input.
// Input: up to 6 `\n`-separated entries; each entry's first byte picks a setting from the
// table (high bit: flag instead of env var), the rest is its value.
// Invariant: an accepted Config satisfies the limits the rest of the host relies on.
#include <map>
#include <string>

#include "extension_runner/host/settings.hpp"
#include "fuzz_check.hpp"

using namespace extension_runner;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& table = settings();
  std::map<std::string, std::string> env;
  std::map<std::string, std::string> flags;
  std::string_view text = fuzz::as_text(data, size);
  for (int n = 0; n < 6 && !text.empty(); ++n) {
    const auto nl = text.find('\n');
    const std::string_view entry = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (entry.empty()) continue;
    const auto pick = static_cast<unsigned char>(entry[0]);
    const auto& spec = table[(pick & 0x7f) % table.size()];
    const std::string value(entry.substr(1));
    if ((pick & 0x80) != 0) {
      flags[spec.flag] = value;
    } else {
      env[spec.env] = value;
    }
  }
  const EnvLookup lookup = [&env](const std::string& name) -> std::optional<std::string> {
    const auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  const auto config = load_config(flags, lookup);
  if (!config) {
    FUZZ_CHECK(config.error().kind == ErrorKind::ConfigInvalid);
    return 0;
  }
  FUZZ_CHECK(config->runner.startup_timeout_ms > 0);
  FUZZ_CHECK(config->runner.max_crashes >= 1);
  // Values that are parsed as numbers must be exactly what was validated (no hidden tail).
  FUZZ_CHECK(config->runner.memory_size.find('\0') == std::string::npos);
  FUZZ_CHECK(config->telemetry.listen.find('\0') == std::string::npos);
  FUZZ_CHECK(config->runner.max_message_bytes > 0);
  FUZZ_CHECK(config->telemetry.buffer_max_items > 0);
  FUZZ_CHECK(config->telemetry.buffer_max_bytes > 0);
  FUZZ_CHECK(config->telemetry.buffer_timeout_ms > 0);
  FUZZ_CHECK(config->telemetry.queue_max_records > 0);
  FUZZ_CHECK(config->telemetry.queue_max_bytes > 0);
  (void)config->telemetry.effective_schema();
  (void)config->telemetry.flush_may_wait(config->receives_invokes());
  return 0;
}
