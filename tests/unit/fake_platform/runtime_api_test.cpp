#include "extension_runner/fake_platform/runtime_api.hpp"

#include <httplib.h>

#include <catch2/catch.hpp>
#include <thread>

using namespace extension_runner;

namespace {

using Clock = std::chrono::steady_clock;

Clock::time_point generous() { return Clock::now() + std::chrono::seconds(30); }

/** A RuntimeApiEmulator on its own server on 127.0.0.1:0, and a runtime's client to it. */
struct Served {
  RuntimeApiEmulator api;
  httplib::Server server;
  std::thread thread;
  int port = 0;
  Served() {
    api.install(server);
    port = server.bind_to_any_port("127.0.0.1");
    REQUIRE(port > 0);
    thread = std::thread([this] { server.listen_after_bind(); });
    while (!server.is_running()) std::this_thread::yield();
  }
  ~Served() {
    api.stop();
    server.stop();
    thread.join();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(std::chrono::seconds(30));
    return c;
  }
};

RuntimeEvent event(const std::string& id, const std::string& body = "{}") {
  return RuntimeEvent{id, 1700000000000, "arn:aws:lambda:us-east-1:1:function:f",
                      "Root=1-2-3;Sampled=1", body};
}

constexpr const char* kNext = "/2018-06-01/runtime/invocation/next";

std::string path(const std::string& id, const std::string& what) {
  return "/2018-06-01/runtime/invocation/" + id + "/" + what;
}

}  // namespace

TEST_CASE("runtime api: /next hands out queued events with the Lambda-Runtime headers, in order") {
  Served s;
  s.api.push(event("r1", R"({"a":1})"));
  s.api.push(event("r2", R"({"b":2})"));
  auto c = s.client();
  for (const auto& [id, body] : std::vector<std::pair<std::string, std::string>>{
           {"r1", R"({"a":1})"}, {"r2", R"({"b":2})"}}) {
    auto res = c.Get(kNext);
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->body == body);
    CHECK(res->get_header_value("Lambda-Runtime-Aws-Request-Id") == id);
    CHECK(res->get_header_value("Lambda-Runtime-Deadline-Ms") == "1700000000000");
    CHECK(res->get_header_value("Lambda-Runtime-Invoked-Function-Arn") ==
          "arn:aws:lambda:us-east-1:1:function:f");
    CHECK(res->get_header_value("Lambda-Runtime-Trace-Id") == "Root=1-2-3;Sampled=1");
    CHECK(s.api.handed_out_at(id).has_value());
  }
  CHECK_FALSE(s.api.handed_out_at("r3").has_value());
}

TEST_CASE("runtime api: answers are recorded, refused ones say why") {
  struct Case {
    std::string name;
    std::string what;  ///< response / error
    std::string id;    ///< as posted
    httplib::Headers headers;
    std::string body;
    int status;
    std::string error_type;  ///< recorded (Error only)
  };
  const std::string big(kRuntimeApiMaxPayloadBytes + 1, 'x');
  const std::vector<Case> cases = {
      {"a response", "response", "r1", {}, R"({"ok":true})", 202, ""},
      {"an error typed by its header",
       "error",
       "r1",
       {{"Lambda-Runtime-Function-Error-Type", "Function.Unhandled"}},
       R"({"errorMessage":"m","errorType":"Body.Type"})",
       202,
       "Function.Unhandled"},
      {"an error typed by its body",
       "error",
       "r1",
       {},
       R"({"errorMessage":"m","errorType":"Body.Type"})",
       202,
       "Body.Type"},
      {"an error without a type", "error", "r1", {}, "not json", 202, ""},
      {"an id never handed out", "response", "nobody", {}, "{}", 400, ""},
      {"a body over 6 MB", "response", "r1", {}, big, 413, ""},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      Served s;
      s.api.push(event("r1"));
      auto client = s.client();
      REQUIRE(client.Get(kNext));
      auto res = client.Post(path(c.id, c.what).c_str(), c.headers, c.body, "application/json");
      REQUIRE(res);
      CHECK(res->status == c.status);
      const auto answer = s.api.wait_for_answer(c.id, Clock::now());
      if (c.status == 400) {
        CHECK_THAT(res->body, Catch::Contains("InvalidRequestID"));
        CHECK_FALSE(answer.has_value());
        continue;
      }
      REQUIRE(answer.has_value());
      CHECK(answer->status == c.status);
      CHECK(answer->outcome ==
            (c.what == "response" ? RuntimeOutcome::Response : RuntimeOutcome::Error));
      CHECK(answer->error_type == c.error_type);
      CHECK(answer->at >= *s.api.handed_out_at("r1"));
    }
  }
}

TEST_CASE("runtime api: a second answer to one invocation is refused, init/error is recorded") {
  Served s;
  s.api.push(event("r1"));
  auto c = s.client();
  REQUIRE(c.Get(kNext));
  REQUIRE(c.Post(path("r1", "response").c_str(), "{}", "application/json")->status == 202);
  auto again = c.Post(path("r1", "error").c_str(), "{}", "application/json");
  REQUIRE(again);
  CHECK(again->status == 400);
  auto init = c.Post("/2018-06-01/runtime/init/error",
                     httplib::Headers{{"Lambda-Runtime-Function-Error-Type", "Runtime.BadInit"}},
                     "{}", "application/json");
  REQUIRE(init);
  CHECK(init->status == 202);
  const auto answers = s.api.answers();
  REQUIRE(answers.size() == 2);
  CHECK(answers[0].outcome == RuntimeOutcome::Response);
  CHECK(answers[1].outcome == RuntimeOutcome::InitError);
  CHECK(answers[1].error_type == "Runtime.BadInit");
}

TEST_CASE("runtime api: stop() ends a waiting /next with 500 and a waiting answer") {
  Served s;
  auto c = s.client();
  std::optional<int> status;
  std::thread runtime([&] {
    auto res = c.Get(kNext);
    status = res ? res->status : -1;
  });
  // Nothing is queued: the runtime waits until the platform goes away.
  CHECK_FALSE(s.api.wait_for_answer("r1", Clock::now() + std::chrono::milliseconds(10)));
  s.api.stop();
  runtime.join();
  CHECK(status == 500);
  CHECK_FALSE(s.api.wait_for_answer("r1", generous()).has_value());
}
