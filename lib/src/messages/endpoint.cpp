#include "extension_runner/messages/endpoint.hpp"

#include <httplib.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/messages/body.hpp"
#include "extension_runner/telemetry/subscription.hpp"

namespace extension_runner {
namespace {

void answer(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(message + "\n", "text/plain");
}

/** Typed records the queue holds: the child's JSON, and the tag for accounting. */
std::vector<TelemetryRecord> to_records(const std::vector<std::string>& messages,
                                        const std::string& request_id) {
  const std::string time = format_iso8601(wall_clock_ms());
  std::vector<TelemetryRecord> records;
  records.reserve(messages.size());
  for (const auto& message : messages) {
    TelemetryRecord record;
    record.raw = message_record_json(request_id, time, message);
    record.type = "message";
    record.request_id = request_id;
    records.push_back(std::move(record));
  }
  return records;
}

}  // namespace

class MessagesEndpoint::Server {
 public:
  Server(const MessagesOptions& options, TelemetryQueue& queue, const InvocationTag& tag)
      : queue_(queue), tag_(tag) {
    server_.set_payload_max_length(options.max_body_bytes);
    // The function may post from several threads; four workers keep a slow client from
    // blocking the others and bound the bodies in memory at once.
    server_.new_task_queue = [] { return new httplib::ThreadPool(4); };
    // Keep-alive lets the SDK's send() skip a connect per message; a short idle timeout bounds
    // how long the destructor's stop() waits for an idle connection.
    server_.set_keep_alive_timeout(1);
    // httplib closes a connection after 5 requests by default: the SDK's 100 sends per
    // invocation would pay a new connect every fifth.
    server_.set_keep_alive_max_count(100000);
    // The function is waiting for our 202: no delayed ACK on it.
    server_.set_tcp_nodelay(true);
    // Without SO_REUSEPORT (httplib's default) a second process on the fixed port fails to bind
    // instead of silently taking half of the messages.
    server_.set_socket_options([](int sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    // Every answer >= 400 (ours, and httplib's own 400/413/404) is counted before it is written.
    server_.set_error_handler(
        httplib::Server::HandlerWithResponse([this](const httplib::Request&, httplib::Response&) {
          queue_.count_rejected_request();
          return httplib::Server::HandlerResponse::Unhandled;
        }));
    server_.Post(kMessagesPath,
                 [this](const httplib::Request& req, httplib::Response& res) { post(req, res); });
    const auto not_allowed = [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Allow", "POST");
      answer(res, 405, "method not allowed (POST " + std::string(kMessagesPath) + ")");
    };
    server_.Get(kMessagesPath, not_allowed);
    server_.Put(kMessagesPath, not_allowed);
    server_.Delete(kMessagesPath, not_allowed);
    server_.Patch(kMessagesPath, not_allowed);
  }
  ~Server() { stop(); }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  Result<void> bind(const ListenAddress& where) {
    errno = 0;
    if (where.port == 0) {
      port_ = server_.bind_to_any_port(where.host);
      if (port_ < 0) return cannot_bind(where);
    } else {
      if (!server_.bind_to_port(where.host, where.port)) return cannot_bind(where);
      port_ = where.port;
    }
    return {};
  }

  Result<void> serve() {
    thread_ = std::thread([this] {
      server_.listen_after_bind();
      finished_ = true;
    });
    // httplib has no readiness callback; its accept loop sets is_running() at once.
    while (!server_.is_running()) {
      if (finished_) {
        thread_.join();
        return make_error(ErrorKind::ListenerFailed, "messages endpoint did not start");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return {};
  }

  void stop() {
    if (thread_.joinable()) {
      server_.stop();
      thread_.join();
    }
  }

  int port() const { return port_; }
  void refuse_new() { refusing_ = true; }
  uint64_t refused() const { return refused_; }

 private:
  void post(const httplib::Request& req, httplib::Response& res) {
    auto format = messages_format(req.get_header_value("Content-Type"));
    if (!format) return answer(res, 415, format.error().message);
    auto messages = parse_messages_body(req.body, *format);
    if (!messages) return answer(res, 400, messages.error().message);
    if (messages->empty()) return answer(res, 202, "0 messages");
    const size_t count = messages->size();
    auto records = to_records(*messages, tag_.tag(req.get_header_value(kMessagesRequestIdHeader)));
    if (refusing_) {
      queue_.refuse(count);
    } else if (queue_.push(std::move(records))) {
      return answer(res, 202, std::to_string(count) + " messages");
    }
    refused_ += count;
    res.set_header("Retry-After", "1");
    answer(res, 503, refusing_ ? "shutting down" : "messages queue full");
  }

  static Error cannot_bind(const ListenAddress& where) {
    const int err = errno;
    return make_error(ErrorKind::ListenerFailed,
                      "messages endpoint cannot bind " + where.host + ":" +
                          std::to_string(where.port) + " (EXTENSION_RUNNER_MESSAGES_LISTEN)" +
                          (err != 0 ? std::string(": ") + std::strerror(err) : std::string()));
  }

  TelemetryQueue& queue_;
  const InvocationTag& tag_;
  httplib::Server server_;
  std::thread thread_;
  std::atomic<bool> finished_{false}, refusing_{false};
  std::atomic<uint64_t> refused_{0};
  int port_ = 0;
};

MessagesEndpoint::MessagesEndpoint(std::unique_ptr<Server> server) : server_(std::move(server)) {}
MessagesEndpoint::~MessagesEndpoint() = default;

Result<std::unique_ptr<MessagesEndpoint>> MessagesEndpoint::start(const MessagesOptions& options,
                                                                  TelemetryQueue& queue,
                                                                  const InvocationTag& tag) {
  auto where = parse_listen_address(options.listen);
  if (!where) {
    return make_error(ErrorKind::ConfigInvalid,
                      "EXTENSION_RUNNER_MESSAGES_LISTEN: " + where.error().message);
  }
  auto server = std::make_unique<Server>(options, queue, tag);
  if (auto bound = server->bind(*where); !bound) return bound.error();
  if (auto serving = server->serve(); !serving) return serving.error();
  return std::unique_ptr<MessagesEndpoint>(new MessagesEndpoint(std::move(server)));
}

int MessagesEndpoint::port() const { return server_->port(); }
void MessagesEndpoint::refuse_new() { server_->refuse_new(); }
uint64_t MessagesEndpoint::refused() const { return server_->refused(); }

}  // namespace extension_runner
