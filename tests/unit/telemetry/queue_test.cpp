#include "extension_runner/telemetry/queue.hpp"

#include <catch2/catch.hpp>
#include <thread>

using namespace extension_runner;

namespace {

using Clock = TelemetryQueue::Clock;

TelemetryRecord rec(const std::string& type, const std::string& request_id = "", size_t pad = 0) {
  TelemetryRecord r;
  r.type = type;
  r.request_id = request_id;
  r.raw = R"({"type":")" + type + R"(","record":{"requestId":")" + request_id + "\"," +
          R"("pad":")" + std::string(pad, 'x') + "\"}}";
  return r;
}

std::vector<TelemetryRecord> batch_of(size_t n, size_t pad = 0) {
  std::vector<TelemetryRecord> out;
  for (size_t i = 0; i < n; ++i) out.push_back(rec("function", "", pad));
  return out;
}

Clock::time_point soon() { return Clock::now() + std::chrono::milliseconds(1); }
Clock::time_point generous() { return Clock::now() + std::chrono::seconds(30); }

void check_accounting(const TelemetryCounters& c) {
  CHECK(c.received == c.delivered + c.dropped + c.queued + c.in_flight);
}

}  // namespace

TEST_CASE("telemetry queue: batches are taken whole or refused whole") {
  TelemetryQueue queue(10, 1 << 20);
  CHECK(queue.push(batch_of(6)));
  CHECK_FALSE(queue.push(batch_of(5)));  // 11 > 10 records: refused whole
  CHECK(queue.push(batch_of(4)));        // exactly full
  auto c = queue.counters();
  CHECK(c.received == 15);
  CHECK(c.queued == 10);
  CHECK(c.dropped == 5);
  CHECK(c.refused_batches == 1);
  check_accounting(c);
}

TEST_CASE("telemetry queue: the byte capacity is enforced too") {
  const size_t record_bytes = rec("function", "", 100).size();
  TelemetryQueue queue(1000, record_bytes * 3);
  CHECK(queue.push(batch_of(2, 100)));
  CHECK_FALSE(queue.push(batch_of(2, 100)));
  CHECK(queue.push(batch_of(1, 100)));
  CHECK(queue.counters().queued_bytes == record_bytes * 3);
}

TEST_CASE("telemetry queue: a batch bigger than the capacity still enters an empty queue") {
  TelemetryQueue queue(2, 1 << 20);
  CHECK(queue.push(batch_of(5)));
  CHECK_FALSE(queue.push(batch_of(1)));
  auto b = queue.pop_batch(100, 1 << 20, soon());
  CHECK(b.records.size() == 5);
  queue.complete(b, true);
  CHECK(queue.push(batch_of(1)));
}

TEST_CASE("telemetry queue: pop_batch respects record and byte limits, in order") {
  TelemetryQueue queue(100, 1 << 20);
  std::vector<TelemetryRecord> batch;
  batch.reserve(10);
  for (int i = 0; i < 10; ++i) batch.push_back(rec("function", std::to_string(i)));
  REQUIRE(queue.push(batch));
  auto first = queue.pop_batch(4, 1 << 20, soon());
  REQUIRE(first.records.size() == 4);
  CHECK(first.records[0].request_id == "0");
  CHECK(first.records[3].request_id == "3");
  const size_t one_size = first.records[0].size();
  auto second = queue.pop_batch(100, one_size * 2 + 1, soon());
  REQUIRE(second.records.size() == 2);
  CHECK(second.records[0].request_id == "4");
  auto tiny = queue.pop_batch(100, 1, soon());  // always at least one record
  REQUIRE(tiny.records.size() == 1);
  CHECK(tiny.records[0].request_id == "6");
  auto c = queue.counters();
  CHECK(c.in_flight == 7);
  CHECK(c.queued == 3);
  check_accounting(c);
  queue.complete(first, true);
  queue.complete(second, false);
  queue.complete(tiny, true);
  c = queue.counters();
  CHECK(c.delivered == 5);
  CHECK(c.dropped == 2);
  check_accounting(c);
}

TEST_CASE("telemetry queue: pop_batch on an empty queue returns empty at the deadline") {
  TelemetryQueue queue(10, 1 << 20);
  CHECK(queue.pop_batch(10, 1 << 20, soon()).empty());
  queue.close();
  CHECK(queue.pop_batch(10, 1 << 20, generous()).empty());  // closed: no wait
}

TEST_CASE("telemetry queue: logsDropped records are counted by droppedRecords") {
  TelemetryQueue queue(10, 1 << 20);
  auto r = rec("platform.logsDropped");
  r.dropped_records = 42;
  REQUIRE(queue.push({r, r}));
  CHECK(queue.counters().logs_dropped_records == 84);
}

TEST_CASE("telemetry queue: a producer wakes a waiting consumer") {
  TelemetryQueue queue(10, 1 << 20);
  std::thread producer([&] { queue.push({rec("function", "p")}); });
  auto b = queue.pop_batch(10, 1 << 20, generous());
  producer.join();
  REQUIRE(b.records.size() == 1);
  CHECK(b.records[0].request_id == "p");
}

TEST_CASE("telemetry queue: wait_for_runtime_done returns once the record is completed") {
  TelemetryQueue queue(100, 1 << 20);
  SECTION("runtimeDone delivered by a consumer thread") {
    REQUIRE(queue.push({rec("platform.start", "req-1"), rec("function", "req-1")}));
    CHECK_FALSE(queue.wait_for_runtime_done("req-1", soon()));
    std::thread consumer([&] {
      REQUIRE(queue.push({rec("platform.runtimeDone", "req-1")}));
      for (int popped = 0; popped < 3;) {
        auto b = queue.pop_batch(1, 1 << 20, generous());
        popped += static_cast<int>(b.records.size());
        queue.complete(b, true);
      }
    });
    CHECK(queue.wait_for_runtime_done("req-1", generous()));
    consumer.join();
    CHECK(queue.counters().delivered == 3);
  }
  SECTION("platform.report counts too, and popped-but-not-completed does not") {
    REQUIRE(queue.push({rec("platform.report", "req-2")}));
    auto b = queue.pop_batch(10, 1 << 20, soon());
    CHECK_FALSE(queue.wait_for_runtime_done("req-2", soon()));
    queue.complete(b, false);  // undeliverable still ends the wait
    CHECK(queue.wait_for_runtime_done("req-2", soon()));
  }
  SECTION("other request ids and types do not satisfy the wait") {
    REQUIRE(queue.push({rec("platform.runtimeDone", "other"), rec("platform.start", "req-3")}));
    queue.complete(queue.pop_batch(10, 1 << 20, soon()), true);
    CHECK_FALSE(queue.wait_for_runtime_done("req-3", soon()));
    CHECK(queue.wait_for_runtime_done("other", soon()));
  }
  SECTION("close() ends a wait") {
    std::thread closer([&] { queue.close(); });
    CHECK_FALSE(queue.wait_for_runtime_done("never", generous()));
    closer.join();
  }
}

TEST_CASE("telemetry queue: wait_until_drained") {
  TelemetryQueue queue(100, 1 << 20);
  CHECK(queue.wait_until_drained(soon()));
  REQUIRE(queue.push(batch_of(3)));
  CHECK_FALSE(queue.wait_until_drained(soon()));
  std::thread consumer([&] {
    auto b = queue.pop_batch(100, 1 << 20, generous());
    queue.complete(b, true);
  });
  CHECK(queue.wait_until_drained(generous()));
  consumer.join();
}

TEST_CASE("telemetry queue: counters line") {
  TelemetryQueue queue(1, 1 << 20);
  REQUIRE(queue.push(batch_of(1)));
  REQUIRE_FALSE(queue.push(batch_of(1)));
  queue.count_rejected_request();
  CHECK(queue.counters().to_line() ==
        "telemetry: received=2 delivered=0 dropped=1 refused_batches=1 rejected_requests=1 "
        "logs_dropped_seen=0 queued=1 flush_waits=0 flush_skipped=0 flush_silent=0 "
        "flush_deadline=0");
}

TEST_CASE("telemetry queue: an invocation wait is bounded by evidence") {
  using W = TelemetryQueue::InvocationWait;
  struct Case {
    const char* what;
    std::vector<TelemetryRecord> received;  // pushed before the wait
    bool delivered;                         // popped and completed before the wait
    W expected;
  };
  const std::vector<Case> cases = {
      {"nothing at all: silent", {}, false, W::Silent},
      {"another invocation's records only: silent",
       {rec("platform.start", "other")},
       false,
       W::Silent},
      {"its platform.start arrived: keeps waiting, until the deadline",
       {rec("platform.start", "req")},
       false,
       W::Deadline},
      {"its runtimeDone was delivered: done",
       {rec("platform.start", "req"), rec("platform.runtimeDone", "req")},
       true,
       W::Done},
      {"its runtimeDone is queued, not yet delivered: still waiting",
       {rec("platform.runtimeDone", "req")},
       false,
       W::Deadline},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    TelemetryQueue queue(100, 1 << 20);
    if (!c.received.empty()) REQUIRE(queue.push(c.received));
    if (c.delivered) queue.complete(queue.pop_batch(100, 1 << 20, soon()), true);
    // Evidence was due already; the deadline is a moment away.
    CHECK(queue.wait_for_invocation("req", Clock::now(), soon()) == c.expected);
  }
}

TEST_CASE("telemetry queue: an invocation wait ends when its runtimeDone is delivered later") {
  TelemetryQueue queue(100, 1 << 20);
  REQUIRE(queue.push({rec("platform.start", "req")}));
  std::thread consumer([&] {
    REQUIRE(queue.push({rec("platform.runtimeDone", "req")}));
    queue.complete(queue.pop_batch(100, 1 << 20, generous()), true);
  });
  CHECK(queue.wait_for_invocation("req", Clock::now(), generous()) ==
        TelemetryQueue::InvocationWait::Done);
  consumer.join();
}

TEST_CASE("telemetry queue: wait_for_batch_after sees only newer batches") {
  TelemetryQueue queue(100, 1 << 20);
  REQUIRE(queue.push(batch_of(1)));
  const auto seen = queue.counters().accepted_batches;
  CHECK(seen == 1);
  CHECK_FALSE(queue.wait_for_batch_after(seen, soon()));
  std::thread producer([&] { queue.push(batch_of(2)); });
  CHECK(queue.wait_for_batch_after(seen, generous()));
  producer.join();
}

TEST_CASE("telemetry queue: discarded records are counted as dropped") {
  TelemetryQueue queue(100, 1 << 20);
  REQUIRE(queue.push(batch_of(5)));
  auto b = queue.pop_batch(2, 1 << 20, soon());
  queue.discard_queued();
  auto c = queue.counters();
  CHECK(c.dropped == 3);
  CHECK(c.queued == 0);
  CHECK(c.in_flight == 2);
  check_accounting(c);
  queue.complete(b, true);
  CHECK(queue.wait_until_drained(soon()));
}

TEST_CASE("telemetry queue: an abandoned batch is dropped once, whatever its consumer reports") {
  for (const bool delivered_later : {true, false}) {
    TelemetryQueue queue(100, 1 << 20);
    REQUIRE(queue.push(batch_of(5)));
    auto b = queue.pop_batch(3, 1 << 20, soon());
    queue.abandon_in_flight();
    auto c = queue.counters();
    CHECK(c.in_flight == 0);
    CHECK(c.dropped == 3);
    CHECK(c.queued == 2);
    check_accounting(c);
    queue.complete(b, delivered_later);
    c = queue.counters();
    CHECK(c.delivered == 0);
    CHECK(c.dropped == 3);
    check_accounting(c);
  }
}

TEST_CASE("telemetry queue: records in flight count against the capacity") {
  TelemetryQueue queue(10, 1 << 20);
  REQUIRE(queue.push(batch_of(8)));
  auto b = queue.pop_batch(100, 1 << 20, soon());
  CHECK_FALSE(queue.push(batch_of(3)));  // 8 held by the consumer + 3 > 10
  queue.complete(b, true);
  CHECK(queue.push(batch_of(3)));
}

TEST_CASE("telemetry queue: bytes reserved for bodies being read count against the capacity") {
  const size_t record_bytes = rec("function", "", 100).size();
  TelemetryQueue queue(1000, record_bytes * 4);  // capacity: 4 records' bytes
  CHECK(queue.reserve(100 * record_bytes));      // an empty queue reserves any size
  CHECK_FALSE(queue.reserve(1));                 // but nothing beside that
  queue.release(100 * record_bytes);
  // Two bodies being read hold 3 records' bytes: a 2-record batch no longer fits beside them.
  REQUIRE(queue.reserve(record_bytes));
  REQUIRE(queue.reserve(2 * record_bytes));
  CHECK_FALSE(queue.reserve(2 * record_bytes));
  CHECK_FALSE(queue.push(batch_of(2, 100)));
  // Pushing a body's records hands its reservation back first: 1 record for 1 reserved fits.
  CHECK(queue.push(batch_of(1, 100), record_bytes));
  CHECK(queue.push(batch_of(1, 100), 2 * record_bytes));
  CHECK(queue.reserve(2 * record_bytes));  // 2 queued + 2 reserved = capacity
  CHECK_FALSE(queue.reserve(1));
  queue.release(2 * record_bytes);
  CHECK(queue.reserve(1));
  queue.release(1);
  // A refusal without a parse is counted as push() counts one.
  queue.refuse(7);
  const auto c = queue.counters();
  CHECK(c.received == 2 + 2 + 7);
  CHECK(c.dropped == 2 + 7);
  CHECK(c.refused_batches == 2);
  CHECK(c.queued == 2);
  check_accounting(c);
}

TEST_CASE("telemetry queue: a body growing alone in an empty queue may pass the capacity") {
  TelemetryQueue queue(1000, 100);
  size_t own = 0;
  for (int piece = 0; piece < 10; ++piece) {  // 10 x 30 bytes: three times the capacity
    REQUIRE(queue.reserve(30, own));
    own += 30;
  }
  CHECK_FALSE(queue.reserve(1));  // another body finds no room beside it
  CHECK(queue.push(batch_of(3), own));
  CHECK_FALSE(queue.reserve(30, 0));  // records held now: the capacity applies
}

TEST_CASE("telemetry queue: a full queue by records refuses a reservation") {
  TelemetryQueue queue(3, 1 << 20);
  REQUIRE(queue.push(batch_of(3)));
  CHECK_FALSE(queue.reserve(10));
  auto b = queue.pop_batch(1, 1 << 20, soon());
  queue.complete(b, true);
  CHECK(queue.reserve(10));
}
