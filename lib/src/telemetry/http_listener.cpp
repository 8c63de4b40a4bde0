#include "extension_runner/telemetry/http_listener.hpp"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <utility>

#include "extension_runner/core/socket.hpp"
#include "extension_runner/telemetry/records.hpp"

namespace extension_runner {
namespace {

void answer(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(message, "text/plain");
}

void push_back(httplib::Response& res) {
  res.set_header("Retry-After", "1");
  answer(res, kPushbackStatus, "telemetry queue full");
}

// cpp-httplib 0.11 listens with a backlog of 5: a burst of new connections beyond it has its
// handshakes dropped and the posts fail (50 concurrent posters: dozens). httplib hands out no
// socket, so find ours (listening, bound to `port`) and listen again with a deeper backlog,
// which Linux allows on a listening socket.
void deepen_backlog(int port) {
  for (const int fd : open_fds()) {
    if (is_listening(fd) && local_port(fd) == port) (void)::listen(fd, SOMAXCONN);
  }
}

// A body being parsed costs about three times its size: the text, and the records built from it
// until they are pushed (then counted themselves). Measured with malloc counted over one
// parse_telemetry_batch of 1,000 records: the records hold 1.82x a body of ~280-byte
// platform.report records, 2.25-2.27x of 153-byte function ones; the one-pass (SAX) parse
// itself holds ~300 bytes beside them, so 3x covers the whole parse.
constexpr size_t kBodyCopies = 3;

/**
 * Bytes of the queue's capacity held for one request body while it is read and parsed; given
 * back when it goes out of scope unless handed over to TelemetryQueue::push.
 */
class BodyReservation {
 public:
  explicit BodyReservation(TelemetryQueue& queue) : queue_(queue) {}
  BodyReservation(const BodyReservation&) = delete;
  BodyReservation& operator=(const BodyReservation&) = delete;
  ~BodyReservation() {
    if (bytes_ > 0) queue_.release(bytes_);
  }
  /** Reserves `n` bytes more; false (holding what it held) when the queue has no room. */
  bool grow(size_t n) {
    if (!queue_.reserve(n, bytes_)) return false;
    bytes_ += n;
    return true;
  }
  size_t hand_over() { return std::exchange(bytes_, 0); }

 private:
  TelemetryQueue& queue_;
  size_t bytes_ = 0;
};

/**
 * One batch's body as it is read: kept only while the queue has room for it (see
 * BodyReservation); once refused, only its records are counted as they go by; once longer than
 * the limit, dropped. It is still read to its end: closing with unread bytes would send a reset,
 * which can cost the client our answer.
 */
class BatchBody {
 public:
  BatchBody(TelemetryQueue& queue, const httplib::Request& req, size_t limit)
      : queue_(queue), held_(queue), limit_(limit), has_length_(req.has_header("Content-Length")) {
    const size_t length =
        has_length_ ? static_cast<size_t>(req.get_header_value<uint64_t>("Content-Length")) : 0;
    // With a length (Lambda sends one) the whole body is reserved, or refused, before reading.
    refused_ = has_length_ && length <= limit_ && !held_.grow(kBodyCopies * length);
    if (has_length_ && !refused_ && length <= limit_) text_.reserve(length);
  }

  /** Takes the next chunk of the body; true, so that httplib reads on to the end. */
  bool take(const char* data, size_t n) {
    if (too_long_) return true;
    if (refused_) {
      refused_records_.feed({data, n});
      return true;
    }
    if (text_.size() + n > limit_) {
      too_long_ = true;
      std::string().swap(text_);
      return true;
    }
    if (!has_length_ && !held_.grow(kBodyCopies * n)) {  // chunked: reserved as it arrives
      refused_ = true;
      refused_records_.feed(text_).feed({data, n});
      std::string().swap(text_);
      return true;
    }
    text_.append(data, n);
    return true;
  }

  /** Answers the whole body: queued (200), pushed back (503), malformed (400), too long (413). */
  void deliver(httplib::Response& res) {
    if (too_long_) {
      return answer(res, 413, "telemetry batch larger than " + std::to_string(limit_) + " bytes");
    }
    if (refused_) {
      queue_.refuse(refused_records_.count());
      return push_back(res);
    }
    auto batch = parse_telemetry_batch(text_);
    std::string().swap(text_);  // the records hold their own copies now
    if (!batch) return answer(res, 400, batch.error().message);
    if (!queue_.push(std::move(*batch), held_.hand_over())) return push_back(res);
    answer(res, 200, "OK");
  }

 private:
  TelemetryQueue& queue_;
  BodyReservation held_;
  const size_t limit_;
  const bool has_length_;
  bool refused_ = false;
  bool too_long_ = false;
  std::string text_;
  BatchElementCounter refused_records_;
};

// A batch is read through a content reader, not into req.body by httplib, so that its body is
// kept only when the queue has room for it (BatchBody).
void deliver(TelemetryQueue& queue, size_t limit, const httplib::Request& req,
             httplib::Response& res, const httplib::ContentReader& read) {
  if (req.is_multipart_form_data()) {
    if (read([](const httplib::MultipartFormData&) { return true; },
             [](const char*, size_t) { return true; })) {
      answer(res, 400, "telemetry batch is not a JSON array");
    }
    return;
  }
  BatchBody body(queue, req, limit);
  if (!read([&body](const char* data, size_t n) { return body.take(data, n); })) {
    return;  // httplib's own 400 (cut short) or 413 (Content-Length too big)
  }
  body.deliver(res);
}

/** The cpp-httplib server of the HTTP destination, serving on its own thread. */
class HttpServer : public ListenerServer {
 public:
  HttpServer(const ListenerOptions& options, TelemetryQueue& queue) {
    configure(options.body_limit);
    count_rejections(queue);
    route(options, queue);
  }
  ~HttpServer() override { stop(); }
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /** Binds `host:port` (port 0: an ephemeral one); ListenerFailed naming the address. */
  Result<void> bind(const std::string& host, int port) {
    errno = 0;
    if (port == 0) {
      port_ = server_.bind_to_any_port(host);
      if (port_ < 0) return cannot_bind(host, port);
    } else {
      if (!server_.bind_to_port(host, port)) return cannot_bind(host, port);
      port_ = port;
    }
    deepen_backlog(port_);
    return {};
  }

  /** Serves on a thread; returns once the server accepts connections. */
  Result<void> serve(const std::string& where) {
    thread_ = std::thread([this] {
      server_.listen_after_bind();
      finished_ = true;
    });
    // httplib offers no readiness callback: poll is_running(), which its accept loop sets at
    // once (or listen_after_bind returns, setting `finished_`).
    while (!server_.is_running()) {
      if (finished_) {
        thread_.join();
        return make_error(ErrorKind::ListenerFailed,
                          "telemetry listener did not start on " + where);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return {};
  }

  int port() const override { return port_; }

  void stop() override {
    // httplib 0.11.4 loses a stop() issued before listen_after_bind() has started, so only
    // stop a server that is (or was) running; serve() waited for that.
    if (thread_.joinable()) {
      server_.stop();
      thread_.join();
    }
  }

 private:
  void configure(size_t body_limit) {
    server_.set_payload_max_length(body_limit);
    // Lambda sends one POST at a time per subscription [RIE]; two workers leave room for a
    // stray connection, and bound how many request bodies (and parsed batches) are in memory
    // at once.
    server_.new_task_queue = [] { return new httplib::ThreadPool(2); };
    // One request per connection: httplib's stop() waits for a kept-alive connection's idle
    // timeout (5 s), which would outlast the 2 s SHUTDOWN budget [EXT] if Lambda keeps its
    // connection open. A loopback connect per batch costs microseconds.
    server_.set_keep_alive_max_count(1);
    // Our answer must not wait for a delayed ACK (Go's net/http, Lambda's side, sets NODELAY).
    server_.set_tcp_nodelay(true);
    // httplib's default also sets SO_REUSEPORT, which would let a second process bound to the
    // same fixed port silently take half of the deliveries; a taken port must fail instead.
    server_.set_socket_options([](int sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
  }

  // httplib calls the error handler for every answer >= 400 (ours, and the 400/413 it produces
  // itself before a handler runs) *before* writing it, so a client that sees the status also
  // sees the count. (The logger would run only after the response is written.)
  void count_rejections(TelemetryQueue& queue) {
    server_.set_error_handler(
        httplib::Server::HandlerWithResponse([&queue](const httplib::Request&, httplib::Response&) {
          queue.count_rejected_request();
          return httplib::Server::HandlerResponse::Unhandled;  // keep the body already set
        }));
  }

  // Batches come to the destination URI we subscribed with, whose path is "/"
  // (destination_uri); a POST anywhere else is no delivery: 404 (httplib's answer, counted).
  void route(const ListenerOptions& options, TelemetryQueue& queue) {
    const auto delivery = [&queue, limit = options.body_limit](const httplib::Request& req,
                                                               httplib::Response& res,
                                                               const httplib::ContentReader& read) {
      deliver(queue, limit, req, res, read);
    };
    const auto not_allowed = [allow = std::string(options.accept_put ? "POST, PUT" : "POST")](
                                 const httplib::Request&, httplib::Response& res) {
      res.set_header("Allow", allow);
      answer(res, 405, "method not allowed");
    };
    server_.Post("/", delivery);
    if (options.accept_put) {
      server_.Put("/", delivery);
    } else {
      server_.Put(".*", not_allowed);
    }
    server_.Get(".*", not_allowed);
    server_.Delete(".*", not_allowed);
    server_.Patch(".*", not_allowed);
    server_.Options(".*", not_allowed);
  }

  static Error cannot_bind(const std::string& host, int port) {
    // httplib reports only false; the errno of its failed bind/getaddrinfo is still set.
    const int err = errno;
    return make_error(ErrorKind::ListenerFailed,
                      "telemetry listener cannot bind " + host + ":" + std::to_string(port) +
                          " (EXTENSION_RUNNER_LISTEN)" +
                          (err != 0 ? std::string(": ") + std::strerror(err) : std::string()));
  }

  httplib::Server server_;
  std::thread thread_;
  std::atomic<bool> finished_{false};
  int port_ = 0;
};

}  // namespace

Result<std::unique_ptr<ListenerServer>> start_http_listener(const ListenerOptions& options,
                                                            TelemetryQueue& queue) {
  auto server = std::make_unique<HttpServer>(options, queue);
  if (auto bound = server->bind(options.host, options.port); !bound) return bound.error();
  const std::string where = options.host + ":" + std::to_string(options.port);
  if (auto serving = server->serve(where); !serving) return serving.error();
  return std::unique_ptr<ListenerServer>(std::move(server));
}

}  // namespace extension_runner
