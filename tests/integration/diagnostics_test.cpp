// What the real binary says when something goes wrong (named "lifecycle: …" so the layer tests
// run them against the static binary too): transport failures in words with their CURLcode,
// bounded calls to fakes that accept and never answer, the INFO line describing the
// configuration, and --help.
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/fd.hpp"
#include "extension_runner/core/json.hpp"
#include "extension_runner/fake_platform/extensions_api.hpp"
#include "extension_runner/host/settings.hpp"
#include "support.hpp"

using namespace extension_runner;
using test_support::lines_of;
using test_support::run_binary;

namespace {

/** Holds the handlers that wait on it until opened (the fake "never" answers until then). */
class Gate {
 public:
  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [this] { return open_; });
  }
  void open() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      open_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

/** Opens a gate when it goes out of scope, before the servers whose handlers wait on it stop. */
struct OpenOnExit {
  Gate& gate;
  ~OpenOnExit() { gate.open(); }
};

/** A socket listening on 127.0.0.1:0 that nobody accepts from: connects succeed, no answer. */
class SilentPort {
 public:
  SilentPort() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_.get(), 8) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    address_ = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  }
  const std::string& address() const { return address_; }

 private:
  Fd fd_;
  std::string address_;
};

/**
 * A Runtime API fake: register succeeds, /next answers a malformed event (→ exit/error), a
 * subscription is refused with 400 (→ init/error); init/error and exit/error wait on `gate`.
 */
class SilentReportsApi {
 public:
  explicit SilentReportsApi(Gate& gate) {
    const std::string base = "/2020-01-01/extension";
    server_.Post(base + "/register", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Lambda-Extension-Identifier", "6d1a6a1c-7d9e-4b8e-9a7c-3f1f2e4d5c6b");
      res.set_content(R"({"functionName":"f","functionVersion":"1","handler":"h"})",
                      "application/json");
    });
    server_.Get(base + "/event/next", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"eventType":"INVOKE"})", "application/json");
    });
    server_.Put("/2022-07-01/telemetry", [](const httplib::Request&, httplib::Response& res) {
      res.status = 400;
      res.set_content(R"({"errorType":"Telemetry.ValidationError","errorMessage":"no"})",
                      "application/json");
    });
    const auto silent = [this, &gate](const httplib::Request&, httplib::Response& res) {
      reports_waiting_.fetch_add(1);
      gate.wait();
      res.status = 202;
    };
    server_.Post(base + "/init/error", silent);
    server_.Post(base + "/exit/error", silent);
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~SilentReportsApi() {
    server_.stop();
    thread_.join();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int reports_waiting() const { return reports_waiting_.load(); }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> reports_waiting_{0};
};

int64_t in_ms(int64_t ms) { return wall_clock_ms() + ms; }

}  // namespace

TEST_CASE("lifecycle: a closed Runtime API port is logged as 'connection refused' with its code") {
  auto run = run_binary({}, {{"AWS_LAMBDA_RUNTIME_API", "127.0.0.1:1"}});
  INFO(run.err);
  CHECK_FALSE(run.timed_out);
  CHECK(run.status.code == 1);
  CHECK_THAT(run.err, Catch::Contains("register as 'extension-runner' with the Extensions API at "
                                      "127.0.0.1:1 (AWS_LAMBDA_RUNTIME_API) failed"));
  CHECK_THAT(run.err,
             Catch::Contains("connection refused") && Catch::Contains("(CURLcode 7, errno 111)"));
  CHECK_THAT(run.err, !Catch::Contains("failed: Error"));
}

TEST_CASE("lifecycle: a Runtime API that never answers register → said so, exit 1") {
  SilentPort api;
  auto run = run_binary(
      {}, {{"AWS_LAMBDA_RUNTIME_API", api.address()}, {"EXTENSION_RUNNER_API_TIMEOUT_MS", "300"}});
  INFO(run.err);
  CHECK_FALSE(run.timed_out);
  CHECK(run.status.code == 1);
  CHECK_THAT(run.err, Catch::Contains("register as 'extension-runner'"));
  CHECK_THAT(run.err, Catch::Contains("connection accepted, but no answer within 300 ms "
                                      "(CURLcode 28) (limit EXTENSION_RUNNER_API_TIMEOUT_MS=300)"));
}

TEST_CASE("lifecycle: a subscription that never answers → init/error SubscribeFailed, exit 1") {
  Gate gate;
  Emulator api;
  OpenOnExit opener{gate};
  api.server().Put("/2022-07-01/telemetry",
                   [&gate](const httplib::Request&, httplib::Response&) { gate.wait(); });
  REQUIRE(api.start().ok());
  auto run = run_binary({}, {{"AWS_LAMBDA_RUNTIME_API", api.runtime_api()},
                             {"EXTENSION_RUNNER_TELEMETRY", "telemetry"},
                             {"EXTENSION_RUNNER_ON_FAILURE", "report"},
                             {"EXTENSION_RUNNER_API_TIMEOUT_MS", "300"}});
  gate.open();
  INFO(run.err);
  CHECK_FALSE(run.timed_out);
  CHECK(run.status.code == 1);
  const auto errors = api.calls_to(Endpoint::InitError);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].header("Lambda-Extension-Function-Error-Type") == "Extension.SubscribeFailed");
  for (const auto& text : {errors[0].body, run.err}) {
    CHECK_THAT(text, Catch::Contains("Telemetry API subscription (EXTENSION_RUNNER_TELEMETRY) "
                                     "failed: PUT http://"));
    CHECK_THAT(text, Catch::Contains("no answer within 300 ms (CURLcode 28)"));
    CHECK_THAT(text, Catch::Contains("EXTENSION_RUNNER_API_TIMEOUT_MS=300"));
  }
  CHECK(api.calls_to(Endpoint::Next).empty());
}

TEST_CASE("lifecycle: an init/error or exit/error that never answers → logged, exit 1") {
  struct Case {
    const char* what;
    std::map<std::string, std::string> env;
  };
  const std::vector<Case> cases = {
      {"init/error", {{"EXTENSION_RUNNER_TELEMETRY", "telemetry"}}},  // the 400 → init/error
      {"exit/error", {}},                                             // malformed event
  };
  for (const auto& c : cases) {
    INFO(c.what);
    Gate gate;
    SilentReportsApi api(gate);
    OpenOnExit opener{gate};
    auto env = c.env;
    env["AWS_LAMBDA_RUNTIME_API"] = api.address();
    env["EXTENSION_RUNNER_API_TIMEOUT_MS"] = "300";
    env["EXTENSION_RUNNER_ON_FAILURE"] = "report";
    auto run = run_binary({}, env);
    gate.open();
    INFO(run.err);
    CHECK_FALSE(run.timed_out);
    CHECK(run.status.code == 1);
    CHECK(api.reports_waiting() == 1);
    CHECK_THAT(run.err, Catch::Contains(std::string("could not report ") + c.what +
                                        " to the Extensions API at " + api.address()));
    CHECK_THAT(run.err, Catch::Contains("no answer within 300 ms (CURLcode 28)") &&
                            Catch::Contains("EXTENSION_RUNNER_API_TIMEOUT_MS=300"));
  }
}

TEST_CASE("lifecycle: one INFO line at init describes the configuration; no secret in any line") {
  const std::map<std::string, std::string> secrets = {
      {"AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-sentinel-secret"},
      {"AWS_SESSION_TOKEN", "IQoJb3JpZ2luX2VjE-sentinel-token"},
      {"AWS_ACCESS_KEY_ID", "AKIA-sentinel-key-id"},
  };
  Emulator api;
  REQUIRE(api.start().ok());
  api.push_invoke("req-1", in_ms(5000));
  api.push_shutdown("spindown", in_ms(2000));
  auto env = secrets;
  env["AWS_LAMBDA_RUNTIME_API"] = api.runtime_api();
  env["AWS_LAMBDA_LOG_LEVEL"] = "TRACE";
  env["EXTENSION_RUNNER_DISPATCH"] = "async";
  auto run = run_binary({}, env);
  INFO(run.err);
  CHECK(run.status.success());
  int config_lines = 0;
  for (const auto& line : lines_of(run.err)) {
    if (line.find("config: ") == std::string::npos) continue;
    ++config_lines;
    CHECK_THAT(line, Catch::Contains(" INFO "));
    CHECK_THAT(line, Catch::Contains("platform=lambda") && Catch::Contains("child=none") &&
                         Catch::Contains("telemetry=off") &&
                         Catch::Contains("runtime-api=" + api.runtime_api()));
  }
  CHECK(config_lines == 1);
  for (const auto& [name, value] : secrets) {
    INFO(name);
    CHECK_THAT(run.err, !Catch::Contains(value));
    CHECK_THAT(run.out, !Catch::Contains(value));
  }
}

TEST_CASE("lifecycle: --help shows each setting's kind, not TEXT") {
  auto help = run_binary({"--help"}, {});
  CHECK(help.status.success());
  for (const auto& s : settings()) {
    INFO(s.env);
    CHECK_THAT(help.out, Catch::Contains("--" + s.flag + " " + s.kind.help_type()));
  }
  CHECK_THAT(help.out, Catch::Contains("--api-timeout-ms INT 100-9000"));
  CHECK_THAT(help.out, !Catch::Contains(" TEXT "));
}
