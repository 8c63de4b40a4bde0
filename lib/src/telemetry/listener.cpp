#include "extension_runner/telemetry/listener.hpp"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "extension_runner/telemetry/subscription.hpp"

namespace extension_runner {
namespace {

void answer(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(message, "text/plain");
}

}  // namespace

size_t listener_body_limit(int buffer_max_bytes, int buffer_max_items) {
  return 2 * static_cast<size_t>(buffer_max_bytes) + 256 * static_cast<size_t>(buffer_max_items) +
         65536;
}

Result<ListenerOptions> listener_options(const Config& config) {
  auto address = parse_listen_address(config.listen);
  if (!address) return address.error();
  ListenerOptions options;
  options.host = address->host;
  options.port = address->port;
  options.accept_put = config.telemetry == TelemetryMode::Logs;
  options.body_limit = listener_body_limit(config.buffer_max_bytes, config.buffer_max_items);
  return options;
}

struct TelemetryListener::Impl {
  httplib::Server server;
  std::thread thread;
  std::atomic<bool> finished{false};
  std::string host;
  int port = 0;

  ~Impl() { stop(); }

  void stop() {
    // httplib 0.11.4 loses a stop() issued before listen_after_bind() has started, so only
    // stop a server that is (or was) running; start() waited for that.
    if (thread.joinable()) {
      server.stop();
      thread.join();
    }
  }
};

TelemetryListener::TelemetryListener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TelemetryListener::TelemetryListener(TelemetryListener&&) noexcept = default;
TelemetryListener& TelemetryListener::operator=(TelemetryListener&&) noexcept = default;
TelemetryListener::~TelemetryListener() = default;

int TelemetryListener::port() const { return impl_ ? impl_->port : 0; }
const std::string& TelemetryListener::host() const {
  static const std::string kNone;
  return impl_ ? impl_->host : kNone;
}
void TelemetryListener::stop() {
  if (impl_) impl_->stop();
}

Result<TelemetryListener> TelemetryListener::start(const ListenerOptions& options,
                                                   TelemetryQueue& queue) {
  auto impl = std::make_unique<Impl>();
  auto& server = impl->server;
  server.set_payload_max_length(options.body_limit);
  // One request per connection: httplib's stop() waits for a kept-alive connection's idle
  // timeout (5 s), which would outlast the 2 s SHUTDOWN budget [EXT] if Lambda keeps its
  // connection open. A loopback connect per batch costs microseconds.
  server.set_keep_alive_max_count(1);
  // Our answer must not wait for a delayed ACK (Go's net/http, Lambda's side, sets NODELAY too).
  server.set_tcp_nodelay(true);
  // httplib's default also sets SO_REUSEPORT, which would let a second process bound to the
  // same fixed port silently take half of the deliveries; a taken port must fail instead.
  server.set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });

  // httplib calls the error handler for every answer >= 400 (ours, and the 400/413 it produces
  // itself before a handler runs) *before* writing it, so a client that sees the status also
  // sees the count. (The logger would run only after the response is written.)
  server.set_error_handler(
      httplib::Server::HandlerWithResponse([&queue](const httplib::Request&, httplib::Response&) {
        queue.count_rejected_request();
        return httplib::Server::HandlerResponse::Unhandled;  // keep the body already set
      }));

  const auto deliver = [&queue](const httplib::Request& req, httplib::Response& res) {
    auto batch = parse_telemetry_batch(req.body);
    if (!batch) return answer(res, 400, batch.error().message);
    if (!queue.push(std::move(*batch))) {
      res.set_header("Retry-After", "1");
      return answer(res, kPushbackStatus, "telemetry queue full");
    }
    answer(res, 200, "OK");
  };
  const auto not_allowed = [allow = std::string(options.accept_put ? "POST, PUT" : "POST")](
                               const httplib::Request&, httplib::Response& res) {
    res.set_header("Allow", allow);
    answer(res, 405, "method not allowed");
  };
  server.Post(".*", deliver);
  if (options.accept_put) {
    server.Put(".*", deliver);
  } else {
    server.Put(".*", not_allowed);
  }
  server.Get(".*", not_allowed);
  server.Delete(".*", not_allowed);
  server.Patch(".*", not_allowed);
  server.Options(".*", not_allowed);

  const std::string where = options.host + ":" + std::to_string(options.port);
  const auto cannot_bind = [&where] {
    // httplib reports only false; the errno of its failed bind/getaddrinfo is still set.
    const int err = errno;
    return make_error(ErrorKind::ListenerFailed,
                      "telemetry listener cannot bind " + where + " (EXTENSION_RUNNER_LISTEN)" +
                          (err != 0 ? std::string(": ") + std::strerror(err) : std::string()));
  };
  errno = 0;
  if (options.port == 0) {
    impl->port = server.bind_to_any_port(options.host);
    if (impl->port < 0) return cannot_bind();
  } else {
    if (!server.bind_to_port(options.host, options.port)) return cannot_bind();
    impl->port = options.port;
  }
  impl->host = options.host;

  Impl* raw = impl.get();
  impl->thread = std::thread([raw] {
    raw->server.listen_after_bind();
    raw->finished = true;
  });
  // httplib offers no readiness callback: poll is_running(), which its accept loop sets at once
  // (or listen_after_bind returns, setting `finished`).
  while (!server.is_running()) {
    if (impl->finished) {
      impl->thread.join();
      return make_error(ErrorKind::ListenerFailed, "telemetry listener did not start on " + where);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return TelemetryListener(std::move(impl));
}

}  // namespace extension_runner
