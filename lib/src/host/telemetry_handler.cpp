#include "extension_runner/host/telemetry_handler.hpp"

namespace extension_runner {
namespace {

class TelemetryHandler final : public EventHandler {
 public:
  TelemetryHandler(std::unique_ptr<EventHandler> inner, BatchSink sink, ForwarderOptions options)
      : inner_(std::move(inner)), sink_(std::move(sink)), options_(options) {}

  Result<void> init(const InitContext& context) override {
    if (auto inner = inner_->init(context); !inner) return inner;
    if (context.config.telemetry.mode == TelemetryMode::Off) return {};
    ExtensionsClient& client = context.client;
    auto forwarder = TelemetryForwarder::start(
        context.config.telemetry,
        TelemetryContext{context.config.platform, context.config.receives_invokes()},
        context.registration.identifier,
        [&client](const HttpRequest& request) { return client.send(request); }, sink_, options_);
    if (!forwarder) return forwarder.error();
    forwarder_ = std::move(*forwarder);
    return {};
  }

  Result<void> on_invoke(const InvokeEvent& event) override {
    const auto received = std::chrono::steady_clock::now();
    auto handled = inner_->on_invoke(event);
    // Even after a failed invoke the function's telemetry belongs to this invocation.
    if (forwarder_) forwarder_->after_invoke(event, received);
    return handled;
  }

  Result<void> on_shutdown(const ShutdownEvent& event) override {
    if (forwarder_) forwarder_->shutdown(event.deadline_ms);
    return inner_->on_shutdown(event);
  }

  std::string summary() const override {
    return forwarder_ ? forwarder_->counters().to_line() : inner_->summary();
  }

 private:
  std::unique_ptr<EventHandler> inner_;
  BatchSink sink_;
  ForwarderOptions options_;
  /** Destroyed before inner_, which its sink may use (a sink call ends by its deadline). */
  std::unique_ptr<TelemetryForwarder> forwarder_;
};

}  // namespace

std::unique_ptr<EventHandler> make_telemetry_handler(std::unique_ptr<EventHandler> inner,
                                                     BatchSink sink, ForwarderOptions options) {
  return std::make_unique<TelemetryHandler>(std::move(inner), std::move(sink), options);
}

}  // namespace extension_runner
