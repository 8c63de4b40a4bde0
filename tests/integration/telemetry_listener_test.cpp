#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <thread>

#include "extension_runner/core/fd.hpp"
#include "extension_runner/telemetry/listener.hpp"

using namespace extension_runner;

namespace {

using Clock = TelemetryQueue::Clock;

Clock::time_point generous() { return Clock::now() + std::chrono::seconds(30); }

ListenerOptions local(bool accept_put = false, size_t body_limit = 1 << 20) {
  ListenerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.accept_put = accept_put;
  o.body_limit = body_limit;
  return o;
}

std::string record(int n, const std::string& type = "function") {
  return R"({"time":"2024-01-01T00:00:00.000Z","type":")" + type + R"(","record":"line )" +
         std::to_string(n) + "\"}";
}

std::string batch(int first, int count) {
  std::string body = "[";
  for (int i = first; i < first + count; ++i) body += (i == first ? "" : ",") + record(i);
  return body + "]";
}

int status_of(const httplib::Result& res) { return res ? res->status : -1; }

/** POSTs `body` with chunked transfer encoding (no Content-Length), in pieces of `piece`. */
httplib::Result post_chunked(httplib::Client& client, const std::string& body, size_t piece = 7) {
  return client.Post(
      "/",
      [&body, piece](size_t offset, httplib::DataSink& sink) {
        if (offset >= body.size()) {
          sink.done();
        } else {
          sink.write(body.data() + offset, std::min(piece, body.size() - offset));
        }
        return true;
      },
      "application/json");
}

void check_accounting(const TelemetryCounters& c) {
  CHECK(c.received == c.delivered + c.dropped + c.queued + c.in_flight);
}

}  // namespace

TEST_CASE("telemetry listener: a POSTed batch is queued exactly as sent") {
  TelemetryQueue queue(100, 1 << 20);
  auto listener = TelemetryListener::start(local(), queue);
  REQUIRE(listener.ok());
  CHECK(listener->port() > 0);
  httplib::Client client("127.0.0.1", listener->port());
  const std::string a =
      R"({"time":"t","type":"platform.start","record":{"requestId":"r1","version":"$LATEST"}})";
  const std::string b = R"({"time":"t","type":"function","record":{"message":"json log"}})";
  auto res = client.Post("/?x=1", "[" + a + ",\n " + b + "]", "application/json");
  REQUIRE(status_of(res) == 200);
  auto popped = queue.pop_batch(10, 1 << 20, generous());
  REQUIRE(popped.records.size() == 2);
  CHECK(popped.records[0].raw == a);
  CHECK(popped.records[1].raw == b);
  CHECK(popped.records[0].request_id == "r1");
}

TEST_CASE("telemetry listener: bad requests get a 4xx, are counted and change nothing else") {
  struct Case {
    std::string method;
    std::string body;
    bool logs_mode;
    int status;
  };
  const std::string big = "[" + record(0) + "," + std::string(5000, ' ') + "]";
  const std::vector<Case> cases = {
      {"GET", "", false, 405},
      {"DELETE", "", false, 405},
      {"PUT", batch(0, 1), false, 405},  // Telemetry API delivers by POST only [TEL]
      {"POST", "not json", false, 400},
      {"POST", "", false, 400},
      {"POST", R"({"type":"function","record":"x"})", false, 400},
      {"POST", "[1,2,3]", false, 400},
      {"POST", big, false, 413},
      {"POST chunked", big, false, 413},  // no Content-Length: the limit is checked as it arrives
      {"POST multipart", "", false, 400},
      {"PUT", "nope", true, 400},
  };
  for (const auto& c : cases) {
    INFO(c.method << " " << c.body.substr(0, 40) << (c.logs_mode ? " (logs mode)" : ""));
    TelemetryQueue queue(100, 1 << 20);
    auto listener = TelemetryListener::start(local(c.logs_mode, 4096), queue);
    REQUIRE(listener.ok());
    httplib::Client client("127.0.0.1", listener->port());
    httplib::Result res{nullptr, httplib::Error::Unknown};
    if (c.method == "GET") res = client.Get("/");
    if (c.method == "DELETE") res = client.Delete("/");
    if (c.method == "PUT") res = client.Put("/", c.body, "application/json");
    if (c.method == "POST") res = client.Post("/", c.body, "application/json");
    if (c.method == "POST chunked") res = post_chunked(client, c.body);
    if (c.method == "POST multipart")
      res = client.Post("/", httplib::MultipartFormDataItems{{"a", "b", "", ""}});
    CHECK(status_of(res) == c.status);
    // The listener still serves a good batch afterwards.
    CHECK(status_of(client.Post("/", batch(0, 2), "application/json")) == 200);
    auto counters = queue.counters();
    CHECK(counters.rejected_requests == 1);
    CHECK(counters.received == 2);
    CHECK(counters.queued == 2);
  }
}

TEST_CASE("telemetry listener: the Logs API may deliver by PUT [LOGS]") {
  TelemetryQueue queue(100, 1 << 20);
  auto listener = TelemetryListener::start(local(true), queue);
  REQUIRE(listener.ok());
  httplib::Client client("127.0.0.1", listener->port());
  CHECK(status_of(client.Put("/", batch(0, 3), "application/json")) == 200);
  CHECK(status_of(client.Post("/", batch(3, 1), "application/json")) == 200);
  CHECK(queue.counters().queued == 4);
}

TEST_CASE("telemetry listener: a full queue pushes back with 503 and counts what it refused") {
  TelemetryQueue queue(10, 1 << 20);
  auto listener = TelemetryListener::start(local(), queue);
  REQUIRE(listener.ok());
  httplib::Client client("127.0.0.1", listener->port());
  CHECK(status_of(client.Post("/", batch(0, 8), "application/json")) == 200);
  auto refused = client.Post("/", batch(8, 3), "application/json");
  CHECK(status_of(refused) == kPushbackStatus);
  CHECK(status_of(client.Post("/", batch(8, 2), "application/json")) == 200);
  auto c = queue.counters();
  CHECK(c.received == 13);
  CHECK(c.queued == 10);
  CHECK(c.dropped == 3);
  CHECK(c.refused_batches == 1);
  CHECK(c.rejected_requests == 1);
  check_accounting(c);
  // Once the consumer catches up, the retried batch is accepted.
  auto b = queue.pop_batch(100, 1 << 20, generous());
  queue.complete(b, true);
  CHECK(status_of(client.Post("/", batch(8, 3), "application/json")) == 200);
  c = queue.counters();
  CHECK(c.delivered == 10);
  check_accounting(c);
}

TEST_CASE("telemetry listener: a body the queue's bytes have no room for is counted, not kept") {
  // Room for a batch of 5 only because an empty queue takes any batch; then none for a body.
  TelemetryQueue queue(1000, 600);
  auto listener = TelemetryListener::start(local(), queue);
  REQUIRE(listener.ok());
  httplib::Client client("127.0.0.1", listener->port());
  CHECK(status_of(client.Post("/", batch(0, 5), "application/json")) == 200);
  // Refused before reading (Content-Length) and while arriving (chunked): 503, records counted.
  CHECK(status_of(client.Post("/", batch(5, 4), "application/json")) == kPushbackStatus);
  CHECK(status_of(post_chunked(client, batch(5, 3))) == kPushbackStatus);
  auto c = queue.counters();
  CHECK(c.received == 5 + 4 + 3);
  CHECK(c.dropped == 4 + 3);
  CHECK(c.refused_batches == 2);
  CHECK(c.queued == 5);
  check_accounting(c);
  // Drained, the queue takes the chunked retry, exactly as sent.
  queue.complete(queue.pop_batch(100, 1 << 20, generous()), true);
  CHECK(status_of(post_chunked(client, batch(5, 3))) == 200);
  auto popped = queue.pop_batch(100, 1 << 20, generous());
  REQUIRE(popped.records.size() == 3);
  CHECK(popped.records[2].raw == record(7));
  c = queue.counters();
  CHECK(c.received == 15);
  check_accounting(c);
}

TEST_CASE("telemetry listener: 10 000 records in numbered batches, none lost, order kept") {
  constexpr int kRecords = 12000;
  constexpr int kPerBatch = 37;        // deliberately not a divisor
  TelemetryQueue queue(500, 1 << 20);  // small: the producer meets pushback and retries
  auto listener = TelemetryListener::start(local(), queue);
  REQUIRE(listener.ok());

  std::vector<std::string> seen;
  std::thread consumer([&] {
    while (seen.size() < static_cast<size_t>(kRecords)) {
      auto b = queue.pop_batch(100, 1 << 20, generous());
      if (b.empty()) break;  // did not hang: the deadline passed
      for (const auto& r : b.records) seen.push_back(r.raw);
      queue.complete(b, true);
    }
  });
  httplib::Client client("127.0.0.1", listener->port());
  int pushbacks = 0;
  for (int first = 0; first < kRecords;) {
    const int count = std::min(kPerBatch, kRecords - first);
    const int status = status_of(client.Post("/", batch(first, count), "application/json"));
    if (status == kPushbackStatus) {
      ++pushbacks;  // as Lambda does: retry the same batch
      queue.wait_until_drained(Clock::now() + std::chrono::milliseconds(50));
      continue;
    }
    REQUIRE(status == 200);
    first += count;
  }
  consumer.join();
  REQUIRE(seen.size() == static_cast<size_t>(kRecords));
  for (int i = 0; i < kRecords; ++i) {
    if (seen[static_cast<size_t>(i)] != record(i)) FAIL("record " << i << " out of order/lost");
  }
  auto c = queue.counters();
  CHECK(c.delivered == static_cast<uint64_t>(kRecords));
  CHECK(c.received == c.delivered + c.dropped);
  CHECK(c.refused_batches == static_cast<uint64_t>(pushbacks));
  CHECK(c.queued == 0);
}

TEST_CASE("telemetry listener: wait_for_runtime_done sees a runtimeDone POSTed later") {
  TelemetryQueue queue(100, 1 << 20);
  auto listener = TelemetryListener::start(local(), queue);
  REQUIRE(listener.ok());
  std::thread consumer([&] {
    for (int delivered = 0; delivered < 2;) {
      auto b = queue.pop_batch(100, 1 << 20, generous());
      if (b.empty()) return;
      delivered += static_cast<int>(b.records.size());
      queue.complete(b, true);
    }
  });
  std::thread lambda([&] {
    httplib::Client client("127.0.0.1", listener->port());
    client.Post("/", "[" + record(1) + "]", "application/json");
    client.Post(
        "/",
        R"([{"time":"t","type":"platform.runtimeDone","record":{"requestId":"inv-7","status":"success"}}])",
        "application/json");
  });
  CHECK(queue.wait_for_runtime_done("inv-7", generous()));
  lambda.join();
  consumer.join();
  CHECK(queue.counters().delivered == 2);
}

TEST_CASE("telemetry listener: a taken port is a ListenerFailed error, and stop is idempotent") {
  TelemetryQueue queue(10, 1 << 20);
  auto first = TelemetryListener::start(local(), queue);
  REQUIRE(first.ok());
  auto options = local();
  options.port = first->port();
  auto second = TelemetryListener::start(options, queue);
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().kind == ErrorKind::ListenerFailed);
  // Names the setting and the system's reason.
  CHECK_THAT(second.error().message, Catch::Contains("(EXTENSION_RUNNER_LISTEN)") &&
                                         Catch::Contains("Address already in use"));
  first->stop();
  first->stop();
  httplib::Client client("127.0.0.1", options.port);
  CHECK_FALSE(client.Post("/", batch(0, 1), "application/json"));
}

TEST_CASE("telemetry listener: options from the telemetry settings") {
  TelemetryOptions telemetry;
  telemetry.mode = TelemetryMode::Logs;
  telemetry.listen = "127.0.0.1:4243";
  auto o = listener_options(telemetry);
  REQUIRE(o.ok());
  CHECK(o->host == "127.0.0.1");
  CHECK(o->port == 4243);
  CHECK(o->accept_put);
  CHECK(o->body_limit ==
        listener_body_limit(telemetry.buffer_max_bytes, telemetry.buffer_max_items));
  CHECK(o->body_limit > 2 * static_cast<size_t>(telemetry.buffer_max_bytes));
}

namespace {

/** A connected TCP socket to 127.0.0.1:port (as Lambda connects at subscribe time). */
Fd connect_tcp(int port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

ListenerOptions local_tcp(size_t line_limit = 1 << 20) {
  auto o = local(false, line_limit);
  o.protocol = TelemetryProtocol::Tcp;
  return o;
}

}  // namespace

TEST_CASE("telemetry listener, TCP: 10 000 records as JSON lines, none lost, order kept") {
  constexpr int kRecords = 10000;
  // Small: the reader must stop reading (TCP has no 503) rather than drop anything.
  TelemetryQueue queue(300, 1 << 20);
  auto listener = TelemetryListener::start(local_tcp(), queue);
  REQUIRE(listener.ok());
  std::vector<std::string> seen;
  std::thread consumer([&] {
    while (seen.size() < static_cast<size_t>(kRecords)) {
      auto b = queue.pop_batch(64, 1 << 20, generous());
      if (b.empty()) break;  // did not hang: the deadline passed
      for (const auto& r : b.records) seen.push_back(r.raw);
      queue.complete(b, true);
    }
  });
  std::string stream;
  for (int i = 0; i < kRecords; ++i) (stream += record(i)) += '\n';
  Fd sock = connect_tcp(listener->port());
  // Writes cut at odd places (mid-record, mid-line) as a stream may be.
  for (size_t at = 0; at < stream.size();) {
    const size_t n = std::min<size_t>(4093, stream.size() - at);
    REQUIRE(write_all(sock.get(), stream.data() + at, n).ok());
    at += n;
  }
  consumer.join();
  REQUIRE(seen.size() == static_cast<size_t>(kRecords));
  for (int i = 0; i < kRecords; ++i) {
    if (seen[static_cast<size_t>(i)] != record(i)) FAIL("record " << i << " out of order/lost");
  }
  const auto c = queue.counters();
  CHECK(c.received == static_cast<uint64_t>(kRecords));
  CHECK(c.delivered == static_cast<uint64_t>(kRecords));
  CHECK(c.dropped == 0);
  CHECK(c.refused_batches == 0);
}

TEST_CASE("telemetry listener, TCP: bad and over-long lines are counted and skipped") {
  TelemetryQueue queue(100, 1 << 20);
  auto listener = TelemetryListener::start(local_tcp(200), queue);
  REQUIRE(listener.ok());
  {
    Fd sock = connect_tcp(listener->port());
    const std::string text = record(1) + "\nnot json\n[1,2]\n" + std::string(500, 'x') + "\n" +
                             record(2) + "\r\n\n" + record(3);  // the last line ends at EOF
    REQUIRE(write_all(sock.get(), text.data(), text.size()).ok());
  }  // closing the connection ends the last line
  std::vector<std::string> seen;
  while (seen.size() < 3) {
    auto b = queue.pop_batch(64, 1 << 20, generous());
    REQUIRE_FALSE(b.empty());
    for (const auto& r : b.records) seen.push_back(r.raw);
    queue.complete(b, true);
  }
  CHECK(seen == std::vector<std::string>{record(1), record(2), record(3)});
  listener->stop();  // joins the reader: every line has been looked at
  CHECK(queue.counters().rejected_requests == 3);
}

TEST_CASE("telemetry listener, TCP: stop() returns while the reader waits for queue room") {
  TelemetryQueue queue(1, 1 << 20);
  auto listener = TelemetryListener::start(local_tcp(), queue);
  REQUIRE(listener.ok());
  Fd sock = connect_tcp(listener->port());
  const std::string text = record(1) + "\n";
  REQUIRE(write_all(sock.get(), text.data(), text.size()).ok());
  while (queue.counters().queued == 0) queue.wait_for_batch_after(0, generous());
  const std::string more = record(2) + "\n";  // no room: the reader waits
  REQUIRE(write_all(sock.get(), more.data(), more.size()).ok());
  listener->stop();
  const auto c = queue.counters();
  CHECK(c.received == c.delivered + c.dropped + c.queued + c.in_flight);  // nothing uncounted
}
