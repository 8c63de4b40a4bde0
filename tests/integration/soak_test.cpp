// Soak: many invokes through the real binary against the in-process emulator (Extensions API +
// Telemetry API), with a child (tests/soak/child.py) that crashes, hangs past the deadline or
// answers garbage on about 1 % of the invokes each, drawn from a seeded random schedule.
// ER_SOAK_INVOKES (default 500; `make soak`: 5000) and ER_SOAK_SEED choose the run.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/fake_platform/extensions_api.hpp"
#include "extension_runner/fake_platform/telemetry_api.hpp"
#include "host_probe.hpp"
#include "soak_host.hpp"
#include "support.hpp"

using namespace extension_runner;
using std::chrono::milliseconds;

namespace {

using test_support::kSanitized;

// A hung invoke costs its whole deadline: keep it short so the run takes seconds.
constexpr int64_t kHangDeadlineMs = 200;
constexpr int64_t kDeadlineMs = 20000;
// How late past its deadline the /next after an invoke may arrive: the host's grace for
// killing a hung child and answering (runner_handler.cpp), plus scheduling noise.
constexpr int64_t kSlackMs = kSanitized ? 4000 : 1500;

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

}  // namespace

TEST_CASE("soak: invokes with 1 % crashes, hangs and garbage replies, telemetry on") {
  const int invokes = env_int("ER_SOAK_INVOKES", 500);
  const auto seed = static_cast<uint32_t>(env_int("ER_SOAK_SEED", 12));
  const int sample_every = std::max(50, invokes / 10);

  test_support::SoakHost soak(
      "soak", {{"EXTENSION_RUNNER_BUFFER_TIMEOUT_MS", "25"}, {"AWS_LAMBDA_LOG_LEVEL", "INFO"}});
  auto& api = soak.fake.api;
  auto& telemetry = soak.fake.telemetry;
  auto& host = soak.host;
  const auto fail_with_log = [&soak] { soak.fail_with_log(); };
  const std::string& soak_log = soak.child_log;

  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> percent(0, 99);
  const char* const kinds[] = {"crash", "hang", "garbage"};
  std::map<std::string, int> drawn;
  std::vector<int64_t> deadlines;
  std::vector<test_support::ProcSample> samples;
  size_t published = 0;
  std::string previous = "ok";
  std::string last_request;
  const auto publish = [&](const std::vector<std::string>& records) {
    if (telemetry.post_until_accepted(TelemetryEmulator::batch(records), milliseconds(5000)) ==
        200) {
      published += records.size();
    }
  };
  const int64_t started = wall_clock_ms();
  for (int i = 0; i < invokes; ++i) {
    if (!api.wait_for_idle_next(milliseconds(30000))) fail_with_log();
    if (i == 0 && !telemetry.subscription()) fail_with_log();
    if (i > 0 && i % sample_every == 0)
      samples.push_back(test_support::proc_sample(host->pid(), i));
    const int p = percent(rng);
    // A fault follows a success, so crashes never reach EXTENSION_RUNNER_MAX_CRASHES in a row.
    const std::string kind = p < 3 && previous == "ok" ? kinds[p] : "ok";
    previous = kind;
    ++drawn[kind];
    if (!last_request.empty()) publish({TelemetryEmulator::report_record(last_request)});
    last_request = "soak-" + std::to_string(i) + "-" + kind;
    deadlines.push_back(wall_clock_ms() + (kind == "hang" ? kHangDeadlineMs : kDeadlineMs));
    api.push_invoke(last_request, deadlines.back());
    publish({TelemetryEmulator::start_record(last_request),
             TelemetryEmulator::function_record("invoke " + std::to_string(i)),
             TelemetryEmulator::runtime_done_record(last_request)});
  }
  if (!api.wait_for_idle_next(milliseconds(30000))) fail_with_log();
  samples.push_back(test_support::proc_sample(host->pid(), invokes));
  publish({TelemetryEmulator::report_record(last_request)});
  api.push_shutdown("spindown", wall_clock_ms() + 5000);
  auto status = host->wait_for(milliseconds(30000));
  if (!status) fail_with_log();
  const int64_t took_ms = wall_clock_ms() - started;
  const std::string log = soak.take_log();
  INFO(log.substr(log.size() > 4000 ? log.size() - 4000 : 0));
  CHECK(status->success());

  // Every event was fetched: one /next per INVOKE plus the one that got SHUTDOWN, all 200.
  const auto nexts = api.calls_to(Endpoint::Next);
  CHECK(static_cast<int>(nexts.size()) == invokes + 1);
  for (const auto& n : nexts) CHECK(n.status == 200);
  // No invoke held the host past its deadline (+ slack): the next /next came in time.
  const auto arrivals = api.next_arrival_times();
  REQUIRE(static_cast<int>(arrivals.size()) == invokes + 1);
  int late = 0;
  for (int i = 0; i < invokes; ++i) late += arrivals[i + 1] > deadlines[i] + kSlackMs ? 1 : 0;
  CHECK(late == 0);

  // The child's own log: each behaviour happened as drawn, and it was restarted exactly once
  // per crash and per hang (a garbage reply keeps it serving).
  std::ifstream in(soak_log);
  std::map<std::string, int> seen;
  std::vector<pid_t> pids;
  long telemetry_records = 0;
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string what;
    words >> what;
    if (what == "start") {
      pid_t pid = 0;
      words >> pid;
      pids.push_back(pid);
    } else if (what == "telemetry") {
      long n = 0;
      words >> n;
      telemetry_records += n;
    } else {
      ++seen[what];
    }
  }
  for (const auto& [kind, count] : drawn) {
    INFO(kind);
    CHECK(seen[kind] == count);
  }
  CHECK(seen["shutdown"] == 1);
  CHECK(static_cast<int>(pids.size()) == 1 + drawn["crash"] + drawn["hang"]);
  CHECK(drawn["crash"] > 0);
  CHECK(drawn["hang"] > 0);
  CHECK(drawn["garbage"] > 0);
  // No process left behind.
  for (pid_t pid : pids) {
    INFO("child pid " << pid);
    CHECK(test_support::process_gone(pid));
  }

  // Telemetry: everything published was received, and received = delivered + dropped, where
  // delivered is exactly what the child got.
  const long received = test_support::telemetry_counter(log, "received");
  const long delivered = test_support::telemetry_counter(log, "delivered");
  const long dropped = test_support::telemetry_counter(log, "dropped");
  CHECK(received == static_cast<long>(published));
  CHECK(received == delivered + dropped);
  CHECK(delivered == telemetry_records);

  // Flat resources, sampled every `sample_every` invokes while the host waits on /next.
  REQUIRE(samples.size() >= 2);
  const auto& first = samples.front();
  const auto& last = samples.back();
  CHECK(last.fds <= first.fds + std::max(1, first.fds / 10));
  if (!kSanitized) CHECK(last.rss_kb <= first.rss_kb + first.rss_kb / 10);

  std::ostringstream summary;
  summary << "soak: " << invokes << " invokes in " << took_ms << " ms (seed " << seed << "): ok "
          << drawn["ok"] << ", crash " << drawn["crash"] << ", hang " << drawn["hang"]
          << ", garbage " << drawn["garbage"] << "; child starts " << pids.size()
          << "; telemetry received " << received << " delivered " << delivered << " dropped "
          << dropped << "; host fds";
  for (const auto& s : samples) summary << " " << s.fds;
  summary << "; host RSS kB";
  for (const auto& s : samples) summary << " " << s.rss_kb;
  summary << (kSanitized ? " (sanitized: RSS not checked)" : "") << "; late " << late;
  std::cout << summary.str() << std::endl;
}
