#include <httplib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/json.hpp"
#include "extension_runner/fake_platform/telemetry_api.hpp"
#include "extension_runner/telemetry/forwarder.hpp"
#include "extension_runner/telemetry/http_listener.hpp"

using namespace extension_runner;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

constexpr const char* kIdentifier = "ext-id-1";

/** A fake Runtime API serving only the subscription endpoints, on 127.0.0.1:0. */
class FakeApi {
 public:
  FakeApi() : telemetry([](const std::string& id) { return id == kIdentifier; }) {
    telemetry.install(server_);
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(milliseconds(1));
  }
  ~FakeApi() {
    server_.stop();
    thread_.join();
  }
  /** Sends a request like ExtensionsClient::send would. */
  SubscribeSender sender() {
    return [port = port_](const HttpRequest& r) -> Result<HttpResponse> {
      httplib::Client client("127.0.0.1", port);
      httplib::Headers headers;
      std::string content_type = "application/json";
      for (const auto& [k, v] : r.headers) {
        if (k == "Content-Type") {
          content_type = v;
        } else {
          headers.emplace(k, v);
        }
      }
      auto res = client.Put(r.path, headers, r.body, content_type);
      if (!res) return make_error(ErrorKind::ApiUnreachable, "connection failed");
      HttpResponse out;
      out.status = res->status;
      out.body = res->body;
      return out;
    };
  }

  TelemetryEmulator telemetry;

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

TelemetryOptions telemetry_options(TelemetryMode mode = TelemetryMode::Telemetry) {
  TelemetryOptions t;
  t.mode = mode;
  t.listen = "127.0.0.1:0";
  t.buffer_timeout_ms = 25;
  return t;
}

/** Collects delivered TELEMETRY events; thread-safe; can be held shut. */
class RecordingSink {
 public:
  BatchSink sink() {
    return [this](const std::string& event_json, int64_t deadline_ms) {
      std::unique_lock<std::mutex> lock(mutex_);
      if (!open_) {
        const bool opened =
            changed_.wait_until(lock, steady_deadline(deadline_ms), [&] { return open_; });
        if (!opened) return false;
      }
      auto doc = parse_json(event_json);
      REQUIRE(doc.ok());
      REQUIRE(json_string(*doc, "eventType") == "TELEMETRY");
      for (const auto& r : (*doc)["records"].GetArray()) records_.push_back(to_json(r));
      log_.push_back("telemetry:" + std::to_string((*doc)["records"].Size()));
      ++events_;
      changed_.notify_all();
      return true;
    };
  }
  void set_open(bool open) {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = open;
    changed_.notify_all();
  }
  void note(const std::string& what) {
    std::lock_guard<std::mutex> lock(mutex_);
    log_.push_back(what);
  }
  bool wait_for_events(int n) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, seconds(30), [&] { return events_ >= n; });
  }
  std::vector<std::string> records() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return records_;
  }
  std::vector<std::string> log() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return log_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = true;
  int events_ = 0;
  std::vector<std::string> records_;
  std::vector<std::string> log_;
};

std::string numbered(int i) {
  return TelemetryEmulator::function_record("line " + std::to_string(i));
}

// Records re-serialised by RapidJSON compare equal to the originals: these have no spaces.
std::string compact(const std::string& json) { return to_json(*parse_json(json)); }

InvokeEvent invoke_event(const std::string& request_id, int64_t deadline_ms) {
  InvokeEvent e;
  e.request_id = request_id;
  e.deadline_ms = deadline_ms;
  return e;
}

}  // namespace

TEST_CASE("telemetry forwarder: subscribes after binding, with the bound port in the URI") {
  FakeApi api;
  RecordingSink sink;
  auto fwd =
      TelemetryForwarder::start(telemetry_options(), {}, kIdentifier, api.sender(), sink.sink());
  REQUIRE(fwd.ok());
  CHECK((*fwd)->subscribed());
  auto sub = api.telemetry.subscription();
  REQUIRE(sub.has_value());
  CHECK(sub->port == (*fwd)->port());
  CHECK(sub->uri == "http://127.0.0.1:" + std::to_string((*fwd)->port()) + "/");
  CHECK(sub->schema_version == "2025-01-29");
  CHECK(sub->types == std::vector<std::string>{"platform", "function"});
  CHECK(sub->identifier == kIdentifier);
}

TEST_CASE("telemetry forwarder: 12 000 numbered records through the API, none lost, in order") {
  FakeApi api;
  RecordingSink sink;
  auto telemetry = telemetry_options();
  telemetry.queue_max_records = 300;  // small, so Lambda-style retries happen
  auto fwd = TelemetryForwarder::start(telemetry, {}, kIdentifier, api.sender(), sink.sink());
  REQUIRE(fwd.ok());
  constexpr int kRecords = 12000, kPerBatch = 50;
  for (int first = 0; first < kRecords; first += kPerBatch) {
    std::vector<std::string> records;
    for (int i = first; i < first + kPerBatch; ++i) records.push_back(numbered(i));
    REQUIRE(api.telemetry.post_until_accepted(TelemetryEmulator::batch(records), seconds(30)) ==
            200);
  }
  (*fwd)->shutdown(wall_clock_ms() + 10000);
  const auto got = sink.records();
  REQUIRE(got.size() == static_cast<size_t>(kRecords));
  for (int i = 0; i < kRecords; ++i) {
    const auto& r = got[static_cast<size_t>(i)];
    if (r.find("\"line " + std::to_string(i) + "\"") == std::string::npos) {
      FAIL("record " << i << " lost or out of order: " << r);
    }
  }
  const auto c = (*fwd)->counters();
  CHECK(c.delivered == static_cast<uint64_t>(kRecords));
  CHECK(c.received == c.delivered + c.dropped);
  CHECK(c.dropped == c.refused_batches * kPerBatch);
}

TEST_CASE("telemetry forwarder: per-invoke flush returns after the request's runtimeDone") {
  FakeApi api;
  RecordingSink sink;
  auto fwd =
      TelemetryForwarder::start(telemetry_options(), {}, kIdentifier, api.sender(), sink.sink());
  REQUIRE(fwd.ok());
  const std::string done_n = TelemetryEmulator::runtime_done_record("req-N");
  std::thread lambda([&] {
    // Another request's end, then N's records in two POSTs, as Lambda's buffering would.
    api.telemetry.post_until_accepted(
        TelemetryEmulator::batch({TelemetryEmulator::runtime_done_record("req-other"),
                                  TelemetryEmulator::start_record("req-N"), numbered(1)}),
        seconds(30));
    api.telemetry.post_until_accepted(
        TelemetryEmulator::batch({done_n, TelemetryEmulator::report_record("req-N")}), seconds(30));
  });
  CHECK((*fwd)->after_invoke(invoke_event("req-N", wall_clock_ms() + 30000)));
  sink.note("next");  // the lifecycle would call /next here
  lambda.join();
  const auto records = sink.records();
  const auto log = sink.log();
  auto done_at = std::find(records.begin(), records.end(), compact(done_n));
  REQUIRE(done_at != records.end());
  // Every telemetry event before "next" together holds runtimeDone(req-N).
  size_t before_next = 0;
  for (const auto& entry : log) {
    if (entry == "next") break;
    before_next += std::stoul(entry.substr(entry.find(':') + 1));
  }
  CHECK(static_cast<size_t>(done_at - records.begin()) < before_next);
  (*fwd)->shutdown(wall_clock_ms() + 5000);
}

TEST_CASE("telemetry forwarder: the per-invoke flush is bounded by the event's deadline") {
  FakeApi api;
  RecordingSink sink;
  auto fwd =
      TelemetryForwarder::start(telemetry_options(), {}, kIdentifier, api.sender(), sink.sink());
  REQUIRE(fwd.ok());
  CHECK_FALSE((*fwd)->after_invoke(invoke_event("never", wall_clock_ms() + 100)));
  CHECK_FALSE((*fwd)->after_invoke(invoke_event("past", wall_clock_ms() - 1000)));
}

TEST_CASE("telemetry forwarder: flush=periodic or no platform type skips the wait") {
  FakeApi api;
  RecordingSink sink;
  for (int variant = 0; variant < 2; ++variant) {
    auto telemetry = telemetry_options();
    if (variant == 0) telemetry.flush = FlushMode::Periodic;
    if (variant == 1) {
      telemetry.flush = FlushMode::Invoke;
      telemetry.types = {"function"};
    }
    auto fwd = TelemetryForwarder::start(telemetry, {}, kIdentifier, api.sender(), sink.sink());
    REQUIRE(fwd.ok());
    CHECK((*fwd)->after_invoke(invoke_event("x", wall_clock_ms() + 60000)));
  }
}

TEST_CASE("telemetry forwarder: shutdown delivers batches that arrive during the flush") {
  FakeApi api;
  RecordingSink sink;
  ForwarderOptions options;
  options.quiet_period_ms = 1000;  // generous: this box is shared; the deadline still bounds it
  auto fwd = TelemetryForwarder::start(telemetry_options(), {}, kIdentifier, api.sender(),
                                       sink.sink(), options);
  REQUIRE(fwd.ok());
  sink.set_open(false);  // the child is busy: A waits in the forwarder
  REQUIRE(api.telemetry.post(TelemetryEmulator::batch({numbered(0), numbered(1)})) == 200);
  std::thread late([&] {
    REQUIRE(sink.wait_for_events(1));  // once A is delivered, Lambda sends the last batch
    api.telemetry.post_until_accepted(
        TelemetryEmulator::batch({TelemetryEmulator::report_record("last")}), seconds(10));
  });
  std::thread open_later([&] { sink.set_open(true); });
  (*fwd)->shutdown(wall_clock_ms() + 10000);
  open_later.join();
  late.join();
  const auto records = sink.records();
  REQUIRE(records.size() == 3);
  CHECK(records[2].find("\"requestId\":\"last\"") != std::string::npos);
  const auto c = (*fwd)->counters();
  CHECK(c.delivered == 3);
  CHECK(c.dropped == 0);
}

TEST_CASE("telemetry forwarder: shutdown is bounded when the child never takes telemetry") {
  FakeApi api;
  RecordingSink sink;
  sink.set_open(false);
  ForwarderOptions options;
  options.delivery_timeout_ms = 1000;
  auto fwd = TelemetryForwarder::start(telemetry_options(), {}, kIdentifier, api.sender(),
                                       sink.sink(), options);
  REQUIRE(fwd.ok());
  REQUIRE(api.telemetry.post(TelemetryEmulator::batch({numbered(0)})) == 200);
  REQUIRE(api.telemetry.post(TelemetryEmulator::batch({numbered(1), numbered(2)})) == 200);
  (*fwd)->shutdown(wall_clock_ms() + 500);
  const auto c = (*fwd)->counters();
  CHECK(c.received == 3);
  CHECK(c.delivered == 0);
  CHECK(c.dropped + c.in_flight == 3);  // never delivered, never silently lost
  // Leftovers were counted as dropped; only the one event the sink still holds (the two
  // batches may have been merged into it) can be in flight.
  CHECK(c.queued == 0);
  // Later POSTs find nobody listening (Lambda retries/drops on its side).
  CHECK(api.telemetry.post(TelemetryEmulator::batch({numbered(3)})) == -1);
}

TEST_CASE("telemetry forwarder: 202 NotSupported means telemetry is unavailable, not an error") {
  FakeApi api;
  RecordingSink sink;
  for (auto mode : {TelemetryMode::Telemetry, TelemetryMode::Logs}) {
    api.telemetry.inject(SubscribeFault::NotSupported);
    auto fwd = TelemetryForwarder::start(telemetry_options(mode), {}, kIdentifier, api.sender(),
                                         sink.sink());
    REQUIRE(fwd.ok());
    CHECK_FALSE((*fwd)->subscribed());
    CHECK((*fwd)->after_invoke(invoke_event("r", wall_clock_ms() + 60000)));
    (*fwd)->shutdown(wall_clock_ms() + 5000);
  }
}

TEST_CASE("telemetry forwarder: a refused subscription is Extension.SubscribeFailed") {
  struct Case {
    std::optional<SubscribeFault> fault;
    std::string identifier;
    std::string message;
  };
  const std::vector<Case> cases = {
      {SubscribeFault::ValidationError, kIdentifier, "HTTP 400 ValidationError"},
      {SubscribeFault::ServerError, kIdentifier, "HTTP 500"},
      {std::nullopt, "someone-else", "HTTP 403 Extension.UnknownExtensionIdentifier"},
  };
  for (const auto& c : cases) {
    INFO(c.message);
    FakeApi api;
    RecordingSink sink;
    if (c.fault) api.telemetry.inject(*c.fault);
    auto fwd =
        TelemetryForwarder::start(telemetry_options(), {}, c.identifier, api.sender(), sink.sink());
    REQUIRE_FALSE(fwd.ok());
    CHECK(fwd.error().kind == ErrorKind::SubscribeFailed);
    CHECK(error_type(fwd.error().kind) == "Extension.SubscribeFailed");
    CHECK_THAT(fwd.error().message, Catch::Contains(c.message));
  }
}

TEST_CASE("telemetry emulator: validates subscriptions like AWS") {
  FakeApi api;
  struct Case {
    std::string path, body;
    int status;
    std::string error;
  };
  const std::string ok_dest =
      R"("destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:4243"})";
  const std::vector<Case> cases = {
      {"/2022-07-01/telemetry",
       R"({"schemaVersion":"2022-12-13","types":[],"destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain"}})",
       400,
       R"({"errorType":"ValidationError","errorMessage":"URI port is not provided; types should not be empty"})"},
      {"/2020-08-15/logs", R"({"types":["platform"]})", 400,
       R"({"errorType":"Logs.ValidationError","errorMessage":"URI port is not provided"})"},
      {"/2022-07-01/telemetry",
       R"({"schemaVersion":"2022-12-13","types":["platform"],"buffering":{"maxItems":5},)" +
           ok_dest + "}",
       400, R"({"errorType":"ValidationError","errorMessage":"buffering out of bounds"})"},
      {"/2022-07-01/telemetry", "nope", 400,
       R"({"errorType":"ValidationError","errorMessage":"body is not a JSON object"})"},
      {"/2022-07-01/telemetry",
       R"({"schemaVersion":"2022-12-13","types":["platform"],)" + ok_dest + "}", 200, "OK"},
      {"/2020-08-15/logs", R"({"types":["platform"],)" + ok_dest + "}", 400,
       R"({"errorType":"Logs.ValidationError","errorMessage":"already subscribed to the Telemetry API"})"},
  };
  auto send = api.sender();
  for (const auto& c : cases) {
    INFO(c.path << " " << c.body);
    HttpRequest r;
    r.method = "PUT";
    r.path = c.path;
    r.headers = {{"Lambda-Extension-Identifier", kIdentifier}};
    r.body = c.body;
    auto res = send(r);
    REQUIRE(res.ok());
    CHECK(res->status == c.status);
    CHECK(res->body == c.error);
  }
  auto sub = api.telemetry.subscription();
  REQUIRE(sub.has_value());
  CHECK(sub->host == "127.0.0.1");  // sandbox.localdomain is this machine
  CHECK(sub->port == 4243);
}

TEST_CASE("telemetry forwarder: a slow child keeps memory bounded and the counts add up") {
  FakeApi api;
  RecordingSink sink;
  auto telemetry = telemetry_options();
  telemetry.queue_max_records = 100;
  ForwarderOptions options;
  options.delivery_timeout_ms = 60000;  // the child is slow, not broken
  auto fwd =
      TelemetryForwarder::start(telemetry, {}, kIdentifier, api.sender(), sink.sink(), options);
  REQUIRE(fwd.ok());
  sink.set_open(false);
  constexpr int kBatches = 40, kPerBatch = 20;
  int accepted = 0, refused = 0;
  uint64_t max_held = 0;
  for (int b = 0; b < kBatches; ++b) {
    std::vector<std::string> records;
    records.reserve(kPerBatch);
    for (int i = 0; i < kPerBatch; ++i) records.push_back(numbered(b * kPerBatch + i));
    const int status = api.telemetry.post(TelemetryEmulator::batch(records));  // no retry
    if (status == 200) ++accepted;
    if (status == kPushbackStatus) ++refused;
    const auto c = (*fwd)->counters();
    max_held = std::max(max_held, c.queued + c.in_flight);
  }
  CHECK(accepted + refused == kBatches);
  CHECK(refused > 0);
  CHECK(max_held <= telemetry.queue_max_records);
  sink.set_open(true);
  (*fwd)->shutdown(wall_clock_ms() + 10000);
  const auto c = (*fwd)->counters();
  CHECK(c.received == static_cast<uint64_t>(kBatches * kPerBatch));
  CHECK(c.delivered == static_cast<uint64_t>(accepted * kPerBatch));
  CHECK(c.dropped == static_cast<uint64_t>(refused * kPerBatch));
  CHECK(c.rejected_requests == static_cast<uint64_t>(refused));
  CHECK(sink.records().size() == c.delivered);
}

TEST_CASE(
    "telemetry forwarder: without a child, JSON lines, but never with `extension` subscribed") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  auto sink = make_json_lines_sink(fds[1]);
  TelemetryBatch batch;
  TelemetryRecord r;
  const std::string seven = numbered(7);
  r.raw = seven;
  batch.records.push_back(r);
  REQUIRE(sink(telemetry_event_json(batch), wall_clock_ms() + 1000));
  ::close(fds[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  CHECK(out == R"({"eventType":"TELEMETRY","records":[)" + seven + "]}\n");

  TelemetryOptions telemetry = telemetry_options();
  telemetry.types = {"platform", "extension"};
  CHECK_FALSE(make_no_child_sink(telemetry)("{}", wall_clock_ms() + 1000));
}
