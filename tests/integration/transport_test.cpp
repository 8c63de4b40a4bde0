// HttpClient and ExtensionsClient against raw-socket fakes on 127.0.0.1:0 that misbehave one
// way each: the words in the error say what happened, with the CURLcode.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <functional>
#include <future>
#include <string>
#include <thread>

#include "extension_runner/core/fd.hpp"
#include "extension_runner/lambda/extensions_api.hpp"
#include "extension_runner/lambda/http.hpp"

using namespace extension_runner;
using std::chrono::milliseconds;

namespace {

/** A listening socket on 127.0.0.1:0. Until serve() it accepts (in the kernel) and never answers.
 */
class RawServer {
 public:
  RawServer() : listen_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    REQUIRE(listen_.valid());
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listen_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listen_.get(), 8) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
  }
  ~RawServer() {
    if (thread_.joinable()) thread_.join();
  }

  /** Accepts one connection, reads the request head, then runs `act` on the socket. */
  void serve(std::function<void(int)> act) {
    thread_ = std::thread([this, act = std::move(act)] {
      Fd conn(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!conn.valid()) return;
      std::string head;
      char c;
      while (head.find("\r\n\r\n") == std::string::npos && ::read(conn.get(), &c, 1) == 1) {
        head.push_back(c);
      }
      act(conn.get());
    });
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  Fd listen_;
  int port_ = 0;
  std::thread thread_;
};

void send_text(int fd, const std::string& text) { (void)write_all(fd, text.data(), text.size()); }

HttpRequest get_request() {
  HttpRequest r;
  r.path = "/2020-01-01/extension/event/next";
  return r;
}

const HttpTimeouts kShort{milliseconds(1000), milliseconds(300)};

}  // namespace

TEST_CASE("transport: each way a peer can fail is named, with its CURLcode") {
  struct Case {
    const char* what;
    std::function<void(int)> act;  // null: never answer
    std::string words;
  };
  const std::vector<Case> cases = {
      {"never answers", nullptr, "connection accepted, but no answer within 300 ms (CURLcode 28)"},
      {"closes at once", [](int) {}, "connection closed without an answer (CURLcode 52)"},
      {"closes mid-body",
       [](int fd) { send_text(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"); },
       "connection closed in the middle of the body (CURLcode 18)"},
      {"stops mid-body",
       [](int fd) {
         send_text(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
         char c;
         (void)::read(fd, &c, 1);  // holds the connection until the client gives up
       },
       "the answer started but did not complete within 300 ms (CURLcode 28)"},
      {"resets",
       [](int fd) {
         const linger abort_on_close{1, 0};  // close() then sends RST instead of FIN
         ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
       },
       "connection reset by the peer (CURLcode 56, errno 104)"},
      {"answers garbage", [](int fd) { send_text(fd, "SSH-2.0-OpenSSH\r\n\r\n"); },
       "the answer is not HTTP (CURLcode"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    RawServer server;
    if (c.act) server.serve(c.act);
    HttpClient client(server.address());
    auto response = client.send(get_request(), kShort);
    REQUIRE_FALSE(response.ok());
    CHECK(response.error().kind == ErrorKind::ApiUnreachable);
    CHECK_THAT(response.error().message,
               Catch::StartsWith("GET http://" + server.address() + "/2020-01-01/extension/"));
    CHECK_THAT(response.error().message, Catch::Contains(c.words));
    REQUIRE(client.last_failure().has_value());
  }
}

TEST_CASE("transport: a closed port is 'connection refused', errno included") {
  HttpClient client("127.0.0.1:1");
  auto response = client.send(get_request(), kShort);
  REQUIRE_FALSE(response.ok());
  CHECK_THAT(response.error().message,
             Catch::Contains("connection refused") && Catch::Contains("(CURLcode 7, errno 111)"));
  CHECK_FALSE(client.last_failure()->timed_out());
}

TEST_CASE(
    "transport: register, subscribe, init/error and exit/error are bounded but /next is not") {
  const ErrorReport report{"Extension.Test", "x", {}};
  const std::vector<std::pair<std::string, std::function<std::string(ExtensionsClient&)>>> calls = {
      {"register", [](ExtensionsClient& c) { return c.register_extension("ext").error().message; }},
      {"init/error", [&](ExtensionsClient& c) { return c.init_error(report).error().message; }},
      {"exit/error", [&](ExtensionsClient& c) { return c.exit_error(report).error().message; }},
      {"subscribe",
       [](ExtensionsClient& c) {
         HttpRequest put;
         put.method = "PUT";
         put.path = "/2022-07-01/telemetry";
         put.body = "{}";
         return c.send(put).error().message;
       }},
  };
  for (const auto& [what, call] : calls) {
    INFO(what);
    RawServer server;  // accepts, never answers
    ExtensionsClient client(server.address(), bounded_call_timeouts(200));
    const std::string message = call(client);
    CHECK_THAT(message, Catch::Contains("no answer within 200 ms (CURLcode 28)"));
    CHECK_THAT(message, Catch::Contains("EXTENSION_RUNNER_API_TIMEOUT_MS=200"));
  }
  // /next waits however long the answer takes: it is still waiting after a call bounded the
  // same way, started after /next's request arrived, has timed out.
  RawServer slow;
  std::promise<void> arrived, release;
  slow.serve([&](int fd) {
    arrived.set_value();
    release.get_future().wait();
    send_text(fd, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\n{}");
  });
  ExtensionsClient client(slow.address(), bounded_call_timeouts(200));
  Result<Event> event = make_error(ErrorKind::Cancelled, "not run");
  std::thread next([&] { event = client.next_event(); });
  arrived.get_future().wait();
  RawServer silent;
  ExtensionsClient other(silent.address(), bounded_call_timeouts(200));
  CHECK_THAT(other.register_extension("ext").error().message, Catch::Contains("CURLcode 28"));
  release.set_value();
  next.join();
  REQUIRE_FALSE(event.ok());
  CHECK(event.error().kind == ErrorKind::ApiFatal);  // the answer, not a timeout
}
