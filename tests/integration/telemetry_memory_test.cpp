// The host's memory under a saturating telemetry load: the real binary in Lambda mode, a slow
// child, and the platform POSTing 50 batches of 1000 records as fast as it is allowed. The peak
// (the host's own getrusage, logged at shutdown) is written to $ER_BENCH_OUT for `make bench`;
// the bound checked is the README's: the increase over the same run without load stays within
// the configured queue bytes + 4 MB.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/fake_platform/extensions_api.hpp"
#include "extension_runner/fake_platform/telemetry_api.hpp"
#include "fake_platform.hpp"
#include "support.hpp"

using namespace extension_runner;
using test_support::run_binary;

namespace {

// Answers every request; TELEMETRY ones only after a pause (a child slower than the platform).
constexpr const char* kSlowChild = R"PY(
import json, sys, time
for line in sys.stdin:
    msg = json.loads(line)
    if "handler" in msg:
        print(json.dumps({"ok": True}), flush=True); continue
    if '"eventType":"TELEMETRY"' in line or '"eventType": "TELEMETRY"' in line:
        time.sleep(0.05)
    print(json.dumps({"result": {}, "errortype": "", "invokeid": msg["context"]["aws_request_id"]}), flush=True)
)PY";

constexpr int kBatches = 50;
constexpr int kPerBatch = 1000;
constexpr size_t kQueueBytes = 8 * 1024 * 1024;  // the default EXTENSION_RUNNER_QUEUE_MAX_BYTES

long field(const std::string& err, const std::string& key) {
  const auto at = err.rfind(" " + key + "=");
  return at == std::string::npos ? -1 : std::stol(err.substr(at + key.size() + 2));
}

struct LoadRun {
  long peak_rss_kb = -1;
  long received = -1, delivered = -1, dropped = -1, queued = -1;
  std::string err;
};

LoadRun run_load(bool with_load) {
  test_support::FakePlatform fake;
  auto& api = fake.api;
  auto& telemetry = fake.telemetry;
  REQUIRE(api.start().ok());
  char tmpl[] = "/tmp/er-memory-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string script = dir + "/slow.py";
  std::ofstream(script) << kSlowChild;
  api.push_invoke("req-1", wall_clock_ms() + 600000);

  std::thread platform([&] {
    if (!telemetry.wait_for_subscription(std::chrono::seconds(30))) return;
    if (with_load) {
      // ~250-byte records: 1000 make a batch of about maxBytes (262144), as Lambda's would.
      const std::string pad(170, 'x');
      for (int b = 0; b < kBatches; ++b) {
        std::vector<std::string> records;
        records.reserve(kPerBatch);
        for (int i = 0; i < kPerBatch; ++i) {
          records.push_back(
              TelemetryEmulator::function_record(std::to_string(b * kPerBatch + i) + " " + pad));
        }
        // One POST in flight, retried on pushback (503) as the platform does.
        telemetry.post_until_accepted(TelemetryEmulator::batch(records), std::chrono::seconds(2));
      }
    }
    api.wait_for_idle_next(std::chrono::seconds(60));
    api.push_shutdown("spindown", wall_clock_ms() + 2000);
  });
  auto run = run_binary({},
                        {{"AWS_LAMBDA_RUNTIME_API", api.runtime_api()},
                         {"EXTENSION_RUNNER_NAME", "memory-probe"},
                         {"EXTENSION_RUNNER_COMMAND", "exec python3 " + script},
                         {"EXTENSION_RUNNER_TELEMETRY", "telemetry"},
                         {"EXTENSION_RUNNER_TELEMETRY_TYPES", "function"},
                         {"EXTENSION_RUNNER_LISTEN", "127.0.0.1:0"}},
                        120000);
  platform.join();
  (void)!std::system(("rm -rf '" + dir + "'").c_str());
  LoadRun r;
  r.err = run.err;
  r.peak_rss_kb = field(run.err, "peak_rss_kb");
  r.received = field(run.err, "received");
  r.delivered = field(run.err, "delivered");
  r.dropped = field(run.err, "dropped");
  r.queued = field(run.err, "queued");
  return r;
}

}  // namespace

TEST_CASE("telemetry memory: a saturating load costs at most the queue bytes + 4 MB") {
  const auto idle = run_load(false);
  const auto loaded = run_load(true);
  INFO(loaded.err.substr(loaded.err.size() > 3000 ? loaded.err.size() - 3000 : 0));
  REQUIRE(idle.peak_rss_kb > 0);
  REQUIRE(loaded.peak_rss_kb > 0);
  // Every record received was delivered, counted as dropped (pushback answers included), or is
  // still with the child when the shutdown deadline ended the flush.
  CHECK(loaded.received == loaded.delivered + loaded.dropped + loaded.queued);
  CHECK(loaded.delivered > 0);
  const long increase_kb = loaded.peak_rss_kb - idle.peak_rss_kb;
  if (const char* out = std::getenv("ER_BENCH_OUT")) {
    std::ofstream(out, std::ios::app)
        << "telemetry memory: host peak RSS " << loaded.peak_rss_kb << " kB under " << kBatches
        << " batches x " << kPerBatch << " records to a slow child, " << idle.peak_rss_kb
        << " kB without load (+" << increase_kb << " kB; bound " << (kQueueBytes / 1024 + 4096)
        << " kB); received " << loaded.received << ", delivered " << loaded.delivered
        << ", dropped " << loaded.dropped << "\n";
  }
  if (test_support::kSanitized) {
    WARN("sanitizer build: memory bound not checked");
  } else {
    CHECK(increase_kb <= static_cast<long>(kQueueBytes / 1024 + 4096));
  }
}

TEST_CASE("telemetry cost: HTTP and TCP destinations deliver every record; host CPU per record") {
  constexpr int kChunks = 40, kPerChunk = 500;
  std::string figures;
  for (const std::string protocol : {"http", "tcp"}) {
    INFO(protocol);
    test_support::FakePlatform fake;
    auto& api = fake.api;
    auto& telemetry = fake.telemetry;
    REQUIRE(api.start().ok());
    api.push_invoke("req-1", wall_clock_ms() + 600000);
    std::thread platform([&] {
      if (!telemetry.wait_for_subscription(std::chrono::seconds(30))) return;
      for (int c = 0; c < kChunks; ++c) {
        for (int i = 0; i < kPerChunk; ++i) {
          telemetry.publish(
              TelemetryEmulator::function_record("line " + std::to_string(c * kPerChunk + i) +
                                                 " of a realistic length, say 80 bytes"));
        }
        // Sent and answered before the next chunk: the platform drops nothing here.
        telemetry.flush(std::chrono::steady_clock::now() + std::chrono::seconds(30));
      }
      api.wait_for_idle_next(std::chrono::seconds(60));
      api.push_shutdown("spindown", wall_clock_ms() + 2000);
    });
    auto run = run_binary({},
                          {{"AWS_LAMBDA_RUNTIME_API", api.runtime_api()},
                           {"EXTENSION_RUNNER_NAME", "cost-probe"},
                           {"EXTENSION_RUNNER_TELEMETRY", "telemetry"},
                           {"EXTENSION_RUNNER_TELEMETRY_TYPES", "function"},
                           {"EXTENSION_RUNNER_TELEMETRY_PROTOCOL", protocol},
                           {"EXTENSION_RUNNER_LISTEN", "127.0.0.1:0"}},
                          120000);
    platform.join();
    INFO(run.err.substr(run.err.size() > 2000 ? run.err.size() - 2000 : 0));
    CHECK(run.status.success());
    const auto sent = telemetry.batcher_counters().records_sent;
    CHECK(sent == static_cast<uint64_t>(kChunks * kPerChunk));
    CHECK(field(run.err, "received") == kChunks * kPerChunk);
    CHECK(field(run.err, "delivered") == kChunks * kPerChunk);
    const long cpu_ms = field(run.err, "cpu_ms");
    REQUIRE(cpu_ms >= 0);
    figures += protocol + " " +
               std::to_string(static_cast<double>(cpu_ms) * 1000.0 / (kChunks * kPerChunk)) +
               " us/record; ";
  }
  if (const char* out = std::getenv("ER_BENCH_OUT")) {
    std::ofstream(out, std::ios::app)
        << "telemetry host CPU (whole run: start-up, " << kChunks * kPerChunk
        << " records printed as JSON lines): " << figures << "\n";
  }
}
