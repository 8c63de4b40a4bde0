#include <httplib.h>

#include <catch2/catch.hpp>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/json.hpp"
#include "extension_runner/messages/forwarder.hpp"

using namespace extension_runner;

namespace {

MessagesOptions local_options() {
  MessagesOptions o;
  o.enabled = true;
  o.listen = "127.0.0.1:0";
  return o;
}

/** A sink recording every MESSAGES event; `gate` closed holds deliveries (a slow child). */
struct RecordingSink {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> events;
  bool gate_open = true;

  BatchSink sink() {
    return [this](const std::string& event, int64_t deadline_ms) {
      std::unique_lock<std::mutex> lock(mutex);
      if (!changed.wait_until(lock, steady_deadline(deadline_ms), [&] { return gate_open; })) {
        return false;
      }
      events.push_back(event);
      changed.notify_all();
      return true;
    };
  }
  void set_gate(bool open) {
    std::lock_guard<std::mutex> lock(mutex);
    gate_open = open;
    changed.notify_all();
  }
  /** Every delivered message record, in order. */
  std::vector<std::string> messages() {
    std::lock_guard<std::mutex> lock(mutex);
    std::vector<std::string> out;
    for (const auto& event : events) {
      auto doc = parse_json(event);
      REQUIRE(doc);
      REQUIRE(json_string(*doc, "eventType") == std::optional<std::string>("MESSAGES"));
      for (const auto& m : (*doc)["messages"].GetArray()) out.push_back(to_json(m));
    }
    return out;
  }
};

InvokeEvent invoke_event(const std::string& id) {
  InvokeEvent e;
  e.request_id = id;
  e.deadline_ms = wall_clock_ms() + 30000;
  return e;
}

int status_of(const httplib::Result& res) { return res ? res->status : -1; }

}  // namespace

TEST_CASE("messages endpoint: requests -> status, and what is queued") {
  struct Case {
    const char* what;
    const char* method;
    const char* path;
    const char* content_type;
    std::string body;
    int status;
    size_t delivered;
  };
  const std::vector<Case> cases = {
      {"one JSON value", "POST", "/v1/messages", "application/json", R"({"n":1})", 202, 1},
      {"JSON array", "POST", "/v1/messages", "application/json", "[1,2,3]", 202, 3},
      {"ndjson", "POST", "/v1/messages", "application/x-ndjson", "1\n2\n", 202, 2},
      {"malformed: nothing queued", "POST", "/v1/messages", "application/json", "[1,2,", 400, 0},
      {"bad ndjson line: nothing queued", "POST", "/v1/messages", "application/x-ndjson",
       "1\nnope\n", 400, 0},
      {"over the size limit", "POST", "/v1/messages", "application/json",
       "\"" + std::string(2048, 'x') + "\"", 413, 0},
      {"unsupported type", "POST", "/v1/messages", "text/plain", "hi", 415, 0},
      {"GET", "GET", "/v1/messages", "", "", 405, 0},
      {"other path", "POST", "/v1/other", "application/json", "1", 404, 0},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    RecordingSink recording;
    auto options = local_options();
    options.max_body_bytes = 1024;
    auto forwarder = MessagesForwarder::start(options, FlushMode::Periodic, true, recording.sink());
    REQUIRE(forwarder);
    httplib::Client client("127.0.0.1", (*forwarder)->port());
    auto res = std::string(c.method) == "GET" ? client.Get(c.path)
                                              : client.Post(c.path, c.body, c.content_type);
    CHECK(status_of(res) == c.status);
    if (c.status == 405) CHECK(res->get_header_value("Allow") == "POST");
    (*forwarder)->shutdown(wall_clock_ms() + 5000);
    const auto counters = (*forwarder)->counters();
    CHECK(counters.delivered == c.delivered);
    CHECK(counters.received == c.delivered);
    CHECK(counters.rejected_requests == (c.status >= 400 ? 1u : 0u));
    CHECK(recording.messages().size() == c.delivered);
  }
}

TEST_CASE("messages forwarder: invoke flush delivers an invocation's messages before returning") {
  RecordingSink recording;
  auto forwarder =
      MessagesForwarder::start(local_options(), FlushMode::Invoke, true, recording.sink());
  REQUIRE(forwarder);
  httplib::Client client("127.0.0.1", (*forwarder)->port());
  for (const std::string id : {"inv-1", "inv-2"}) {
    const auto event = invoke_event(id);
    (*forwarder)->before_invoke(event);
    REQUIRE(status_of(client.Post("/v1/messages", R"({"from":")" + id + "\"}",
                                  "application/json")) == 202);
    REQUIRE(status_of(client.Post("/v1/messages", {{"Extension-Runner-Request-Id", "other"}}, "7",
                                  "application/json")) == 202);
    CHECK((*forwarder)->after_invoke(event));
    // Nothing awaited beyond after_invoke: both messages are already with the sink.
    const auto messages = recording.messages();
    REQUIRE(messages.size() >= 2);
    auto first = parse_json(messages[messages.size() - 2]);
    auto second = parse_json(messages.back());
    REQUIRE(first);
    REQUIRE(second);
    CHECK(json_string(*first, "requestId") == std::optional<std::string>(id));
    CHECK(to_json((*first)["message"]) == R"({"from":")" + id + "\"}");
    CHECK(json_string(*first, "time").value_or("").size() == 24);
    CHECK(json_string(*second, "requestId") == std::optional<std::string>("other"));
  }
  (*forwarder)->shutdown(wall_clock_ms() + 5000);
  CHECK((*forwarder)->counters().delivered == 4);
}

TEST_CASE("messages forwarder: untagged on Managed Instances") {
  RecordingSink recording;
  auto forwarder =
      MessagesForwarder::start(local_options(), FlushMode::Periodic, false, recording.sink());
  REQUIRE(forwarder);
  (*forwarder)->before_invoke(invoke_event("inv-1"));
  httplib::Client client("127.0.0.1", (*forwarder)->port());
  REQUIRE(status_of(client.Post("/v1/messages", "1", "application/json")) == 202);
  (*forwarder)->shutdown(wall_clock_ms() + 5000);
  const auto messages = recording.messages();
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].find(R"("requestId":null)") != std::string::npos);
}

TEST_CASE("messages forwarder: full queue answers 503, counted, nothing accepted is lost") {
  RecordingSink recording;
  recording.set_gate(false);  // a slow child: nothing leaves the queue meanwhile
  auto options = local_options();
  options.queue_max_records = 10;
  auto forwarder = MessagesForwarder::start(options, FlushMode::Periodic, true, recording.sink());
  REQUIRE(forwarder);
  httplib::Client client("127.0.0.1", (*forwarder)->port());
  int accepted = 0, refused = 0;
  for (int i = 0; i < 30; ++i) {
    auto res = client.Post("/v1/messages", std::to_string(i), "application/json");
    REQUIRE(res);
    if (res->status == 202) {
      ++accepted;
    } else {
      CHECK(res->status == 503);
      CHECK(res->get_header_value("Retry-After") == "1");
      ++refused;
    }
  }
  CHECK(refused > 0);
  CHECK(accepted >= 10);
  recording.set_gate(true);
  (*forwarder)->shutdown(wall_clock_ms() + 5000);
  const auto c = (*forwarder)->counters();
  CHECK(c.delivered == static_cast<uint64_t>(accepted));
  CHECK(c.refused == static_cast<uint64_t>(refused));
  CHECK(c.dropped == 0);
  CHECK(c.received == c.delivered + c.refused);
  CHECK(recording.messages().size() == static_cast<size_t>(accepted));
  CHECK(c.to_line().find("refused=" + std::to_string(refused)) != std::string::npos);
}

TEST_CASE("messages forwarder: after SHUTDOWN posts are refused and counted") {
  RecordingSink recording;
  auto forwarder =
      MessagesForwarder::start(local_options(), FlushMode::Periodic, true, recording.sink());
  REQUIRE(forwarder);
  httplib::Client client("127.0.0.1", (*forwarder)->port());
  REQUIRE(status_of(client.Post("/v1/messages", "[1,2]", "application/json")) == 202);
  (*forwarder)->shutdown(wall_clock_ms() + 5000);
  CHECK(status_of(client.Post("/v1/messages", "3", "application/json")) == 503);
  const auto c = (*forwarder)->counters();
  CHECK(c.delivered == 2);
  CHECK(c.refused == 1);
}

TEST_CASE("messages forwarder: a sender disconnecting mid-body queues nothing") {
  RecordingSink recording;
  auto forwarder =
      MessagesForwarder::start(local_options(), FlushMode::Periodic, true, recording.sink());
  REQUIRE(forwarder);
  {
    httplib::Client client("127.0.0.1", (*forwarder)->port());
    // Content-Length promises more than the provider sends, then the provider gives up.
    client.Post(
        "/v1/messages", 100,
        [](size_t offset, size_t, httplib::DataSink& sink) {
          if (offset > 0) return false;
          sink.write("[1,2,", 5);
          return true;
        },
        "application/json");
  }
  httplib::Client after("127.0.0.1", (*forwarder)->port());
  REQUIRE(status_of(after.Post("/v1/messages", "9", "application/json")) == 202);
  (*forwarder)->shutdown(wall_clock_ms() + 5000);
  CHECK(recording.messages() ==
        std::vector<std::string>{
            R"({"requestId":null,"time":")" +
            json_string(*parse_json(recording.messages()[0]), "time").value_or("") +
            R"(","message":9})"});
  CHECK((*forwarder)->counters().delivered == 1);
}
