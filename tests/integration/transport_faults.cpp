#include "transport_faults.hpp"

#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>

namespace test_support {

using extension_runner::Endpoint;
using extension_runner::HookAnswer;

namespace {

int port_of(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
  if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
  return -1;
}

// cpp-httplib hands handlers no socket: find the connection by its two ports among our fds.
int connection_fd(int local_port, int remote_port) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    const int fd = std::atoi(entry.path().filename().c_str());
    sockaddr_storage local{}, remote{};
    socklen_t local_len = sizeof local, remote_len = sizeof remote;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) continue;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &remote_len) != 0) continue;
    if (port_of(local) == local_port && port_of(remote) == remote_port) return fd;
  }
  return -1;
}

// Breaks the call's connection: an RST (Reset) or a FIN (CloseBeforeAnswer).
HookAnswer break_connection(const httplib::Request& req, Transport kind) {
  const int fd = connection_fd(req.local_port, req.remote_port);
  if (fd >= 0 && kind == Transport::Reset) {
    // connect(AF_UNSPEC) disconnects a TCP socket with an RST and leaves the fd to httplib,
    // whose answer then fails and which closes the fd itself.
    sockaddr unspec{};
    unspec.sa_family = AF_UNSPEC;
    (void)::connect(fd, &unspec, sizeof unspec);
  } else if (fd >= 0) {
    ::shutdown(fd, SHUT_RDWR);
  }
  return HookAnswer{0, ""};
}

// Promises the whole body, sends half, then fails the write: httplib closes the connection.
HookAnswer cut_mid_body(httplib::Response& res, const std::string& promised) {
  const std::string body = promised.empty() ? std::string(R"({"eventType":"INVOKE","deadlineMs":1,)"
                                                          R"("requestId":"cut-short"})")
                                            : promised;
  res.status = 200;
  res.set_content_provider(body.size(), "application/json",
                           [body](size_t, size_t, httplib::DataSink& sink) {
                             sink.write(body.data(), body.size() / 2);
                             return false;
                           });
  return HookAnswer{0, body.substr(0, body.size() / 2)};
}

}  // namespace

struct TransportFaults::State {
  extension_runner::Emulator* api;
  mutable std::mutex mutex;
  std::map<Endpoint, std::deque<TransportFault>> queued;
  bool vanished = false;

  std::optional<TransportFault> take(Endpoint endpoint) {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = queued.find(endpoint);
    if (it == queued.end() || it->second.empty()) return std::nullopt;
    TransportFault taken = it->second.front();
    if (--it->second.front().times <= 0) it->second.pop_front();
    return taken;
  }

  std::optional<HookAnswer> before_route(Endpoint endpoint, const httplib::Request& req,
                                         httplib::Response& res) {
    const auto fault = take(endpoint);
    if (!fault) return std::nullopt;
    switch (fault->kind) {
      case Transport::Slow:
        api->wait_for_stop(std::chrono::milliseconds(fault->delay_ms));
        return std::nullopt;
      case Transport::VanishAfter:
        // The listener closes now; the call in progress still gets its real answer, and its
        // connection then ends: every later call is refused.
        api->stop_listening();
        {
          std::lock_guard<std::mutex> lock(mutex);
          vanished = true;
        }
        return std::nullopt;
      case Transport::Reset:
      case Transport::CloseBeforeAnswer:
        return break_connection(req, fault->kind);
      case Transport::CloseMidBody:
        return cut_mid_body(res, fault->body);
      case Transport::Body:
        res.status = fault->status;
        res.set_content(fault->body, "application/json");
        return HookAnswer{fault->status, fault->body};
    }
    return std::nullopt;
  }
};

TransportFaults::TransportFaults(extension_runner::Emulator& api)
    : state_(std::make_shared<State>()) {
  state_->api = &api;
  api.set_before_route(
      [state = state_](Endpoint endpoint, const httplib::Request& req, httplib::Response& res) {
        return state->before_route(endpoint, req, res);
      });
}

void TransportFaults::inject(Endpoint endpoint, TransportFault fault) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->queued[endpoint].push_back(std::move(fault));
}

bool TransportFaults::vanished() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->vanished;
}

}  // namespace test_support
