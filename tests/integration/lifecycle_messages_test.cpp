// The lifecycle's messages steps (the endpoint opens before /register, an invocation's messages
// reach the sink before the next /next with FLUSH=invoke, all are drained at SHUTDOWN), against
// the Extensions API emulator.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <mutex>
#include <thread>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/json.hpp"
#include "extension_runner/host/lifecycle.hpp"
#include "fake_platform.hpp"

using namespace extension_runner;
using std::chrono::milliseconds;

namespace {

/** Stands in for the child, and for the function: posts `per_invoke` messages per INVOKE. */
class PostingHandler final : public EventHandler {
 public:
  PostingHandler(Extension& extension, int per_invoke)
      : extension_(extension), per_invoke_(per_invoke) {}
  Result<void> init(const InitContext&) override { return {}; }
  Result<void> on_invoke(const InvokeEvent& event) override {
    if (per_invoke_ == 0) return {};
    httplib::Client client("127.0.0.1", extension_.messages_forwarder->port());
    for (int i = 0; i < per_invoke_; ++i) {
      auto res =
          client.Post("/v1/messages", R"({"n":)" + std::to_string(i) + "}", "application/json");
      if (!res || res->status != 202) {
        return make_error(ErrorKind::Io, "post for " + event.request_id + " failed");
      }
    }
    return {};
  }
  Result<void> on_shutdown(const ShutdownEvent&, const ShutdownBudget&) override { return {}; }

 private:
  Extension& extension_;
  const int per_invoke_;
};

}  // namespace

TEST_CASE(
    "lifecycle with messages: each flush strategy delivers every message, invoke before /next") {
  struct Case {
    FlushMode flush;
    bool before_next;  // every invocation's messages delivered before its next /next
  };
  const std::vector<Case> cases = {
      {FlushMode::Invoke, true},
      {FlushMode::Adaptive, true},  // the first invocations: invoke
      {FlushMode::Periodic, false},
  };
  for (const auto& c : cases) {
    INFO(flush_mode_name(c.flush));
    test_support::FakePlatform sandbox;
    REQUIRE(sandbox.api.start().ok());
    Config config;
    config.runtime_api = sandbox.api.runtime_api();
    config.on_failure = FailurePolicy::Report;
    config.telemetry.flush = c.flush;
    config.messages.enabled = true;
    config.messages.listen = "127.0.0.1:0";

    std::mutex mutex;
    std::vector<std::string> delivered;  // requestId of each message
    std::vector<int> waiting_next;       // the emulator's blocked /next count at each delivery
    Extension parts;
    parts.messages =
        TelemetryDelivery{[&](const std::string& event_json, int64_t) {
                            auto doc = parse_json(event_json);
                            if (!doc) return false;
                            std::lock_guard<std::mutex> lock(mutex);
                            for (const auto& m : (*doc)["messages"].GetArray()) {
                              delivered.push_back(json_string(m, "requestId").value_or(""));
                              waiting_next.push_back(sandbox.api.waiting_next());
                            }
                            return true;
                          },
                          {}};
    constexpr int kPerInvoke = 5, kInvokes = 3;
    parts.events = std::make_unique<PostingHandler>(parts, kPerInvoke);
    for (int i = 1; i <= kInvokes; ++i) {
      sandbox.api.push_invoke("req-" + std::to_string(i), wall_clock_ms() + 30000);
    }
    sandbox.api.push_shutdown("spindown", wall_clock_ms() + 2000);
    CHECK(run_lifecycle(config, "extension-runner", parts) == kExitOk);

    std::lock_guard<std::mutex> lock(mutex);
    REQUIRE(delivered.size() == static_cast<size_t>(kPerInvoke * kInvokes));
    for (int i = 0; i < kPerInvoke * kInvokes; ++i) {
      CHECK(delivered[i] == "req-" + std::to_string(i / kPerInvoke + 1));
    }
    if (c.before_next) CHECK(waiting_next == std::vector<int>(delivered.size(), 0));
    const auto counters = parts.messages_forwarder->counters();
    CHECK(counters.delivered == delivered.size());
    CHECK(counters.refused == 0);
    CHECK(parts.summary().find("messages: received=15 delivered=15") != std::string::npos);
  }
}

TEST_CASE("lifecycle with messages: a taken port is init/error ListenerFailed, or absorbed") {
  // Hold a port the endpoint is configured to bind.
  httplib::Server holder;
  const int port = holder.bind_to_any_port("127.0.0.1");
  REQUIRE(port > 0);
  for (const auto policy : {FailurePolicy::Report, FailurePolicy::Continue}) {
    test_support::FakePlatform sandbox;
    REQUIRE(sandbox.api.start().ok());
    Config config;
    config.runtime_api = sandbox.api.runtime_api();
    config.on_failure = policy;
    config.messages.enabled = true;
    config.messages.listen = "127.0.0.1:" + std::to_string(port);
    Extension parts;
    parts.messages = TelemetryDelivery{[](const std::string&, int64_t) { return true; }, {}};
    parts.events = std::make_unique<PostingHandler>(parts, 0);
    sandbox.api.push_invoke("r1", wall_clock_ms() + 30000);
    sandbox.api.push_shutdown("spindown", wall_clock_ms() + 2000);
    const int code = run_lifecycle(config, "extension-runner", parts);
    const auto errors = sandbox.api.calls_to(Endpoint::InitError);
    if (policy == FailurePolicy::Report) {
      CHECK(code == kExitFailure);
      REQUIRE(errors.size() == 1);
      CHECK(errors[0].header("Lambda-Extension-Function-Error-Type") == "Extension.ListenerFailed");
      CHECK(errors[0].body.find("EXTENSION_RUNNER_MESSAGES_LISTEN") != std::string::npos);
    } else {
      CHECK(code == kExitOk);
      CHECK(errors.empty());
      CHECK(parts.absorbed.failures == 1);
      CHECK_THAT(parts.summary(), Catch::Contains("Extension.ListenerFailed"));
    }
  }
}

#include "extension_runner/runner/process.hpp"
#include "support.hpp"

namespace {

/** A loopback port free a moment ago (the endpoint needs a fixed one the test can post to). */
int free_port() {
  const int sock = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = -1;
  if (::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(sock, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(sock);
  return port;
}

/** Kills the host unless it has been waited for: a failed REQUIRE must not leave it running. */
struct KillOnExit {
  ChildProcess& host;
  bool waited = false;
  ~KillOnExit() {
    if (!waited) {
      host.signal_group(SIGKILL);
      (void)host.wait();
    }
  }
};

}  // namespace

TEST_CASE("binary with messages: posts reach stdout as MESSAGES events, answers counted") {
  test_support::FakePlatform sandbox;
  REQUIRE(sandbox.api.start().ok());
  const int port = free_port();
  REQUIRE(port > 0);
  sandbox.api.push_invoke("req-1", wall_clock_ms() + 30000);
  SpawnOptions o;
  o.argv = {test_support::binary_path()};
  o.set_env = {{"AWS_LAMBDA_RUNTIME_API", sandbox.api.runtime_api()},
               {"EXTENSION_RUNNER_MESSAGES", "on"},
               {"EXTENSION_RUNNER_MESSAGES_LISTEN", "127.0.0.1:" + std::to_string(port)},
               {"EXTENSION_RUNNER_FLUSH", "periodic"}};
  o.unset_env = {"EXTENSION_RUNNER_COMMAND", "EXTENSION_RUNNER_CONFIG"};
  o.pipe_stdin = false;
  auto host = ChildProcess::spawn(o);
  REQUIRE(host.ok());
  test_support::Drain out(std::move(host->stdout_fd()));
  test_support::Drain err(std::move(host->stderr_fd()));
  KillOnExit guard{*host};
  // The INVOKE handled, the host waits at /next: the function's posts come now.
  REQUIRE(sandbox.api.wait_for_idle_next(milliseconds(20000)));
  httplib::Client client("127.0.0.1", port);
  struct Post {
    const char* what;
    const char* body;
    const char* type;
    int status;
  };
  const std::vector<Post> posts = {
      {"two", R"([{"k":"a"},{"k":"b"}])", "application/json", 202},
      {"malformed", "[1,", "application/json", 400},
      {"ndjson", "{\"k\":\"c\"}\n", "application/x-ndjson", 202},
  };
  for (const auto& p : posts) {
    INFO(p.what);
    auto res = client.Post("/v1/messages", p.body, p.type);
    REQUIRE(res);
    CHECK(res->status == p.status);
  }
  auto get = client.Get("/v1/messages");
  REQUIRE(get);
  CHECK(get->status == 405);
  sandbox.api.push_shutdown("spindown", wall_clock_ms() + 2000);
  auto status = host->wait_for(milliseconds(20000));
  REQUIRE(status.has_value());
  guard.waited = true;
  const std::string log = err.take();
  INFO(log);
  CHECK(status->success());
  std::vector<std::string> kinds;
  for (const auto& line : test_support::lines_of(out.take())) {
    auto doc = parse_json(line);
    REQUIRE(doc);
    if (json_string(*doc, "eventType") != std::optional<std::string>("MESSAGES")) continue;
    for (const auto& m : (*doc)["messages"].GetArray()) {
      CHECK(json_string(m, "requestId") == std::optional<std::string>("req-1"));
      kinds.push_back(json_string(m["message"], "k").value_or("?"));
    }
  }
  CHECK(kinds == std::vector<std::string>{"a", "b", "c"});
  CHECK_THAT(log, Catch::Contains(
                      "messages: received=3 delivered=3 refused=0 dropped=0 rejected_requests=2"));
}
