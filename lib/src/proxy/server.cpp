#include "extension_runner/proxy/server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <list>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "extension_runner/core/fd.hpp"
#include "extension_runner/core/log.hpp"
#include "extension_runner/proxy/request_handler.hpp"

namespace extension_runner {
namespace {

// Upstream clients kept for the next connection: a runtime that reconnects (or a second worker
// starting) reuses an open connection to the Runtime API instead of making one.
constexpr size_t kIdleClients = 8;

Error listener_error(const std::string& what) {
  return make_error(ErrorKind::ListenerFailed, what + ": " + std::strerror(errno));
}

/** A bound, listening IPv4 socket and its address. */
Result<std::pair<Fd, HostPort>> listen_on(const HostPort& address) {
  Fd socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!socket.valid()) return listener_error("socket");
  const int one = 1;
  // A restarted extension can rebind its configured port while old connections linger.
  ::setsockopt(socket.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(address.port);
  if (::inet_pton(AF_INET, address.host.c_str(), &addr.sin_addr) != 1) {
    return make_error(ErrorKind::ConfigInvalid, "not an IPv4 address: " + address.host);
  }
  if (::bind(socket.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return listener_error("binding the proxy to " + address.to_string());
  }
  if (::listen(socket.get(), SOMAXCONN) != 0) return listener_error("listen");
  socklen_t length = sizeof addr;
  if (::getsockname(socket.get(), reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
    return listener_error("getsockname");
  }
  return std::make_pair(std::move(socket), HostPort{address.host, ntohs(addr.sin_port)});
}

}  // namespace

/** One runtime connection and the thread serving it. */
struct ProxyConnection {
  ProxyConnection(Fd socket, std::unique_ptr<UpstreamClient> client)
      : runtime(std::move(socket)), upstream(std::move(client)) {}
  RuntimeConnection runtime;
  std::unique_ptr<UpstreamClient> upstream;
  std::thread thread;
  std::atomic<bool> finished{false};
};

struct ProxyServer::State {
  State(ProxyOptions o, InvocationHooks& h) : options(std::move(o)), hooks(h) {}

  ProxyOptions options;
  InvocationHooks& hooks;
  ProxyStats stats;
  InvocationTable invocations;
  HookPolicy policy{hooks, options, stats};
  std::unique_ptr<ObserveQueue> observe;
  Fd listener;
  Pipe wake;  ///< stop() → the accept thread.
  std::thread acceptor;

  std::mutex mutex;  ///< What follows, between the accept thread, stop() and counters().
  std::list<std::unique_ptr<ProxyConnection>> connections;
  std::vector<std::unique_ptr<UpstreamClient>> idle_clients;
  bool started = false;
  bool stopping = false;

  void accept_loop();
  void admit(Fd socket);
  void serve(ProxyConnection& connection);
  void reap();  ///< mutex held: joins finished connections.
  void shut_all();
};

void ProxyServer::State::accept_loop() {
  while (true) {
    pollfd fds[2] = {{listener.get(), POLLIN, 0}, {wake.read.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      log_error(std::string("proxy: poll failed, no more runtime connections: ") +
                std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    Fd socket(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!socket.valid()) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        log_error(std::string("proxy: cannot accept a runtime connection: ") +
                  std::strerror(errno));
        // Out of descriptors: back off instead of spinning on a listener that stays readable.
        pollfd wait_for_stop{wake.read.get(), POLLIN, 0};
        if (::poll(&wait_for_stop, 1, 100) > 0) return;
      }
      continue;
    }
    const int one = 1;
    // Relayed chunks and small answers must not wait for Nagle behind a delayed ACK.
    ::setsockopt(socket.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    admit(std::move(socket));
  }
}

namespace {

/** Answers a connection the proxy cannot serve with 503, and closes it. */
void refuse(Fd socket, const std::string& why) {
  log_error("proxy: refusing a runtime connection with 503: " + why);
  RuntimeConnection refused(std::move(socket));
  (void)write_error_answer(refused, 503, error_type(ErrorKind::ListenerFailed), why);
}

}  // namespace

void ProxyServer::State::admit(Fd socket) {
  std::lock_guard<std::mutex> lock(mutex);
  reap();
  if (connections.size() >= options.max_connections) {
    refuse(std::move(socket), std::to_string(connections.size()) +
                                  " runtime connections are served already (the most at once)");
    return;
  }
  std::unique_ptr<UpstreamClient> client;
  if (!idle_clients.empty()) {
    client = std::move(idle_clients.back());
    idle_clients.pop_back();
  } else {
    client =
        std::make_unique<UpstreamClient>(options.upstream, options.upstream_connect_timeout_ms);
  }
  auto connection = std::make_unique<ProxyConnection>(Fd(socket.release()), std::move(client));
  ProxyConnection& c = *connection;
  try {
    c.thread = std::thread([this, &c] { serve(c); });
  } catch (const std::system_error& e) {
    // Out of threads (EAGAIN): this runtime gets an answer, the proxy keeps serving the others.
    idle_clients.push_back(std::move(c.upstream));
    refuse(Fd(c.runtime.release()), std::string("no thread for it: ") + e.what());
    return;
  }
  connections.push_back(std::move(connection));
}

void ProxyServer::State::serve(ProxyConnection& connection) {
  RequestHandler handler(ProxyShared{options, stats, invocations, policy, *observe},
                         connection.runtime, *connection.upstream);
  while (true) {
    auto head = connection.runtime.read_head();
    if (!head.ok()) {
      const std::string& why = head.error().message;
      if (head.error().kind == ErrorKind::InvalidInput) {
        log_warn("proxy: refused a runtime request: " + why);
        const int status = why.rfind("431", 0) == 0 ? 431 : 400;
        (void)write_error_answer(connection.runtime, status, error_type(ErrorKind::InvalidInput),
                                 why.substr(4));
      } else {
        log_debug("proxy: a runtime connection ended: " + why);
      }
      break;
    }
    if (!head.value() || !handler.serve(*head.value())) break;
  }
  handler.connection_ended();
  // The runtime sees the end now; the descriptor itself goes when the thread is reaped.
  connection.runtime.shutdown();
  connection.finished = true;
}

void ProxyServer::State::reap() {
  for (auto it = connections.begin(); it != connections.end();) {
    if (!(*it)->finished) {
      ++it;
      continue;
    }
    (*it)->thread.join();
    if (idle_clients.size() < kIdleClients) idle_clients.push_back(std::move((*it)->upstream));
    it = connections.erase(it);
  }
}

void ProxyServer::State::shut_all() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    for (auto& c : connections) {
      c->runtime.shutdown();
      c->upstream->cancel();
    }
  }
  // The accept thread is gone: nothing adds connections any more.
  for (auto& c : connections) c->thread.join();
  std::lock_guard<std::mutex> lock(mutex);
  connections.clear();
  idle_clients.clear();
}

ProxyServer::ProxyServer(ProxyOptions options, InvocationHooks& hooks)
    : state_(std::make_unique<State>(std::move(options), hooks)) {}

ProxyServer::~ProxyServer() { stop(0); }

Result<HostPort> ProxyServer::start() {
  State& s = *state_;
  if (s.started) return make_error(ErrorKind::ListenerFailed, "the proxy was started already");
  if (auto valid = validate_proxy_options(s.options); !valid.ok()) return valid.error();
  auto bound = listen_on(s.options.listen);
  if (!bound.ok()) return bound.error();
  auto wake = make_pipe();
  if (!wake.ok()) return wake.error();
  s.listener = std::move(bound->first);
  s.wake = std::move(wake.value());
  s.observe = std::make_unique<ObserveQueue>(s.hooks, s.options.observe_queue_items,
                                             s.options.observe_queue_bytes);
  s.started = true;
  s.acceptor = std::thread([&s] { s.accept_loop(); });
  log_info("proxy: serving the Runtime API on " + bound->second.to_string() + " for " +
           s.options.upstream.to_string() + " (" + proxy_mode_name(s.options.mode) +
           ", hooks fail " + fail_policy_name(s.options.fail) + ")");
  return bound->second;
}

void ProxyServer::stop(int64_t drain_budget_ms) {
  State& s = *state_;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    if (!s.started || s.stopping) return;
    s.stopping = true;
  }
  const char byte = 1;
  (void)write_all(s.wake.write.get(), &byte, 1);
  s.acceptor.join();
  s.listener.reset();
  s.shut_all();
  s.observe->stop(drain_budget_ms);
}

bool ProxyServer::await_invocation(const std::string& request_id,
                                   std::chrono::steady_clock::time_point until) {
  State& s = *state_;
  // A runtime that uses the proxy asks it for its first event before any invocation starts.
  if (!s.observe || s.stats.requests.load(std::memory_order_relaxed) == 0) return false;
  return s.observe->await(request_id, until);
}

ProxyCounters ProxyServer::counters() const {
  ProxyCounters counters = state_->stats.snapshot();
  if (state_->observe) counters.observe_dropped = state_->observe->dropped();
  return counters;
}

}  // namespace extension_runner
