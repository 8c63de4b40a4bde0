// describe_config(): the one init line saying how this process is configured (settings.hpp).
#include <string>
#include <vector>

#include "extension_runner/core/json.hpp"
#include "extension_runner/host/settings.hpp"

namespace extension_runner {
namespace {

std::string joined(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

bool is_name_char(char c, bool first) {
  return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (!first && c >= '0' && c <= '9');
}

// Shell words of the form NAME=value (`TOKEN=abc python3 x.py`, `env KEY=v …`) may carry
// secrets: their values become ***. Quotes inside a value are followed so `A="x y"` is one word.
std::string redact_assignments(const std::string& command) {
  std::string out;
  size_t i = 0;
  const size_t n = command.size();
  while (i < n) {
    if (command[i] == ' ' || command[i] == '\t' || command[i] == '\n') {
      out += command[i++];
      continue;
    }
    size_t j = i;
    while (j < n && is_name_char(command[j], j == i)) ++j;
    const bool assignment = j > i && j < n && command[j] == '=';
    char quote = 0;
    size_t end = assignment ? j + 1 : i;
    while (end < n &&
           (quote != 0 || (command[end] != ' ' && command[end] != '\t' && command[end] != '\n'))) {
      if (quote == 0 && (command[end] == '"' || command[end] == '\'')) {
        quote = command[end];
      } else if (quote != 0 && command[end] == quote) {
        quote = 0;
      }
      ++end;
    }
    out += assignment ? command.substr(i, j + 1 - i) + "***" : command.substr(i, end - i);
    i = end;
  }
  return out;
}

const char* telemetry_words(TelemetryMode mode) {
  switch (mode) {
    case TelemetryMode::Off:
      return "off";
    case TelemetryMode::Telemetry:
      return "telemetry-api";
    case TelemetryMode::Logs:
      return "logs-api";
  }
  return "off";
}

}  // namespace

std::string describe_config(const Config& config) {
  std::string line = std::string("config: platform=") + platform_name(config.platform);
  if (config.platform == Platform::ManagedInstances) {
    line += std::string("(AWS_LAMBDA_INITIALIZATION_TYPE=") + kManagedInstancesInitType + ")";
  }
  line += " events=" + joined(config.events, ",");
  line +=
      " runtime-api=" + (config.runtime_api.empty() ? std::string("unset") : config.runtime_api);
  line += " api-timeout=" + std::to_string(config.api_timeout_ms) + "ms";
  line += " config-file=" + (config.config_file.empty() ? std::string("none") : config.config_file);
  if (config.runner.command.empty()) {
    line += " child=none";
  } else {
    line += " child=" + json_quote(redact_assignments(config.runner.command));
    line +=
        std::string(" dispatch=") + (config.runner.dispatch == Dispatch::Sync ? "sync" : "async");
    line += " startup-timeout=" + std::to_string(config.runner.startup_timeout_ms) + "ms";
    line += " max-crashes=" + std::to_string(config.runner.max_crashes);
    line += std::string(" child-start=") +
            (config.runner.child_start == ChildStart::Background ? "background" : "init");
  }
  line += std::string(" telemetry=") + telemetry_words(config.telemetry.mode);
  if (config.telemetry.mode != TelemetryMode::Off) {
    line += " types=" + joined(config.telemetry.types, ",");
    line += " schema=" + config.telemetry.effective_schema();
    line += std::string(" protocol=") +
            (config.telemetry.protocol == TelemetryProtocol::Tcp ? "tcp" : "http");
    line += std::string(" flush=") + flush_mode_name(config.telemetry.flush);
    if (config.telemetry.flush == FlushMode::Periodic && config.telemetry.flush_period_ms > 0) {
      line += "," + std::to_string(config.telemetry.flush_period_ms) + "ms";
    }
    // Whether /next may wait for platform.runtimeDone, after platform and events are weighed.
    line += std::string(" flush-waits=") +
            (config.telemetry.flush_may_wait(config.receives_invokes()) ? "yes" : "no");
    line += " listen=" + config.telemetry.listen;
    line += " buffering=" + std::to_string(config.telemetry.buffer_max_items) + "items/" +
            std::to_string(config.telemetry.buffer_max_bytes) + "B/" +
            std::to_string(config.telemetry.buffer_timeout_ms) + "ms";
    line += " queue=" + std::to_string(config.telemetry.queue_max_records) + "records/" +
            std::to_string(config.telemetry.queue_max_bytes) + "B";
  }
  // Only when on: a line without `proxy=` reads as before for everyone who never asked for it.
  if (config.proxy.mode != ProxyMode::Off) {
    line += std::string(" proxy=") + proxy_mode_name(config.proxy.mode);
    line += " hook-timeout=" + std::to_string(config.proxy.hook_timeout_ms) + "ms";
    line += std::string(" proxy-fail=") + fail_policy_name(config.proxy.fail);
    if (!config.proxy.next_wrapper.empty()) line += " next-wrapper=" + config.proxy.next_wrapper;
  }
  if (config.messages.enabled) {
    line += " messages=on messages-listen=" + config.messages.listen;
    line += std::string(" messages-flush=") + flush_mode_name(config.telemetry.flush);
  }
  return line;
}

}  // namespace extension_runner
