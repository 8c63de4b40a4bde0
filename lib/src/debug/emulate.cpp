#include "extension_runner/debug/emulate.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/fd.hpp"
#include "extension_runner/core/json.hpp"
#include "extension_runner/core/log.hpp"
#include "extension_runner/fake_platform/extensions_api.hpp"
#include "extension_runner/fake_platform/managed_instances.hpp"
#include "extension_runner/fake_platform/telemetry_api.hpp"
#include "extension_runner/lambda/events.hpp"

namespace extension_runner {
namespace {

const char* endpoint_name(Endpoint e) {
  switch (e) {
    case Endpoint::Register:
      return "register";
    case Endpoint::Next:
      return "next";
    case Endpoint::InitError:
      return "init/error";
    case Endpoint::ExitError:
      return "exit/error";
    case Endpoint::Subscribe:
      return "subscribe";
    case Endpoint::Other:
      return "other";
  }
  return "other";
}

/** Prints one line per API call, relative to the start of the emulation. */
class Tracer {
 public:
  Tracer(int64_t start_ms, bool json) : start_ms_(start_ms), json_(json) {}

  void on_call(const RecordedCall& call) {
    std::string summary;
    switch (call.endpoint) {
      case Endpoint::Register:
        summary =
            "name=" + call.header("Lambda-Extension-Name") + " -> " + std::to_string(call.status);
        break;
      case Endpoint::Next:
        if (call.status == 200) {
          auto event = parse_event(call.response_body);
          if (event) {
            summary = std::string(event_type(*event));
            if (auto* inv = std::get_if<InvokeEvent>(&*event)) summary += " " + inv->request_id;
            if (auto* sd = std::get_if<ShutdownEvent>(&*event)) {
              summary += " reason=" + sd->shutdown_reason;
            }
          }
        } else {
          summary = "-> " + std::to_string(call.status) + " " + call.response_body;
        }
        break;
      case Endpoint::InitError:
      case Endpoint::ExitError:
        summary = call.header("Lambda-Extension-Function-Error-Type") + " " + call.body + " -> " +
                  std::to_string(call.status);
        break;
      case Endpoint::Subscribe:
      case Endpoint::Other:
        summary = call.method + " " + call.path + " -> " + std::to_string(call.status);
        break;
    }
    line("api", endpoint_name(call.endpoint), summary, call.time_ms);
  }

  void on_reply(const InvokeRequest& request, const Result<InvokeReply>& reply) {
    const bool delivered = reply.ok() && !reply->errors;
    std::string records;
    if (delivered && request.event_json.rfind(R"({"eventType":"TELEMETRY")", 0) == 0) {
      records = count_telemetry(request.event_json);
    }
    std::string detail = request.context.aws_request_id + " ";
    if (!reply) {
      detail += "failed: " + reply.error().message;
    } else {
      char billing[96];
      std::snprintf(billing, sizeof billing, " in %.1f ms, %lld MB", reply->billing.duration_ms,
                    static_cast<long long>(reply->billing.used_mb));
      detail += reply->errors ? "errors " + reply->errortype : std::string("ok");
      detail += billing;
    }
    line("child", "reply", detail + records, wall_clock_ms());
    for (const auto& done : take_completed()) line("child", "request", done, wall_clock_ms());
  }

  /** The platform produced (or the listener accepted) `count` records: the rate's start. */
  void published(size_t count) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (first_published_ms_ == 0 && count > 0) first_published_ms_ = wall_clock_ms();
  }

  /**
   * What reached the child: records per second from the first record published to the last
   * delivered, and how many requests' records arrived complete (up to their platform.report).
   */
  std::string delivery_summary() const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (records_to_child_ == 0) return "no telemetry records reached a child";
    const int64_t span = std::max<int64_t>(last_delivered_ms_ - first_published_ms_, 1);
    char rate[64];
    std::snprintf(rate, sizeof rate, "%.0f",
                  static_cast<double>(records_to_child_) * 1000.0 / static_cast<double>(span));
    return std::to_string(records_to_child_) + " records reached the child in " +
           std::to_string(span) + " ms (" + rate + " records/s), " + std::to_string(reports_) +
           " requests up to their platform.report";
  }

  /** `extra_json`: more members for the JSON form (`,"key":value…`), ignored in text form. */
  void line(const std::string& source, const std::string& what, const std::string& detail,
            int64_t at_ms, const std::string& extra_json = "") {
    std::string out;
    if (json_) {
      out = R"({"t_ms":)" + std::to_string(at_ms - start_ms_) + R"(,"source":)" +
            json_quote(source) + R"(,"what":)" + json_quote(what) + R"(,"detail":)" +
            json_quote(detail) + extra_json + "}";
    } else {
      char prefix[48];
      std::snprintf(prefix, sizeof prefix, "[+%6lld ms] %-9s ",
                    static_cast<long long>(at_ms - start_ms_), what.c_str());
      out = std::string(prefix) + detail;
    }
    (void)write_line(STDOUT_FILENO, out);
  }

 private:
  // Counts a TELEMETRY event's records per requestId (platform records carry it in `record`,
  // JSON log lines too); returns " (N records: id×k, …)" for the reply line.
  std::string count_telemetry(const std::string& event_json) {
    auto doc = parse_json(event_json);
    if (!doc.ok() || !doc->IsObject()) return "";
    const auto* list = json_member(*doc, "records");
    if (list == nullptr || !list->IsArray()) return "";
    std::map<std::string, size_t> batch;
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& r : list->GetArray()) {
      ++records_to_child_;
      const auto* record = r.IsObject() ? json_member(r, "record") : nullptr;
      if (record == nullptr || !record->IsObject()) continue;
      const auto id = json_string(*record, "requestId");
      if (!id) continue;
      ++batch[*id];
      ++per_request_[*id];
      if (json_string(r, "type") == std::string("platform.report")) {
        ++reports_;
        completed_.push_back(*id + ": " + std::to_string(per_request_[*id]) +
                             " records reached the child, the last its platform.report");
      }
    }
    last_delivered_ms_ = wall_clock_ms();
    std::string out = " (" + std::to_string(list->Size()) + " records";
    for (const auto& [id, n] : batch) out += ", " + id.substr(0, 8) + "×" + std::to_string(n);
    return out + ")";
  }

  std::vector<std::string> take_completed() {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::exchange(completed_, {});
  }

  int64_t start_ms_;
  bool json_;
  mutable std::mutex mutex_;
  std::map<std::string, size_t> per_request_;
  std::vector<std::string> completed_;
  size_t records_to_child_ = 0, reports_ = 0;
  int64_t first_published_ms_ = 0, last_delivered_ms_ = 0;
};

/** Turns SIGINT/SIGTERM into a SHUTDOWN while the emulation runs; restores on destruction. */
class InterruptWatcher {
 public:
  explicit InterruptWatcher(std::function<void()> on_interrupt)
      : on_interrupt_(std::move(on_interrupt)) {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGUSR1);  // our own wake-up to stop the watcher
    // Blocked before any other thread starts, so only the watcher receives them; children get
    // the default mask back before exec (process.cpp).
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
    thread_ = std::thread([this] {
      int interrupts = 0;
      while (true) {
        int sig = 0;
        if (sigwait(&set_, &sig) != 0 || sig == SIGUSR1) return;
        if (++interrupts > 1) std::_Exit(130);  // children die with us (PDEATHSIG)
        on_interrupt_();
      }
    });
  }
  ~InterruptWatcher() {
    pthread_kill(thread_.native_handle(), SIGUSR1);
    thread_.join();
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  InterruptWatcher(const InterruptWatcher&) = delete;
  InterruptWatcher& operator=(const InterruptWatcher&) = delete;

 private:
  std::function<void()> on_interrupt_;
  sigset_t set_{}, old_{};
  std::thread thread_;
};

/**
 * Plays Lambda's part of the Telemetry API: for each invoke, platform.start and the scenario's
 * function log records when the function starts, platform.runtimeDone when it "returns" (the
 * runtime's response), platform.report once the extension is idle again (as Lambda does: the
 * report needs the extensions' duration). Every record goes through the subscription's
 * TelemetryBatcher, so it reaches the extension when the platform's batching would deliver it.
 */
class Publisher {
 public:
  explicit Publisher(TelemetryEmulator& telemetry, const Scenario& scenario)
      : telemetry_(telemetry), scenario_(scenario) {}

  void start(const std::string& request_id) {
    telemetry_.publish(TelemetryEmulator::start_record(request_id));
    for (const auto& log : scenario_.log_records_json) {
      telemetry_.publish(TelemetryEmulator::record("function", log));
    }
    last_request_id_ = request_id;
  }

  void runtime_done(const std::string& request_id) {
    telemetry_.publish(TelemetryEmulator::runtime_done_record(request_id));
  }

  /** Publishes records as they are produced (Managed Instances: no INVOKE to pace them). */
  void records(const std::vector<std::string>& records) {
    for (const auto& r : records) telemetry_.publish(r);
  }

  void report_previous() {
    if (last_request_id_.empty()) return;
    telemetry_.publish(TelemetryEmulator::report_record(last_request_id_));
    last_request_id_.clear();
  }

 private:
  TelemetryEmulator& telemetry_;
  const Scenario& scenario_;
  std::string last_request_id_;
};

/**
 * What Lambda bills after the function returned: per invoke, the runtime's response → the
 * extension's next `/next` (CloudWatch `PostRuntimeExtensionsDuration` [EXT]), 0 when the
 * extension was already waiting.
 */
class PostRuntimeTimes {
 public:
  void add(std::chrono::steady_clock::time_point runtime_done,
           std::chrono::steady_clock::time_point extension_next) {
    const auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(extension_next - runtime_done);
    std::lock_guard<std::mutex> lock(mutex_);
    ms_.push_back(std::max<double>(0.0, static_cast<double>(us.count()) / 1000.0));
  }

  struct Stats {
    size_t count = 0;
    double p50 = 0, p99 = 0, max = 0;
  };
  Stats stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    Stats s;
    s.count = ms_.size();
    if (ms_.empty()) return s;
    auto sorted = ms_;
    std::sort(sorted.begin(), sorted.end());
    // Nearest rank: the smallest value with at least p% of the values at or below it.
    const auto rank = [&](double p) {
      const auto r = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
      return sorted[std::min(sorted.size(), std::max<size_t>(r, 1)) - 1];
    };
    s.p50 = rank(0.50);
    s.p99 = rank(0.99);
    s.max = sorted.back();
    return s;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<double> ms_;
};

std::string fixed1(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

/** A stop flag whose waits end as soon as it is set (spacing pauses must not outlive a stop). */
class StopFlag {
 public:
  void set() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopped_ = true;
    }
    cv_.notify_all();
  }
  bool is_set() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stopped_;
  }
  /** Waits `duration` unless stopped first; true if it was stopped. */
  bool wait_for(std::chrono::milliseconds duration) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, duration, [&] { return stopped_; });
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool stopped_ = false;
};

Fault to_fault(const ScenarioFault& f) {
  return Fault{f.status, f.error_type, f.error_message, 1, f.after};
}

std::string overhead_summary(const std::vector<RecordedCall>& calls,
                             const std::vector<int64_t>& arrivals) {
  // Overhead of invoke i: INVOKE handed out → the extension's next /next arrives.
  std::vector<int64_t> overheads;
  size_t arrival = 1;
  for (const auto& c : calls) {
    if (c.endpoint != Endpoint::Next || c.status != 200 ||
        c.response_body.find(R"("eventType":"INVOKE")") == std::string::npos) {
      continue;
    }
    while (arrival < arrivals.size() && arrivals[arrival] < c.time_ms) ++arrival;
    if (arrival < arrivals.size()) overheads.push_back(arrivals[arrival++] - c.time_ms);
  }
  if (overheads.empty()) return "no completed invokes";
  std::sort(overheads.begin(), overheads.end());
  return "per-invoke overhead min " + std::to_string(overheads.front()) + " / median " +
         std::to_string(overheads[overheads.size() / 2]) + " / max " +
         std::to_string(overheads.back()) + " ms over " + std::to_string(overheads.size()) +
         " invokes";
}

/**
 * Lambda Managed Instances' side [LMI][RIE]: once init is done (the extension waits in
 * `/next`), the init records replayed to the subscriber, then `invokes` invocations
 * `concurrency` at a time, visible only as interleaved telemetry (never as INVOKE events),
 * `spacingMs` between rounds; then SHUTDOWN (`spindown` by default).
 */
void drive_managed_instances(const Scenario& scenario, const std::string& name,
                             const TelemetryEmulator& telemetry, Emulator& emulator,
                             Publisher& publisher, Tracer& tracer, StopFlag& done,
                             int64_t start_ms) {
  while (!done.is_set() && !emulator.wait_for_idle_next(std::chrono::milliseconds(500))) {
  }
  if (done.is_set()) return;
  if (const auto sub = telemetry.subscription()) {
    const auto init =
        ConcurrentInvocations::init_records(name, sub->types, wall_clock_ms() - start_ms);
    tracer.published(init.size());  // records/s counts from the first record the platform made
    publisher.records(init);
  }
  ConcurrentInvocations invocations(scenario.invokes, scenario.concurrency,
                                    scenario.log_records_json);
  tracer.line("emulator", "invocations",
              std::to_string(scenario.invokes) + " invocations, " +
                  std::to_string(scenario.concurrency) + " at a time, " +
                  std::to_string(invocations.records_per_invocation()) +
                  " records each (Managed Instances: no INVOKE events)",
              wall_clock_ms());
  while (!done.is_set() && !invocations.done()) {
    const auto round = invocations.next_round();
    tracer.published(round.size());
    publisher.records(round);
    if (scenario.spacing_ms > 0 && done.wait_for(std::chrono::milliseconds(scenario.spacing_ms))) {
      return;
    }
  }
  if (done.is_set()) return;
  // The platform flushes the subscribers' buffers (at most 1 s) before SHUTDOWN [LMI][RIE].
  telemetry.flush(std::chrono::steady_clock::now() + std::chrono::seconds(1));
  emulator.push_shutdown(scenario.shutdown_reason, wall_clock_ms() + scenario.shutdown_budget_ms);
}

}  // namespace

int run_emulation(Config config, const std::string& name, const EmulateOptions& options,
                  const ExtensionFactory& make_extension) {
  const Scenario& scenario = options.scenario;
  const int64_t start = wall_clock_ms();
  Tracer tracer(start, options.json);
  StopFlag done;
  const bool lmi = scenario.managed_instances || config.platform == Platform::ManagedInstances;
  const Platform platform = lmi ? Platform::ManagedInstances : Platform::Lambda;
  Emulator emulator(FunctionInfo{}, platform);
  InterruptWatcher watcher([&] {
    tracer.line("emulator", "interrupt", "SIGINT/SIGTERM: sending SHUTDOWN (SandboxTerminated)",
                wall_clock_ms());
    done.set();
    emulator.interrupt("SandboxTerminated", wall_clock_ms() + scenario.shutdown_budget_ms);
  });
  emulator.set_observer([&tracer](const RecordedCall& call) { tracer.on_call(call); });
  TelemetryEmulator telemetry(
      [&emulator](const std::string& id) { return emulator.knows_identifier(id); }, platform);
  telemetry.install(emulator.server());
  if (scenario.telemetry_fault == TelemetryFault::NotSupported) {
    telemetry.inject(SubscribeFault::NotSupported);
  } else if (scenario.telemetry_fault == TelemetryFault::ValidationError) {
    telemetry.inject(SubscribeFault::ValidationError);
  }
  if (scenario.telemetry_fault == TelemetryFault::Silent) telemetry.set_silent(true);
  telemetry.set_batch_observer([&tracer](const BatchOutcome& o) {
    if (o.sent) tracer.published(o.records);
    std::string detail = std::to_string(o.records) + " records -> ";
    if (o.busy_drop) {
      detail += "dropped (a POST was pending)";
    } else {
      detail += std::to_string(o.status);
      if (o.attempts > 1) detail += " after " + std::to_string(o.attempts) + " attempts";
      if (!o.sent) detail += ", dropped";
    }
    tracer.line("telemetry", "batch", detail, wall_clock_ms());
  });
  Publisher publisher(telemetry, scenario);
  if (scenario.register_fault)
    emulator.inject(Endpoint::Register, to_fault(*scenario.register_fault));
  if (scenario.next_fault) emulator.inject(Endpoint::Next, to_fault(*scenario.next_fault));
  if (auto started = emulator.start(); !started) {
    log_error(started.error().message);
    return kExitFailure;
  }
  config.runtime_api = emulator.runtime_api();
  tracer.line("emulator", "start",
              "Extensions API on " + config.runtime_api +
                  (lmi ? " (Lambda Managed Instances: SHUTDOWN-only registrations, schema "
                         "2025-01-29)"
                       : ""),
              wall_clock_ms());

  // Like Lambda, hand out the next event only once the extension is waiting for it, so each
  // deadline is measured from when the invoke really starts; and only once the function
  // returned, since the invoke lasts until both have called Next [EXT].
  PostRuntimeTimes post_runtime;
  std::thread driver([&] {
    if (lmi) {
      drive_managed_instances(scenario, name, telemetry, emulator, publisher, tracer, done, start);
      return;
    }
    for (int i = 0; i <= scenario.invokes && !done.is_set(); ++i) {
      while (!done.is_set() && !emulator.wait_for_idle_next(std::chrono::milliseconds(500))) {
      }
      if (done.is_set()) break;
      publisher.report_previous();
      // Emulated idle time between invokes (the sandbox would be frozen).
      if (i > 0 && scenario.spacing_ms > 0 &&
          done.wait_for(std::chrono::milliseconds(scenario.spacing_ms))) {
        break;
      }
      if (i == scenario.invokes) {
        emulator.push_shutdown(scenario.shutdown_reason,
                               wall_clock_ms() + scenario.shutdown_budget_ms);
        break;
      }
      const std::string request_id = random_uuid();
      emulator.push_invoke(request_id, wall_clock_ms() + scenario.function_timeout_ms);
      publisher.start(request_id);
      // The function's run time (emulated work, not a synchronisation).
      if (scenario.duration_ms > 0 &&
          done.wait_for(std::chrono::milliseconds(scenario.duration_ms))) {
        break;
      }
      publisher.runtime_done(request_id);
      const auto runtime_done = std::chrono::steady_clock::now();
      while (!done.is_set() && !emulator.wait_for_idle_next(std::chrono::milliseconds(500))) {
      }
      if (done.is_set()) break;
      post_runtime.add(runtime_done, std::max(runtime_done, emulator.last_next_arrival()));
    }
  });

  auto extension = make_extension(
      config, [&tracer](const InvokeRequest& request, const Result<InvokeReply>& reply) {
        tracer.on_reply(request, reply);
      });
  const int code = run_lifecycle(config, name, extension);
  done.set();
  emulator.stop();
  driver.join();

  const auto calls = emulator.calls();
  const auto arrivals = emulator.next_arrival_times();
  std::string handler_summary = extension.summary();
  if (!handler_summary.empty()) handler_summary = "; " + handler_summary;
  std::string init = "init not completed";
  if (!arrivals.empty()) init = "init " + std::to_string(arrivals.front() - start) + " ms";
  const auto billed = post_runtime.stats();
  std::string post_runtime_text = "no post-runtime extension time measured";
  if (billed.count > 0) {
    post_runtime_text = "post-runtime extension time p50 " + fixed1(billed.p50) + " / p99 " +
                        fixed1(billed.p99) + " / max " + fixed1(billed.max) + " ms over " +
                        std::to_string(billed.count) + " invokes";
  }
  const auto t = telemetry.batcher_counters();
  const uint64_t dropped = t.records_dropped_busy + t.records_dropped_refused;
  std::string telemetry_text = "telemetry not subscribed";
  if (telemetry.subscription()) {
    telemetry_text =
        scenario.telemetry_fault == TelemetryFault::Silent
            ? "telemetry subscribed, platform silent: nothing delivered"
            : "telemetry records delivered " + std::to_string(t.records_sent) + " in " +
                  std::to_string(t.batches_sent) + " batches, dropped " + std::to_string(dropped) +
                  " (" + std::to_string(t.records_dropped_busy) + " while a POST was pending, " +
                  std::to_string(t.records_dropped_refused) + " refused), " +
                  std::to_string(t.retries) + " retries";
  }
  const std::string extra =
      R"(,"exit_code":)" + std::to_string(code) + R"(,"post_runtime_ms":{"count":)" +
      std::to_string(billed.count) + R"(,"p50":)" + fixed1(billed.p50) + R"(,"p99":)" +
      fixed1(billed.p99) + R"(,"max":)" + fixed1(billed.max) + R"(},"telemetry":{"subscribed":)" +
      (telemetry.subscription() ? "true" : "false") + R"(,"records_sent":)" +
      std::to_string(t.records_sent) + R"(,"batches_sent":)" + std::to_string(t.batches_sent) +
      R"(,"records_dropped_busy":)" + std::to_string(t.records_dropped_busy) +
      R"(,"records_dropped_refused":)" + std::to_string(t.records_dropped_refused) +
      R"(,"retries":)" + std::to_string(t.retries) + R"(,"logs_dropped_emitted":)" +
      std::to_string(t.logs_dropped_emitted) + "}";
  const std::string invokes = lmi ? "managed instances: " + std::to_string(scenario.invokes) +
                                        " invocations, " + std::to_string(scenario.concurrency) +
                                        " at a time; " + tracer.delivery_summary()
                                  : overhead_summary(calls, arrivals) + "; " + post_runtime_text;
  tracer.line("emulator", "summary",
              "exit code " + std::to_string(code) + "; " + init + "; " + invokes + "; " +
                  std::to_string(calls.size()) + " API calls in " +
                  std::to_string(wall_clock_ms() - start) + " ms; " + telemetry_text +
                  handler_summary,
              wall_clock_ms(), extra);
  return code;
}

}  // namespace extension_runner
