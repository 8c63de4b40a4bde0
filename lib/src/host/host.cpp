#include "extension_runner/host/host.hpp"

#include <unistd.h>

#include "extension_runner/core/fd.hpp"
#include "extension_runner/host/child_handler.hpp"
#include "extension_runner/host/memory_policy.hpp"
#include "extension_runner/host/telemetry_to_child.hpp"

namespace extension_runner {
namespace {

// A batch may wait behind an INVOKE as long as a function may run (15 minutes), so telemetry
// is not dropped just because the child was busy; the shutdown budget caps it.
constexpr int64_t kBatchWaitMs = int64_t{15} * 60 * 1000;

/** No child: each event is one JSON line on stdout, the diagnostic mode. */
class StdoutHandler final : public EventHandler {
 public:
  Result<void> init(const InitContext&) override { return {}; }
  Result<void> on_invoke(const InvokeEvent& event) override { return print(event.raw); }
  Result<void> on_shutdown(const ShutdownEvent& event, const ShutdownBudget&) override {
    return print(event.raw);
  }

 private:
  static Result<void> print(const std::string& raw) { return write_line(STDOUT_FILENO, raw); }
};

}  // namespace

const char* host_mode_name(HostMode mode) {
  return mode == HostMode::Emulate ? "emulate" : "lambda";
}

Extension make_extension(const Config& config, HostMode mode, ReplyObserver observer) {
  apply_memory_policy(config.telemetry, config.proxy);
  Extension extension;
  const bool telemetry_on = config.telemetry.mode != TelemetryMode::Off;
  if (config.runner.command.empty()) {
    extension.events = std::make_unique<StdoutHandler>();
    if (telemetry_on)
      extension.telemetry = TelemetryDelivery{make_no_child_sink(config.telemetry), {}};
    if (config.messages.enabled)
      extension.messages = TelemetryDelivery{make_json_lines_sink(STDOUT_FILENO), {}};
    return extension;
  }
  auto dispatcher = std::make_shared<Dispatcher>(std::move(observer));
  if (config.proxy.mode != ProxyMode::Off) {
    auto slot = std::make_shared<ChildSlot>();
    extension.events = make_child_handler(config, host_mode_name(mode), dispatcher, slot);
    const auto extras =
        extra_hook_children(config.platform, process_env()("AWS_LAMBDA_MAX_CONCURRENCY"));
    extension.proxy = std::make_unique<ProxyService>(config, dispatcher, slot, extras);
  } else {
    extension.events = make_child_handler(config, host_mode_name(mode), dispatcher);
  }
  ForwarderOptions options;
  options.delivery_timeout_ms = kBatchWaitMs;
  if (config.messages.enabled) {
    extension.messages = TelemetryDelivery{
        make_child_telemetry_sink(dispatcher, kChildBatchBudgetMs, "messages"), options};
  }
  if (telemetry_on) {
    extension.telemetry =
        TelemetryDelivery{make_child_telemetry_sink(std::move(dispatcher)), options};
  }
  return extension;
}

}  // namespace extension_runner
