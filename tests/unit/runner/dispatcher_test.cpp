#include "extension_runner/runner/dispatcher.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/log.hpp"

using namespace extension_runner;
using namespace std::chrono_literals;

namespace {

// Records what it ran; requests whose event is "block" wait until released or cancelled.
struct Record {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::string> ids;
  std::vector<int64_t> deadlines;
  std::thread::id thread;
  bool release = false;
  bool cancelled = false;
  bool blocking = false;
  int64_t shutdown_budget = -1;
};

class FakeInvoker : public Invoker {
 public:
  explicit FakeInvoker(Record* r) : r_(r) {
    std::lock_guard<std::mutex> lock(r_->mutex);
    r_->thread = std::this_thread::get_id();
  }
  Result<InvokeReply> invoke(const InvokeRequest& request) override {
    std::unique_lock<std::mutex> lock(r_->mutex);
    r_->ids.push_back(request.context.aws_request_id);
    r_->deadlines.push_back(request.deadline_ms);
    if (request.event_json == "\"fatal\"") return make_error(ErrorKind::ChildCrashed, "boom");
    if (request.event_json == "\"block\"") {
      r_->blocking = true;
      r_->cv.notify_all();
      r_->cv.wait(lock, [&] { return r_->release || r_->cancelled; });
      if (r_->cancelled) return make_error(ErrorKind::Cancelled, "cancelled");
    }
    InvokeReply reply;
    reply.invokeid = request.context.aws_request_id;
    if (request.event_json == "\"refuse\"") {  // the child's own error answer
      reply.errors = true;
      reply.errortype = "Validation.Refused";
      reply.billing.used_mb = 7;
    }
    return reply;
  }
  void shutdown(int64_t budget_ms) override {
    std::lock_guard<std::mutex> lock(r_->mutex);
    r_->shutdown_budget = budget_ms;
  }
  void cancel() override {
    std::lock_guard<std::mutex> lock(r_->mutex);
    r_->cancelled = true;
    r_->cv.notify_all();
  }
  bool ready() const override { return is_ready; }
  bool is_ready = false;

 private:
  Record* r_;
};

Dispatcher::InvokerFactory fake(Record* r, bool ready = false) {
  return [r, ready]() -> Result<std::unique_ptr<Invoker>> {
    auto invoker = std::make_unique<FakeInvoker>(r);
    invoker->is_ready = ready;
    return std::unique_ptr<Invoker>(std::move(invoker));
  };
}

// Invokers that note the thread each request ran on.
struct ThreadLog {
  std::mutex mutex;
  std::vector<std::pair<std::string, std::thread::id>> runs;
};

class ThreadInvoker : public Invoker {
 public:
  ThreadInvoker(ThreadLog* log, bool ready) : log_(log), ready_(ready) {}
  Result<InvokeReply> invoke(const InvokeRequest& request) override {
    std::lock_guard<std::mutex> lock(log_->mutex);
    log_->runs.emplace_back(request.context.aws_request_id, std::this_thread::get_id());
    InvokeReply reply;
    reply.invokeid = request.context.aws_request_id;
    return reply;
  }
  void shutdown(int64_t) override {}
  bool ready() const override { return ready_; }

 private:
  ThreadLog* log_;
  bool ready_;
};

InvokeRequest req(const std::string& id, const std::string& event = "{}", int64_t deadline = 0) {
  InvokeRequest r;
  r.context.aws_request_id = id;
  r.event_json = event;
  r.deadline_ms = deadline == 0 ? wall_clock_ms() + 60000 : deadline;
  return r;
}

const auto kLong = [] { return std::chrono::steady_clock::now() + 20s; };

}  // namespace

TEST_CASE("dispatcher: the invoker lives on the worker and requests run in FIFO order") {
  Record r;
  Dispatcher d;
  REQUIRE(d.start(fake(&r)).ok());
  CHECK(r.thread != std::this_thread::get_id());
  std::vector<Ticket> tickets;
  for (const char* id : {"a", "b", "c"}) tickets.push_back(d.submit(req(id)));
  // Another producer interleaves, e.g. a telemetry batch.
  std::thread producer([&] { tickets.push_back(d.submit(req("telemetry"))); });
  producer.join();
  for (auto& t : tickets) {
    auto reply = t.wait_until(kLong());
    REQUIRE(reply.has_value());
    REQUIRE(reply->ok());
  }
  CHECK(tickets[0].wait_until(kLong())->value().invokeid == "a");
  CHECK(d.wait_idle(kLong()));
  CHECK(r.ids == std::vector<std::string>{"a", "b", "c", "telemetry"});
}

TEST_CASE("dispatcher: a ticket wait is bounded and wait_idle reports a busy worker") {
  Record r;
  Dispatcher d;
  REQUIRE(d.start(fake(&r)).ok());
  Ticket blocked = d.submit(req("slow", "\"block\""));
  CHECK_FALSE(blocked.wait_until(std::chrono::steady_clock::now() + 10ms).has_value());
  CHECK_FALSE(d.wait_idle(std::chrono::steady_clock::now() + 10ms));
  {
    std::lock_guard<std::mutex> lock(r.mutex);
    r.release = true;
  }
  r.cv.notify_all();
  REQUIRE(blocked.wait_until(kLong()).has_value());
  CHECK(d.wait_idle(kLong()));
}

TEST_CASE("dispatcher: a fatal invoker error is sticky") {
  Record r;
  Dispatcher d;
  REQUIRE(d.start(fake(&r)).ok());
  auto first = d.submit(req("x", "\"fatal\"")).wait_until(kLong());
  REQUIRE(first.has_value());
  REQUIRE_FALSE(first->ok());
  CHECK(first->error().kind == ErrorKind::ChildCrashed);
  REQUIRE(d.fatal_error().has_value());
  auto second = d.submit(req("y")).wait_until(kLong());
  REQUIRE(second.has_value());
  CHECK(second->error().kind == ErrorKind::ChildCrashed);
  CHECK(r.ids == std::vector<std::string>{"x"});  // never reached the invoker
}

TEST_CASE("dispatcher: a failed start returns the factory's error") {
  Dispatcher d;
  auto started = d.start([]() -> Result<std::unique_ptr<Invoker>> {
    return make_error(ErrorKind::ChildStartupFailed, "nope");
  });
  REQUIRE_FALSE(started.ok());
  CHECK(started.error().kind == ErrorKind::ChildStartupFailed);
}

TEST_CASE("dispatcher: deadlines are capped for requests started after cap_deadlines") {
  Record r;
  Dispatcher d;
  REQUIRE(d.start(fake(&r)).ok());
  d.cap_deadlines(1000);
  REQUIRE(d.submit(req("a", "{}", 5000)).wait_until(kLong()).has_value());
  REQUIRE(d.submit(req("b", "{}", 500)).wait_until(kLong()).has_value());
  CHECK(r.deadlines == std::vector<int64_t>{1000, 500});
}

TEST_CASE("dispatcher: stop interrupts the running request and cancels queued ones") {
  Record r;
  Dispatcher d;
  REQUIRE(d.start(fake(&r)).ok());
  Ticket running = d.submit(req("running", "\"block\""));
  {
    std::unique_lock<std::mutex> lock(r.mutex);
    r.cv.wait(lock, [&] { return r.blocking; });
  }
  Ticket queued = d.submit(req("queued"));
  d.stop(1234);
  auto a = running.wait_until(kLong());
  auto b = queued.wait_until(kLong());
  REQUIRE(a.has_value());
  REQUIRE(b.has_value());
  CHECK(a->error().kind == ErrorKind::Cancelled);
  CHECK(b->error().kind == ErrorKind::Cancelled);
  CHECK(r.shutdown_budget == 1234);
  CHECK(r.ids == std::vector<std::string>{"running"});
  auto after = d.submit(req("late")).wait_until(kLong());
  REQUIRE(after.has_value());
  CHECK(after->error().kind == ErrorKind::Cancelled);
  d.stop(0);  // idempotent
}

TEST_CASE("dispatcher: run_or_submit runs on the caller only when idle and the invoker is ready") {
  struct Case {
    const char* what;
    bool ready;
    bool on_caller;
  };
  const std::vector<Case> cases = {
      {"ready invoker, idle dispatcher: the caller runs it", true, true},
      {"invoker not ready (would spawn): the worker runs it", false, false},
  };
  for (const auto& c : cases) {
    SECTION(c.what) {
      ThreadLog log;
      Dispatcher d;
      const bool ready = c.ready;
      REQUIRE(d.start([&log, ready]() -> Result<std::unique_ptr<Invoker>> {
                 return std::unique_ptr<Invoker>(new ThreadInvoker(&log, ready));
               }).ok());
      auto reply = d.run_or_submit(req("sync")).wait_until(kLong());
      REQUIRE(reply);
      REQUIRE(reply->ok());
      CHECK(reply->value().invokeid == "sync");
      std::lock_guard<std::mutex> lock(log.mutex);
      REQUIRE(log.runs.size() == 1);
      CHECK((log.runs[0].second == std::this_thread::get_id()) == c.on_caller);
    }
  }
}

TEST_CASE("dispatcher: run_or_submit queues behind busy work, keeping FIFO order") {
  Record r;
  Dispatcher d;
  REQUIRE(d.start(fake(&r, /*ready=*/true)).ok());
  Ticket blocked = d.submit(req("first", "\"block\""));
  {
    std::unique_lock<std::mutex> lock(r.mutex);
    r.cv.wait(lock, [&] { return r.blocking; });
  }
  Ticket queued = d.submit(req("second"));
  // The worker is busy: this one must wait its turn, not overtake on the caller's thread.
  std::thread sync([&] { CHECK(d.run_or_submit(req("third")).wait_until(kLong())); });
  {
    std::lock_guard<std::mutex> lock(r.mutex);
    r.release = true;
  }
  r.cv.notify_all();
  sync.join();
  REQUIRE(blocked.wait_until(kLong()));
  REQUIRE(queued.wait_until(kLong()));
  std::lock_guard<std::mutex> lock(r.mutex);
  CHECK(r.ids == std::vector<std::string>{"first", "second", "third"});
}

TEST_CASE("dispatcher: stop cancels a request running on the caller's thread") {
  Record r;
  Dispatcher d;
  REQUIRE(d.start(fake(&r, /*ready=*/true)).ok());
  std::optional<Result<InvokeReply>> outcome;
  std::thread caller(
      [&] { outcome = d.run_or_submit(req("inline", "\"block\"")).wait_until(kLong()); });
  {
    std::unique_lock<std::mutex> lock(r.mutex);
    r.cv.wait(lock, [&] { return r.blocking; });
  }
  d.stop(100);
  caller.join();
  REQUIRE(outcome);
  REQUIRE_FALSE(outcome->ok());
  CHECK(outcome->error().kind == ErrorKind::Cancelled);
  std::lock_guard<std::mutex> lock(r.mutex);
  CHECK(r.shutdown_budget == 100);  // the invoker's shutdown ran after the inline request ended
}

TEST_CASE("dispatcher: priority requests run before queued ordinary ones, in their own order") {
  Record r;
  Dispatcher d;
  REQUIRE(d.start(fake(&r)).ok());
  Ticket running = d.submit(req("running", "\"block\""));
  {
    std::unique_lock<std::mutex> lock(r.mutex);
    REQUIRE(r.cv.wait_until(lock, kLong(), [&] { return r.blocking; }));
  }
  std::vector<Ticket> tickets;
  tickets.push_back(d.submit(req("telemetry-1")));
  tickets.push_back(d.submit_priority(req("hook-1")));
  tickets.push_back(d.submit(req("telemetry-2")));
  tickets.push_back(d.submit_priority(req("hook-2")));
  {
    std::lock_guard<std::mutex> lock(r.mutex);
    r.release = true;
    r.cv.notify_all();
  }
  for (auto& t : tickets) {
    auto reply = t.wait_until(kLong());
    REQUIRE(reply.has_value());
    CHECK(reply->ok());
  }
  CHECK(d.wait_idle(kLong()));
  CHECK(r.ids ==
        std::vector<std::string>{"running", "hook-1", "hook-2", "telemetry-1", "telemetry-2"});
}

TEST_CASE("dispatcher: a priority request waits for a queued start and is cancelled by stop") {
  Record r;
  Dispatcher d;
  d.start_in_background(fake(&r));
  Ticket hook = d.submit_priority(req("hook"));
  auto reply = hook.wait_until(kLong());
  REQUIRE(reply.has_value());
  REQUIRE(reply->ok());
  CHECK(reply->value().invokeid == "hook");
  d.stop(0);
  auto late = d.submit_priority(req("late")).wait_until(kLong());
  REQUIRE(late.has_value());
  REQUIRE_FALSE(late->ok());
  CHECK(late->error().kind == ErrorKind::Cancelled);
}

TEST_CASE("dispatcher: run_or_submit with Order::Priority queues on the priority lane when busy") {
  Record r;
  Dispatcher d;
  REQUIRE(d.start(fake(&r, /*ready=*/true)).ok());
  Ticket running = d.submit(req("running", "\"block\""));
  {
    std::unique_lock<std::mutex> lock(r.mutex);
    REQUIRE(r.cv.wait_until(lock, kLong(), [&] { return r.blocking; }));
  }
  Ticket telemetry = d.submit(req("telemetry"));
  // The worker is busy: this returns at once with a queued ticket, which must overtake the
  // queued ordinary request.
  Ticket hook = d.run_or_submit(req("hook"), Dispatcher::Order::Priority);
  {
    std::lock_guard<std::mutex> lock(r.mutex);
    r.release = true;
    r.cv.notify_all();
  }
  REQUIRE(running.wait_until(kLong()));
  REQUIRE(telemetry.wait_until(kLong()));
  auto reply = hook.wait_until(kLong());
  REQUIRE(reply);
  REQUIRE(reply->ok());
  std::lock_guard<std::mutex> lock(r.mutex);
  CHECK(r.ids == std::vector<std::string>{"running", "hook", "telemetry"});
}

TEST_CASE("dispatcher: cancel_inline interrupts only the inline request given its flag") {
  std::atomic<bool> flag{false};
  std::atomic<bool> other_flag{false};
  SECTION("inline with that flag: cancelled, and not a fatal error") {
    Record r;
    Dispatcher d;
    REQUIRE(d.start(fake(&r, /*ready=*/true)).ok());
    std::optional<Result<InvokeReply>> outcome;
    std::thread caller([&] {
      outcome = d.run_or_submit(req("inline", "\"block\""), Dispatcher::Order::Fifo, &flag)
                    .wait_until(kLong());
    });
    {
      std::unique_lock<std::mutex> lock(r.mutex);
      REQUIRE(r.cv.wait_until(lock, kLong(), [&] { return r.blocking; }));
    }
    d.cancel_inline(&flag);
    caller.join();
    REQUIRE(outcome);
    REQUIRE_FALSE(outcome->ok());
    CHECK(outcome->error().kind == ErrorKind::Cancelled);
    CHECK_FALSE(d.fatal_error().has_value());
  }
  // Left alone: an inline request without that flag, and one on the worker.
  for (const bool ready : {true, false}) {
    SECTION(ready ? "inline with another flag: left alone" : "on the worker: left alone") {
      Record r;
      Dispatcher d;
      REQUIRE(d.start(fake(&r, ready)).ok());
      std::optional<Result<InvokeReply>> outcome;
      std::thread caller([&] {
        outcome = d.run_or_submit(req("other", "\"block\""), Dispatcher::Order::Fifo, &other_flag)
                      .wait_until(kLong());
      });
      {
        std::unique_lock<std::mutex> lock(r.mutex);
        REQUIRE(r.cv.wait_until(lock, kLong(), [&] { return r.blocking; }));
      }
      d.cancel_inline(&flag);
      {
        std::lock_guard<std::mutex> lock(r.mutex);
        CHECK_FALSE(r.cancelled);
        r.release = true;
        r.cv.notify_all();
      }
      caller.join();
      REQUIRE(outcome);
      CHECK(outcome->ok());
    }
  }
}

TEST_CASE("dispatcher: run_or_submit with an abandoned flag already set does not run it") {
  Record r;
  Dispatcher d;
  REQUIRE(d.start(fake(&r, /*ready=*/true)).ok());
  std::atomic<bool> abandoned{true};
  auto reply = d.run_or_submit(req("late"), Dispatcher::Order::Priority, &abandoned)
                   .wait_until(std::chrono::steady_clock::now());
  REQUIRE(reply);  // complete at once
  REQUIRE_FALSE(reply->ok());
  CHECK(reply->error().kind == ErrorKind::Cancelled);
  abandoned = false;
  CHECK(d.run_or_submit(req("wanted"), Dispatcher::Order::Priority, &abandoned)
            .wait_until(std::chrono::steady_clock::now()));
  std::lock_guard<std::mutex> lock(r.mutex);
  CHECK(r.ids == std::vector<std::string>{"wanted"});
}

TEST_CASE("dispatcher: an error reply's warning gives the memory only when it was measured") {
  struct Case {
    bool measure_memory;
    bool says_memory;
  };
  for (const Case& c : {Case{true, true}, Case{false, false}}) {
    Record record;
    Dispatcher d;
    REQUIRE(d.start(fake(&record)).ok());
    std::vector<std::string> lines;
    set_log_sink([&](const std::string& line) { lines.push_back(line); });
    InvokeRequest request;
    request.context.aws_request_id = "r1";
    request.event_json = "\"refuse\"";
    request.measure_memory = c.measure_memory;
    const auto reply =
        d.submit(request).wait_until(std::chrono::steady_clock::now() + std::chrono::seconds(20));
    set_log_sink(nullptr);
    REQUIRE(reply.has_value());
    REQUIRE(lines.size() == 1);
    INFO(lines[0]);
    CHECK_THAT(lines[0], Catch::Contains("request r1 done in") &&
                             Catch::Contains("with error Validation.Refused"));
    CHECK((lines[0].find("max memory used 7 MB") != std::string::npos) == c.says_memory);
    CHECK((lines[0].find("memory") != std::string::npos) == c.says_memory);
  }
}
