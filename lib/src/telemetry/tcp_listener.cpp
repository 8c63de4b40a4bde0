#include "extension_runner/telemetry/tcp_listener.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <list>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "extension_runner/core/fd.hpp"
#include "extension_runner/core/socket.hpp"
#include "extension_runner/telemetry/records.hpp"

namespace extension_runner {
namespace {

/** A listening socket bound to `host:port`; ListenerFailed saying why not. */
Result<Fd> bind_listening(const std::string& host, int port) {
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
  return sock;
}

/** One sender's connection and the part of a line it has sent so far. */
struct Connection {
  Fd fd;
  std::string pending;      ///< Bytes after the last newline.
  bool discarding = false;  ///< Inside an over-long line: skip to its end.
};

/**
 * Accepts connections and reads newline-separated JSON events, one poll() loop on its own
 * thread (accept and reads block; a self-pipe wakes it for stop()).
 */
class TcpServer : public ListenerServer {
 public:
  TcpServer(TelemetryQueue& queue, size_t line_limit) : queue_(queue), line_limit_(line_limit) {}
  ~TcpServer() override { stop(); }
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;

  /** Binds and listens (returning the bound port), then serves on a thread. */
  Result<int> start(const std::string& host, int port) {
    auto sock = bind_listening(host, port);
    if (!sock) return sock.error();
    auto wake = make_pipe();
    if (!wake) return wake.error();
    listen_ = std::move(*sock);
    wake_ = std::move(*wake);
    port_ = local_port(listen_.get());
    thread_ = std::thread([this] { run(); });
    return port_;
  }

  int port() const override { return port_; }

  void stop() override {
    if (!thread_.joinable()) return;
    stopping_ = true;
    const char byte = 0;
    (void)!::write(wake_.write.get(), &byte, 1);
    queue_.wake_pushers();
    thread_.join();
  }

 private:
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
      read_ready(connections, fds, buf);
    }
  }

  /** Reads from every connection poll() found ready; drops the ones that closed. */
  void read_ready(std::list<Connection>& connections, const std::vector<pollfd>& fds,
                  std::vector<char>& buf) {
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

  /** Queues every complete line of `c` (and the rest at EOF), waiting for room if need be. */
  void take_lines(Connection& c, bool at_eof) {
    std::vector<std::string_view> lines;
    const size_t consumed = split_lines(c, at_eof, lines);
    std::vector<TelemetryRecord> records = parse_lines(lines);
    c.pending.erase(0, std::min(consumed, c.pending.size()));
    if (c.pending.size() > line_limit_) {  // an over-long line still arriving: skip it
      queue_.count_rejected_request();
      c.pending.clear();
      c.discarding = true;
    }
    if (!records.empty()) {
      queue_.push_when_room(std::move(records), [this] { return stopping_.load(); });
    }
  }

  /**
   * The complete lines of `c.pending` (and at EOF the unterminated rest) that are worth parsing:
   * blank lines and the tail of an over-long one are skipped, an over-long one is counted as
   * rejected. Returns how many bytes of `c.pending` they took.
   */
  size_t split_lines(Connection& c, bool at_eof, std::vector<std::string_view>& lines) {
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
    return start;
  }

  /** The records of `lines`, one per line; a line that is no JSON object is counted, skipped. */
  std::vector<TelemetryRecord> parse_lines(const std::vector<std::string_view>& lines) {
    std::vector<TelemetryRecord> records;
    if (lines.empty()) return records;
    // One parse for the whole chunk; only when some line is bad, one parse per line.
    std::string body = "[";
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i > 0) body += ',';
      body.append(lines[i].data(), lines[i].size());
    }
    body += ']';
    if (auto all = parse_telemetry_batch(body); all && all->size() == lines.size()) {
      return std::move(*all);
    }
    for (const auto& line : lines) {
      auto one = parse_telemetry_batch("[" + std::string(line) + "]");
      if (one && one->size() == 1) {
        records.push_back(std::move(one->front()));
      } else {
        queue_.count_rejected_request();
      }
    }
    return records;
  }

  TelemetryQueue& queue_;
  const size_t line_limit_;
  Fd listen_;
  Pipe wake_;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<ListenerServer>> start_tcp_listener(const ListenerOptions& options,
                                                           TelemetryQueue& queue) {
  auto server = std::make_unique<TcpServer>(queue, options.body_limit);
  auto port = server->start(options.host, options.port);
  if (!port) {
    return make_error(ErrorKind::ListenerFailed,
                      "telemetry TCP listener cannot bind " + options.host + ":" +
                          std::to_string(options.port) +
                          " (EXTENSION_RUNNER_LISTEN): " + port.error().message);
  }
  return std::unique_ptr<ListenerServer>(std::move(server));
}

}  // namespace extension_runner
