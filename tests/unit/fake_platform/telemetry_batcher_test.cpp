#include "extension_runner/fake_platform/telemetry_batcher.hpp"

#include <catch2/catch.hpp>
#include <condition_variable>
#include <deque>
#include <mutex>

#include "extension_runner/core/json.hpp"

using namespace extension_runner;

namespace {

using Clock = std::chrono::steady_clock;

Clock::time_point generous() { return Clock::now() + std::chrono::seconds(30); }

std::string rec(int i) {
  return R"({"time":"2026-01-01T00:00:00.000Z","type":"function","record":"line )" +
         std::to_string(i) + "\"}";
}

/**
 * A subscriber: records every batch; answers with the scripted statuses (then 200); can be
 * held, so a POST stays pending until release().
 */
class FakeSubscriber {
 public:
  explicit FakeSubscriber(std::deque<int> statuses = {}) : statuses_(std::move(statuses)) {}

  BatchPoster poster() {
    return [this](const std::vector<std::string>& records) {
      std::unique_lock<std::mutex> lock(mutex_);
      batches_.push_back(records);
      ++entered_;
      changed_.notify_all();
      changed_.wait(lock, [&] { return !held_; });
      if (statuses_.empty()) return 200;
      const int status = statuses_.front();
      statuses_.pop_front();
      return status;
    };
  }
  void hold() {
    std::lock_guard<std::mutex> lock(mutex_);
    held_ = true;
  }
  void release() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      held_ = false;
    }
    changed_.notify_all();
  }
  /** Waits until `n` POSTs have been made. */
  bool await_posts(size_t n) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_until(lock, generous(), [&] { return entered_ >= n; });
  }
  /** Waits until `n` records have been posted in all. */
  bool await_records(size_t n) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_until(lock, generous(), [&] {
      size_t total = 0;
      for (const auto& b : batches_) total += b.size();
      return total >= n;
    });
  }
  std::vector<std::vector<std::string>> batches() {
    std::lock_guard<std::mutex> lock(mutex_);
    return batches_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<int> statuses_;
  std::vector<std::vector<std::string>> batches_;
  size_t entered_ = 0;
  bool held_ = false;
};

BatcherOptions options(size_t max_items, int64_t timeout_ms = 30000) {
  BatcherOptions o;
  o.limits.max_items = max_items;
  o.limits.timeout_ms = timeout_ms;
  o.first_backoff = std::chrono::milliseconds(1);
  o.max_backoff = std::chrono::milliseconds(2);
  return o;
}

void check_accounting(const BatcherCounters& c) {
  CHECK(c.records_added == c.records_sent + c.records_dropped_busy + c.records_dropped_refused +
                               c.records_buffered + c.records_in_flight);
}

std::string type_of(const std::string& element) {
  auto doc = parse_json(element);
  REQUIRE(doc);
  return json_string(*doc, "type").value_or("");
}

int64_t dropped_records_of(const std::string& element) {
  auto doc = parse_json(element);
  REQUIRE(doc);
  const auto* record = json_member(*doc, "record");
  REQUIRE(record != nullptr);
  return json_int64(*record, "droppedRecords").value_or(-1);
}

}  // namespace

TEST_CASE("telemetry batcher: a full batch is sent at once, the rest waits for its timeout") {
  struct Case {
    size_t max_items;
    int records;
  };
  const std::vector<Case> cases = {{3, 7}, {3, 6}, {5, 4}, {1, 3}};
  for (const auto& c : cases) {
    CAPTURE(c.max_items, c.records);
    FakeSubscriber subscriber;
    TelemetryBatcher batcher(subscriber.poster(), options(c.max_items));  // timeout 30 s
    const size_t full = static_cast<size_t>(c.records) / c.max_items;
    int added = 0;
    for (size_t b = 0; b < full; ++b) {
      for (size_t i = 0; i < c.max_items; ++i) batcher.add(rec(added++));
      // Only being full can send it before its 30 s timeout.
      REQUIRE(subscriber.await_posts(b + 1));
      REQUIRE(batcher.flush(generous()));  // its POST has ended (nothing else is buffered)
    }
    while (added < c.records) batcher.add(rec(added++));
    auto counters = batcher.counters();
    CHECK(counters.batches_sent == full);
    CHECK(counters.records_buffered == static_cast<uint64_t>(c.records) % c.max_items);
    CHECK(subscriber.batches().size() == full);
    REQUIRE(batcher.flush(generous()));  // the partial batch goes now
    std::vector<std::string> all;
    for (const auto& batch : subscriber.batches()) {
      CHECK(batch.size() <= c.max_items);
      all.insert(all.end(), batch.begin(), batch.end());
    }
    REQUIRE(all.size() == static_cast<size_t>(c.records));
    for (int i = 0; i < c.records; ++i) CHECK(all[static_cast<size_t>(i)] == rec(i));  // order
    counters = batcher.counters();
    CHECK(counters.records_sent == static_cast<uint64_t>(c.records));
    CHECK(counters.records_dropped_busy == 0);
    check_accounting(counters);
  }
}

TEST_CASE("telemetry batcher: the byte limit readies a batch too") {
  FakeSubscriber subscriber;
  auto o = options(10000);
  o.limits.max_bytes = rec(0).size() * 2;  // two records fill a batch
  TelemetryBatcher batcher(subscriber.poster(), o);
  batcher.add(rec(0));
  batcher.add(rec(1));
  REQUIRE(subscriber.await_posts(1));
  REQUIRE(batcher.flush(generous()));
  batcher.add(rec(2));
  CHECK(batcher.counters().records_buffered == 1);
  REQUIRE(batcher.flush(generous()));
  const auto batches = subscriber.batches();
  REQUIRE(batches.size() == 2);
  CHECK(batches[0] == std::vector<std::string>{rec(0), rec(1)});
  CHECK(batches[1] == std::vector<std::string>{rec(2)});
}

TEST_CASE("telemetry batcher: without a flush, a partial batch goes out after timeoutMs") {
  FakeSubscriber subscriber;
  TelemetryBatcher batcher(subscriber.poster(), options(10000, 25));
  batcher.add(rec(1));
  batcher.add(rec(2));
  // No flush and no full batch: only the timeout can send them. Both arrive, in order (in one
  // batch unless the machine stalled between the two adds).
  REQUIRE(subscriber.await_records(2));
  std::vector<std::string> all;
  for (const auto& b : subscriber.batches()) all.insert(all.end(), b.begin(), b.end());
  CHECK(all == std::vector<std::string>{rec(1), rec(2)});
  const auto c = batcher.counters();
  CHECK(c.records_sent + c.records_in_flight == 2);
}

TEST_CASE(
    "telemetry batcher: one POST in flight; a batch ready meanwhile is dropped and reported") {
  FakeSubscriber subscriber;
  subscriber.hold();
  TelemetryBatcher batcher(subscriber.poster(), options(3));
  for (int i = 0; i < 3; ++i) batcher.add(rec(i));
  REQUIRE(subscriber.await_posts(1));               // first batch pending
  for (int i = 3; i < 6; ++i) batcher.add(rec(i));  // full while pending: dropped at once
  auto c = batcher.counters();
  CHECK(c.records_dropped_busy == 3);
  CHECK(c.batches_dropped_busy == 1);
  CHECK(c.logs_dropped_emitted == 1);
  CHECK(c.records_buffered == 1);  // the platform.logsDropped record opens the next batch
  check_accounting(c);
  subscriber.release();
  REQUIRE(batcher.flush(generous()));
  const auto batches = subscriber.batches();
  REQUIRE(batches.size() == 2);
  CHECK(batches[0] == std::vector<std::string>{rec(0), rec(1), rec(2)});
  REQUIRE(batches[1].size() == 1);
  CHECK(type_of(batches[1][0]) == "platform.logsDropped");
  CHECK(dropped_records_of(batches[1][0]) == 3);
  c = batcher.counters();
  CHECK(c.records_sent == 4);
  check_accounting(c);
}

TEST_CASE("telemetry batcher: error answers are retried with backoff, then dropped and counted") {
  struct Case {
    std::deque<int> statuses;
    int max_attempts;
    bool sent;
    uint64_t retries;
  };
  const std::vector<Case> cases = {
      {{503, 503}, 4, true, 2},        // third attempt accepted
      {{500, 400, 503}, 3, false, 2},  // every attempt refused: dropped
      {{-1}, 2, true, 1},              // unreachable once, then accepted
      {{}, 1, true, 0},
      {{413}, 1, false, 0},
  };
  for (const auto& c : cases) {
    CAPTURE(c.max_attempts, c.statuses.size());
    FakeSubscriber subscriber(c.statuses);
    auto o = options(10000);
    o.max_attempts = c.max_attempts;
    TelemetryBatcher batcher(subscriber.poster(), o);
    batcher.add(rec(1));
    batcher.add(rec(2));
    REQUIRE(batcher.flush(generous()));
    const auto counters = batcher.counters();
    CHECK(counters.retries == c.retries);
    CHECK(counters.records_sent + counters.records_dropped_refused == counters.records_added);
    check_accounting(counters);
    const auto batches = subscriber.batches();
    if (c.sent) {
      CHECK(counters.records_dropped_refused == 0);
      CHECK(counters.logs_dropped_emitted == 0);
    } else {
      CHECK(counters.records_dropped_refused == 2);
      // The loss is reported once, in the next batch (which the subscriber then accepted).
      CHECK(counters.logs_dropped_emitted == 1);
      REQUIRE(!batches.empty());
      REQUIRE(batches.back().size() == 1);
      CHECK(dropped_records_of(batches.back()[0]) == 2);
    }
  }
}

TEST_CASE("telemetry batcher: a lost platform.logsDropped is not reported again") {
  FakeSubscriber subscriber({503, 503});  // the batch and then its logsDropped are refused
  auto o = options(10000);
  o.max_attempts = 1;
  TelemetryBatcher batcher(subscriber.poster(), o);
  batcher.add(rec(1));
  REQUIRE(batcher.flush(generous()));
  const auto c = batcher.counters();
  CHECK(c.logs_dropped_emitted == 1);
  CHECK(c.records_dropped_refused == 2);
  CHECK(subscriber.batches().size() == 2);
  check_accounting(c);
}

TEST_CASE("telemetry batcher: drops are only counted when reporting is off") {
  FakeSubscriber subscriber({503});
  auto o = options(10000);
  o.max_attempts = 1;
  o.report_drops = false;
  TelemetryBatcher batcher(subscriber.poster(), o);
  batcher.add(rec(1));
  REQUIRE(batcher.flush(generous()));
  CHECK(batcher.counters().logs_dropped_emitted == 0);
  CHECK(subscriber.batches().size() == 1);
}

TEST_CASE("telemetry batcher: the outcome of every batch is observed, sent or dropped") {
  std::mutex mutex;
  std::vector<BatchOutcome> seen;
  FakeSubscriber subscriber;
  subscriber.hold();
  auto o = options(2);
  o.on_batch = [&](const BatchOutcome& outcome) {
    std::lock_guard<std::mutex> lock(mutex);
    seen.push_back(outcome);
  };
  {
    TelemetryBatcher batcher(subscriber.poster(), o);
    batcher.add(rec(0));
    batcher.add(rec(1));
    REQUIRE(subscriber.await_posts(1));
    batcher.add(rec(2));
    batcher.add(rec(3));  // dropped while pending
    subscriber.release();
    REQUIRE(batcher.flush(generous()));
  }
  std::lock_guard<std::mutex> lock(mutex);
  size_t sent = 0, busy = 0;
  for (const auto& outcome : seen) {
    if (outcome.sent) sent += outcome.records;
    if (outcome.busy_drop) busy += outcome.records;
  }
  CHECK(sent == 3);  // two records, then the logsDropped record
  CHECK(busy == 2);
}

TEST_CASE(
    "telemetry batcher: destruction ends a pending retry and leaves buffered records unsent") {
  FakeSubscriber subscriber({503, 503, 503, 503});
  auto o = options(1);
  o.max_attempts = 1000;
  o.first_backoff = o.max_backoff = std::chrono::seconds(30);
  {
    TelemetryBatcher batcher(subscriber.poster(), o);
    batcher.add(rec(1));
    REQUIRE(subscriber.await_posts(1));  // now in its 30 s backoff
  }                                      // must not wait for the backoff
  CHECK(subscriber.batches().size() == 1);
}
