// docs/faults.md, listener rows not covered by telemetry_listener_test.cpp: a wrong path, a
// slow-loris connection (alone and more of them than server threads), a client that disconnects
// mid-body, 50 concurrent posters.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "extension_runner/core/fd.hpp"
#include "extension_runner/telemetry/http_listener.hpp"
#include "extension_runner/telemetry/listener.hpp"

using namespace extension_runner;

namespace {

ListenerOptions local() {
  ListenerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.body_limit = 1 << 20;
  return o;
}

std::string batch(int first, int count) {
  std::string body = "[";
  for (int i = first; i < first + count; ++i) {
    body += (i == first ? "" : ",") +
            std::string(R"({"time":"t","type":"function","record":"line )") + std::to_string(i) +
            "\"}";
  }
  return body + "]";
}

int status_of(const httplib::Result& res) { return res ? res->status : -1; }

/** A raw TCP connection to the listener, for requests no HTTP client would send. */
Fd connect_to(int port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd.valid());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

void send_all(int fd, const std::string& bytes) {
  REQUIRE(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(bytes.size()));
}

/** Whether the server closes `fd` (EOF or reset) within `timeout_ms`; anything it sends is read. */
bool closed_by_server(int fd, int timeout_ms) {
  char buf[512];
  while (true) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return false;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return true;
  }
}

}  // namespace

TEST_CASE("faults: listener refuses a POST to another path than its destination's") {
  TelemetryQueue queue(100, 1 << 20);
  auto listener = TelemetryListener::start(local(), queue);
  REQUIRE(listener.ok());
  httplib::Client client("127.0.0.1", listener->port());
  for (const char* path : {"/elsewhere", "/2022-07-01/telemetry", "//"}) {
    INFO(path);
    CHECK(status_of(client.Post(path, batch(0, 2), "application/json")) == 404);
  }
  CHECK(status_of(client.Post("/", batch(0, 2), "application/json")) == 200);
  const auto c = queue.counters();
  CHECK(c.received == 2);
  CHECK(c.rejected_requests == 3);
}

TEST_CASE("faults: slow-loris connections are dropped and never starve a real delivery") {
  TelemetryQueue queue(1000, 1 << 20);
  auto listener = TelemetryListener::start(local(), queue);
  REQUIRE(listener.ok());
  // More never-finished requests than the listener has worker threads (2, listener.cpp).
  std::vector<Fd> loris;
  for (int i = 0; i < 12; ++i) {
    loris.push_back(connect_to(listener->port()));
    send_all(loris.back().get(),
             "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n");
  }
  // A real delivery still gets through: at the latest when the read timeout (5 s, cpp-httplib's
  // default) frees the threads the slow connections hold.
  httplib::Client client("127.0.0.1", listener->port());
  client.set_read_timeout(60, 0);
  CHECK(status_of(client.Post("/", batch(0, 3), "application/json")) == 200);
  for (auto& fd : loris) CHECK(closed_by_server(fd.get(), 30000));
  const auto c = queue.counters();
  CHECK(c.received == 3);
  CHECK(c.queued == 3);
}

TEST_CASE("faults: a client that disconnects mid-body changes nothing") {
  TelemetryQueue queue(1000, 1 << 20);
  auto listener = TelemetryListener::start(local(), queue);
  REQUIRE(listener.ok());
  const std::string body = batch(0, 50);
  {
    Fd fd = connect_to(listener->port());
    send_all(fd.get(),
             "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: " +
                 std::to_string(body.size()) + "\r\n\r\n" + body.substr(0, body.size() / 2));
  }  // closed here, half the body unsent
  httplib::Client client("127.0.0.1", listener->port());
  CHECK(status_of(client.Post("/", batch(100, 2), "application/json")) == 200);
  const auto c = queue.counters();
  CHECK(c.received == 2);
  CHECK(c.queued == 2);
}

TEST_CASE("faults: 50 concurrent posters against a small queue: every record accounted for") {
  constexpr int kPosters = 50;
  constexpr int kBatches = 20;
  constexpr int kRecords = 10;
  TelemetryQueue queue(300, 1 << 20);
  auto listener = TelemetryListener::start(local(), queue);
  REQUIRE(listener.ok());
  std::atomic<bool> done{false};
  std::atomic<uint64_t> consumed{0};
  std::thread consumer([&] {
    while (!done) {
      auto b = queue.pop_batch(100, 1 << 20,
                               TelemetryQueue::Clock::now() + std::chrono::milliseconds(50));
      consumed += b.records.size();
      queue.complete(b, true);
    }
  });
  std::atomic<uint64_t> accepted{0}, refused{0}, other{0};
  std::vector<std::thread> posters;
  posters.reserve(kPosters);
  for (int p = 0; p < kPosters; ++p) {
    posters.emplace_back([&, p] {
      httplib::Client client("127.0.0.1", listener->port());
      for (int b = 0; b < kBatches; ++b) {
        auto res =
            client.Post("/", batch((p * kBatches + b) * kRecords, kRecords), "application/json");
        const int status = status_of(res);
        if (status == 200) {
          accepted += kRecords;
        } else if (status == kPushbackStatus) {
          refused += kRecords;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& t : posters) t.join();
  // Drain what is left, then stop the consumer.
  while (queue.counters().queued + queue.counters().in_flight > 0) {
    auto b = queue.pop_batch(1000, 1 << 20,
                             TelemetryQueue::Clock::now() + std::chrono::milliseconds(50));
    consumed += b.records.size();
    queue.complete(b, true);
  }
  done = true;
  consumer.join();
  const auto c = queue.counters();
  CHECK(other == 0);
  CHECK(c.received == uint64_t{kPosters} * kBatches * kRecords);
  CHECK(c.received == accepted + refused);
  CHECK(c.delivered == accepted);
  CHECK(c.delivered == consumed);
  CHECK(c.dropped == refused);
  CHECK(c.received == c.delivered + c.dropped + c.queued + c.in_flight);
}
