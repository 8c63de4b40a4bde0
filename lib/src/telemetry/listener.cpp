#include "extension_runner/telemetry/listener.hpp"

#include <utility>

#include "extension_runner/telemetry/http_listener.hpp"
#include "extension_runner/telemetry/subscription.hpp"
#include "extension_runner/telemetry/tcp_listener.hpp"

namespace extension_runner {

size_t listener_body_limit(int buffer_max_bytes, int buffer_max_items) {
  return 2 * static_cast<size_t>(buffer_max_bytes) + 256 * static_cast<size_t>(buffer_max_items) +
         65536;
}

Result<ListenerOptions> listener_options(const TelemetryOptions& telemetry) {
  auto address = parse_listen_address(telemetry.listen);
  if (!address) return address.error();
  ListenerOptions options;
  options.host = address->host;
  options.port = address->port;
  options.accept_put = telemetry.mode == TelemetryMode::Logs;
  options.body_limit = listener_body_limit(telemetry.buffer_max_bytes, telemetry.buffer_max_items);
  options.protocol = telemetry.protocol;
  return options;
}

TelemetryListener::TelemetryListener(std::unique_ptr<ListenerServer> server, std::string host)
    : server_(std::move(server)), host_(std::move(host)) {}
TelemetryListener::TelemetryListener(TelemetryListener&&) noexcept = default;
TelemetryListener& TelemetryListener::operator=(TelemetryListener&&) noexcept = default;
TelemetryListener::~TelemetryListener() = default;

int TelemetryListener::port() const { return server_ ? server_->port() : 0; }
const std::string& TelemetryListener::host() const { return host_; }
void TelemetryListener::stop() {
  if (server_) server_->stop();
}

Result<TelemetryListener> TelemetryListener::start(const ListenerOptions& options,
                                                   TelemetryQueue& queue) {
  auto server = options.protocol == TelemetryProtocol::Tcp ? start_tcp_listener(options, queue)
                                                           : start_http_listener(options, queue);
  if (!server) return server.error();
  return TelemetryListener(std::move(*server), options.host);
}

}  // namespace extension_runner
