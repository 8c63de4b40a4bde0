// The lifecycle's telemetry steps (subscribe after the child started, flush after each INVOKE,
// drain before the child's SHUTDOWN), against the Extensions API emulator with the Telemetry API
// side installed on its server.
#include <atomic>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/json.hpp"
#include "extension_runner/fake_platform/extensions_api.hpp"
#include "extension_runner/fake_platform/telemetry_api.hpp"
#include "extension_runner/host/lifecycle.hpp"
#include "fake_platform.hpp"

using namespace extension_runner;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

/** Stands in for the child: signals when an INVOKE has been handled. */
class InnerHandler final : public EventHandler {
 public:
  Result<void> init(const InitContext&) override { return {}; }
  Result<void> on_invoke(const InvokeEvent& event) override {
    std::lock_guard<std::mutex> lock(mutex_);
    handled_.push_back(event.request_id);
    changed_.notify_all();
    return {};
  }
  Result<void> on_shutdown(const ShutdownEvent&, const ShutdownBudget&) override { return {}; }
  bool wait_for_invokes(size_t n) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, seconds(30), [&] { return handled_.size() >= n; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> handled_;
};

struct Sandbox : test_support::FakePlatform {
  Sandbox() { REQUIRE(api.start().ok()); }
};

Extension with_telemetry(std::unique_ptr<EventHandler> events, BatchSink sink) {
  Extension extension;
  extension.events = std::move(events);
  extension.telemetry = TelemetryDelivery{std::move(sink), {}};
  return extension;
}

BatchSink accept_all() {
  return [](const std::string&, int64_t) { return true; };
}

}  // namespace

TEST_CASE(
    "lifecycle with telemetry: runtimeDone of request N reaches the sink before the next /next") {
  Sandbox sandbox;
  Config config;
  config.runtime_api = sandbox.api.runtime_api();
  config.telemetry.mode = TelemetryMode::Telemetry;
  config.telemetry.listen = "127.0.0.1:0";

  std::mutex mutex;
  std::vector<int> waiting_next_at_done;  // the emulator's blocked /next count at delivery
  std::vector<std::string> delivered;
  BatchSink sink = [&](const std::string& event_json, int64_t) {
    auto doc = parse_json(event_json);
    if (!doc) return false;
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& r : (*doc)["records"].GetArray()) {
      delivered.push_back(to_json(r));
      if (json_string(r, "type") == "platform.runtimeDone") {
        waiting_next_at_done.push_back(sandbox.api.waiting_next());
      }
    }
    return true;
  };
  auto inner = std::make_unique<InnerHandler>();
  InnerHandler& child = *inner;
  auto parts = with_telemetry(std::move(inner), sink);
  std::atomic<int> exit_code{-1};
  std::thread extension([&] { exit_code = run_lifecycle(config, "extension-runner", parts); });

  REQUIRE(sandbox.telemetry.wait_for_subscription(seconds(30)));
  constexpr int kInvokes = 3;
  for (int i = 1; i <= kInvokes; ++i) {
    const std::string id = "req-" + std::to_string(i);
    REQUIRE(sandbox.api.wait_for_idle_next(milliseconds(30000)));
    sandbox.api.push_invoke(id, wall_clock_ms() + 30000);
    // The function's telemetry arrives after the extension has handled the INVOKE.
    REQUIRE(child.wait_for_invokes(static_cast<size_t>(i)));
    REQUIRE(sandbox.telemetry.post_until_accepted(
                TelemetryEmulator::batch({TelemetryEmulator::start_record(id),
                                          TelemetryEmulator::function_record("hello " + id)}),
                seconds(30)) == 200);
    REQUIRE(sandbox.telemetry.post_until_accepted(
                TelemetryEmulator::batch({TelemetryEmulator::runtime_done_record(id)}),
                seconds(30)) == 200);
  }
  REQUIRE(sandbox.api.wait_for_idle_next(milliseconds(30000)));
  // platform.report comes after the extension is idle; the shutdown flush must deliver it.
  REQUIRE(sandbox.telemetry.post_until_accepted(
              TelemetryEmulator::batch({TelemetryEmulator::report_record("req-3")}), seconds(30)) ==
          200);
  sandbox.api.push_shutdown("spindown", wall_clock_ms() + 2000);
  extension.join();
  CHECK(exit_code == kExitOk);

  std::lock_guard<std::mutex> lock(mutex);
  // While each runtimeDone was being delivered, the extension had not asked for /next yet.
  CHECK(waiting_next_at_done == std::vector<int>(kInvokes, 0));
  REQUIRE(delivered.size() == 3 * kInvokes + 1);
  CHECK(delivered.back().find("platform.report") != std::string::npos);
}

TEST_CASE(
    "lifecycle with telemetry: a 400 from the subscription is init/error "
    "Extension.SubscribeFailed (on-failure report)") {
  Sandbox sandbox;
  sandbox.telemetry.inject(SubscribeFault::ValidationError);
  Config config;
  config.runtime_api = sandbox.api.runtime_api();
  config.on_failure = FailurePolicy::Report;
  config.telemetry.mode = TelemetryMode::Telemetry;
  config.telemetry.listen = "127.0.0.1:0";
  auto parts = with_telemetry(std::make_unique<InnerHandler>(), accept_all());
  CHECK(run_lifecycle(config, "extension-runner", parts) == kExitFailure);
  const auto errors = sandbox.api.calls_to(Endpoint::InitError);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].header("Lambda-Extension-Function-Error-Type") == "Extension.SubscribeFailed");
  CHECK(errors[0].body.find("ValidationError") != std::string::npos);
}

TEST_CASE(
    "lifecycle with telemetry: a refused subscription under on-failure continue keeps the "
    "events flowing, reports nothing and says what was lost") {
  Sandbox sandbox;
  sandbox.telemetry.inject(SubscribeFault::ValidationError);
  Config config;
  config.runtime_api = sandbox.api.runtime_api();
  config.on_failure = FailurePolicy::Continue;
  config.telemetry.mode = TelemetryMode::Telemetry;
  config.telemetry.listen = "127.0.0.1:0";
  sandbox.api.push_invoke("r1", wall_clock_ms() + 30000);
  sandbox.api.push_shutdown("spindown", wall_clock_ms() + 2000);
  auto inner = std::make_unique<InnerHandler>();
  InnerHandler& child = *inner;
  auto parts = with_telemetry(std::move(inner), accept_all());
  CHECK(run_lifecycle(config, "extension-runner", parts) == kExitOk);
  CHECK(child.wait_for_invokes(1));
  CHECK(sandbox.api.calls_to(Endpoint::InitError).empty());
  CHECK(sandbox.api.calls_to(Endpoint::ExitError).empty());
  CHECK(parts.absorbed.failures == 1);
  CHECK(parts.absorbed.events_lost == 0);  // the child still had every event
  CHECK_THAT(parts.summary(), Catch::Contains("Extension.SubscribeFailed"));
}

TEST_CASE("lifecycle with telemetry: 202 NotSupported (sam local) keeps serving events") {
  Sandbox sandbox;
  sandbox.telemetry.inject(SubscribeFault::NotSupported);
  Config config;
  config.runtime_api = sandbox.api.runtime_api();
  config.telemetry.mode = TelemetryMode::Logs;
  config.telemetry.listen = "127.0.0.1:0";
  sandbox.api.push_invoke("r1", wall_clock_ms() + 30000);
  sandbox.api.push_shutdown("spindown", wall_clock_ms() + 2000);
  auto inner = std::make_unique<InnerHandler>();
  InnerHandler& child = *inner;
  auto parts = with_telemetry(std::move(inner), accept_all());
  CHECK(run_lifecycle(config, "extension-runner", parts) == kExitOk);
  CHECK(child.wait_for_invokes(1));
  CHECK(sandbox.api.calls_to(Endpoint::InitError).empty());
}
