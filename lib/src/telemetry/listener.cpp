#include "extension_runner/telemetry/listener.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <list>
#include <thread>
#include <utility>

#include "extension_runner/core/fd.hpp"
#include "extension_runner/telemetry/subscription.hpp"

namespace extension_runner {
namespace {

void answer(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(message, "text/plain");
}

// cpp-httplib 0.11 listens with a backlog of 5: a burst of new connections beyond it has its
// handshakes dropped and the posts fail (50 concurrent posters: dozens). httplib hands out no
// socket, so find ours (listening, bound to `port`) and listen again with a deeper backlog,
// which Linux allows on a listening socket.
void deepen_backlog(int port) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    const int fd = std::atoi(entry.path().filename().c_str());
    int listening = 0;
    socklen_t len = sizeof listening;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) continue;
    sockaddr_storage addr{};
    socklen_t addr_len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &addr_len) != 0) continue;
    int bound = -1;
    if (addr.ss_family == AF_INET) bound = ntohs(reinterpret_cast<sockaddr_in&>(addr).sin_port);
    if (addr.ss_family == AF_INET6) bound = ntohs(reinterpret_cast<sockaddr_in6&>(addr).sin6_port);
    if (bound == port) (void)::listen(fd, SOMAXCONN);
  }
}

// A body being parsed costs about three times its size: the text, and the records built from it
// until they are pushed (then counted themselves). Measured with malloc counted over one
// parse_telemetry_batch of 1,000 records: the records hold 1.82x a body of ~280-byte
// platform.report records, 2.25-2.27x of 153-byte function ones; the one-pass parse itself holds
// ~300 bytes beside them (a DOM of 1.8-2.4x the body came on top until the parse became one
// SAX pass), so 3x now covers the whole parse, not only the text and the DOM.
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

}  // namespace

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

namespace {

/**
 * The TCP destination: accepts connections and reads newline-separated JSON events, one poll()
 * loop on its own thread (accept and reads block; a self-pipe wakes it for stop()).
 */
class TcpLineServer {
 public:
  TcpLineServer(TelemetryQueue& queue, size_t line_limit)
      : queue_(queue), line_limit_(line_limit) {}
  ~TcpLineServer() { stop(); }

  /** Binds and listens; returns the bound port or an error message. */
  Result<int> bind(const std::string& host, int port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* found = nullptr;
    if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0 ||
        found == nullptr) {
      return make_error(ErrorKind::ListenerFailed, "cannot resolve " + host);
    }
    Fd sock(::socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, found->ai_protocol));
    int yes = 1;
    if (sock.valid()) ::setsockopt(sock.get(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    const bool bound = sock.valid() && ::bind(sock.get(), found->ai_addr, found->ai_addrlen) == 0 &&
                       ::listen(sock.get(), 16) == 0;
    ::freeaddrinfo(found);
    if (!bound) return make_error(ErrorKind::ListenerFailed, std::strerror(errno));
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    ::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    const int bound_port = addr.ss_family == AF_INET6
                               ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                               : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    auto wake = make_pipe();
    if (!wake) return wake.error();
    listen_ = std::move(sock);
    wake_ = std::move(*wake);
    return bound_port;
  }

  void start() {
    thread_ = std::thread([this] { run(); });
  }

  void stop() {
    if (!thread_.joinable()) return;
    stopping_ = true;
    const char byte = 0;
    (void)!::write(wake_.write.get(), &byte, 1);
    queue_.wake_pushers();
    thread_.join();
  }

 private:
  struct Connection {
    Fd fd;
    std::string pending;      ///< Bytes after the last newline.
    bool discarding = false;  ///< Inside an over-long line: skip to its end.
  };

  void run() {
    std::list<Connection> connections;
    std::vector<char> buf(64 * 1024);
    std::vector<pollfd> fds;
    while (!stopping_) {
      fds.clear();
      fds.push_back({wake_.read.get(), POLLIN, 0});
      fds.push_back({listen_.get(), POLLIN, 0});
      for (const auto& c : connections) fds.push_back({c.fd.get(), POLLIN, 0});
      if (::poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[0].revents != 0 || stopping_) return;
      if (fds[1].revents & POLLIN) {
        const int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) connections.push_back(Connection{Fd(fd), {}, false});
      }
      // A connection accepted just now is last in the list and has no pollfd yet: stop before it.
      size_t i = 2;
      for (auto it = connections.begin(); it != connections.end() && i < fds.size(); ++i) {
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
          ++it;
          continue;
        }
        const ssize_t n = ::read(it->fd.get(), buf.data(), buf.size());
        if (n <= 0) {
          if (n < 0 && errno == EINTR) {
            ++it;
            continue;
          }
          if (!it->pending.empty() && !it->discarding) take_lines(*it, true);
          it = connections.erase(it);
          continue;
        }
        it->pending.append(buf.data(), static_cast<size_t>(n));
        take_lines(*it, false);
        ++it;
      }
    }
  }

  /** Queues every complete line of `c` (and the rest at EOF), waiting for room if need be. */
  void take_lines(Connection& c, bool at_eof) {
    std::vector<std::string_view> lines;
    size_t start = 0;
    for (;;) {
      size_t nl = c.pending.find('\n', start);
      if (nl == std::string::npos) {
        if (!at_eof || start >= c.pending.size()) break;
        nl = c.pending.size();
      }
      std::string_view line(c.pending.data() + start, nl - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (c.discarding) {
        c.discarding = false;  // the tail of an over-long line, already counted
      } else if (line.size() > line_limit_) {
        queue_.count_rejected_request();
      } else if (line.find_first_not_of(" \t") != std::string_view::npos) {
        lines.push_back(line);
      }
      start = nl + 1;
    }
    std::vector<TelemetryRecord> records;
    if (!lines.empty()) {
      // One parse for the whole chunk; only when some line is bad, one parse per line.
      std::string body = "[";
      for (size_t i = 0; i < lines.size(); ++i) {
        if (i > 0) body += ',';
        body.append(lines[i].data(), lines[i].size());
      }
      body += ']';
      if (auto all = parse_telemetry_batch(body); all && all->size() == lines.size()) {
        records = std::move(*all);
      } else {
        for (const auto& line : lines) {
          auto one = parse_telemetry_batch("[" + std::string(line) + "]");
          if (one && one->size() == 1) {
            records.push_back(std::move(one->front()));
          } else {
            queue_.count_rejected_request();
          }
        }
      }
    }
    c.pending.erase(0, std::min(start, c.pending.size()));
    if (c.pending.size() > line_limit_) {  // an over-long line still arriving: skip it
      queue_.count_rejected_request();
      c.pending.clear();
      c.discarding = true;
    }
    if (!records.empty()) {
      queue_.push_when_room(std::move(records), [this] { return stopping_.load(); });
    }
  }

  TelemetryQueue& queue_;
  const size_t line_limit_;
  Fd listen_;
  Pipe wake_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace

struct TelemetryListener::Impl {
  httplib::Server server;
  std::unique_ptr<TcpLineServer> tcp;  ///< Instead of the HTTP server, for the TCP destination.
  std::thread thread;
  std::atomic<bool> finished{false};
  std::string host;
  int port = 0;

  ~Impl() { stop(); }

  void stop() {
    if (tcp) tcp->stop();
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
  if (options.protocol == TelemetryProtocol::Tcp) {
    impl->tcp = std::make_unique<TcpLineServer>(queue, options.body_limit);
    auto port = impl->tcp->bind(options.host, options.port);
    if (!port) {
      return make_error(ErrorKind::ListenerFailed,
                        "telemetry TCP listener cannot bind " + options.host + ":" +
                            std::to_string(options.port) +
                            " (EXTENSION_RUNNER_LISTEN): " + port.error().message);
    }
    impl->port = *port;
    impl->host = options.host;
    impl->tcp->start();  // listening already: a connection made now waits in the backlog
    return TelemetryListener(std::move(impl));
  }
  auto& server = impl->server;
  server.set_payload_max_length(options.body_limit);
  // Lambda sends one POST at a time per subscription [RIE]; two workers leave room for a stray
  // connection, and bound how many request bodies (and parsed batches) are in memory at once.
  server.new_task_queue = [] { return new httplib::ThreadPool(2); };
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

  // A batch is read through a content reader, not into req.body by httplib: its body is kept
  // only when the queue has room for it (see BodyReservation), and a refused one is counted as it
  // is read and thrown away. It is still read to its end: closing with unread bytes would send a
  // reset, which can cost the client our answer.
  const auto deliver = [&queue, limit = options.body_limit](const httplib::Request& req,
                                                            httplib::Response& res,
                                                            const httplib::ContentReader& read) {
    const auto pushback = [&res] {
      res.set_header("Retry-After", "1");
      answer(res, kPushbackStatus, "telemetry queue full");
    };
    if (req.is_multipart_form_data()) {
      if (read([](const httplib::MultipartFormData&) { return true; },
               [](const char*, size_t) { return true; })) {
        answer(res, 400, "telemetry batch is not a JSON array");
      }
      return;
    }
    BodyReservation held(queue);
    const bool has_length = req.has_header("Content-Length");
    const size_t length =
        has_length ? static_cast<size_t>(req.get_header_value<uint64_t>("Content-Length")) : 0;
    // With a length (Lambda sends one) the whole body is reserved, or refused, before reading.
    bool refused = has_length && length <= limit && !held.grow(kBodyCopies * length);
    std::string body;
    if (has_length && !refused && length <= limit) body.reserve(length);
    BatchElementCounter refused_records;
    bool too_long = false;
    const bool read_whole = read([&](const char* data, size_t n) {
      if (too_long) return true;
      if (refused) {
        refused_records.feed({data, n});
        return true;
      }
      if (body.size() + n > limit) {
        too_long = true;
        std::string().swap(body);
        return true;
      }
      if (!has_length && !held.grow(kBodyCopies * n)) {  // chunked: reserved as it arrives
        refused = true;
        refused_records.feed(body).feed({data, n});
        std::string().swap(body);
        return true;
      }
      body.append(data, n);
      return true;
    });
    if (!read_whole) return;  // httplib's own 400 (cut short) or 413 (Content-Length too big)
    if (too_long) {
      return answer(res, 413, "telemetry batch larger than " + std::to_string(limit) + " bytes");
    }
    if (refused) {
      queue.refuse(refused_records.count());
      return pushback();
    }
    auto batch = parse_telemetry_batch(body);
    std::string().swap(body);  // the records hold their own copies now
    if (!batch) return answer(res, 400, batch.error().message);
    if (!queue.push(std::move(*batch), held.hand_over())) return pushback();
    answer(res, 200, "OK");
  };
  const auto not_allowed = [allow = std::string(options.accept_put ? "POST, PUT" : "POST")](
                               const httplib::Request&, httplib::Response& res) {
    res.set_header("Allow", allow);
    answer(res, 405, "method not allowed");
  };
  // Batches come to the destination URI we subscribed with, whose path is "/"
  // (destination_uri); a POST anywhere else is no delivery: 404 (httplib's answer, counted).
  server.Post("/", deliver);
  if (options.accept_put) {
    server.Put("/", deliver);
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
  deepen_backlog(impl->port);

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
