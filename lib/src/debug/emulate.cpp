#include "extension_runner/debug/emulate.hpp"

#include <pthread.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>
#include <utility>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/fd.hpp"
#include "extension_runner/core/json.hpp"
#include "extension_runner/core/log.hpp"
#include "extension_runner/core/text.hpp"
#include "extension_runner/core/uuid.hpp"
#include "extension_runner/debug/echo_runtime.hpp"
#include "extension_runner/debug/function_messages.hpp"
#include "extension_runner/debug/function_runtime.hpp"
#include "extension_runner/debug/proxy_timeline.hpp"
#include "extension_runner/fake_platform/extensions_api.hpp"
#include "extension_runner/fake_platform/managed_instances.hpp"
#include "extension_runner/fake_platform/runtime_api.hpp"
#include "extension_runner/fake_platform/telemetry_api.hpp"
#include "extension_runner/host/proxy_service.hpp"
#include "extension_runner/lambda/events.hpp"

namespace extension_runner {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

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

/**
 * The child's replies counted in one place, per event type: the summary's words and its JSON
 * come from here, so they cannot disagree.
 */
class ReplyTally {
 public:
  void add(const InvokeRequest& request, const Result<InvokeReply>& reply) {
    std::lock_guard<std::mutex> lock(mutex_);
    Counts& c = by_type_[event_type_of(request.event_json)];
    if (!reply) {
      ++c.failed;
    } else if (reply->errors) {
      ++c.errors;
    } else {
      ++c.ok;
    }
  }

  /** `child replies: INVOKE 3 (3 ok, 0 errors), TELEMETRY 2 (0 ok, 2 errors, 0 failed)`. */
  std::string text() const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (by_type_.empty()) return "no child replies";
    std::string out = "child replies:";
    const char* sep = " ";
    for (const auto& [type, c] : by_type_) {
      out += sep + type + " " + std::to_string(c.ok + c.errors + c.failed) + " (" +
             std::to_string(c.ok) + " ok, " + std::to_string(c.errors) + " errors";
      if (c.failed > 0) out += ", " + std::to_string(c.failed) + " without a reply";
      out += ")";
      sep = ", ";
    }
    return out;
  }

  /** `"replies": {"INVOKE": {"ok","errors","failed"}, …}`. */
  void write(JsonWriter& w) const {
    std::lock_guard<std::mutex> lock(mutex_);
    w.Key("replies");
    w.StartObject();
    for (const auto& [type, c] : by_type_) {
      w.Key(type.c_str());
      w.StartObject();
      w.Key("ok");
      w.Uint64(c.ok);
      w.Key("errors");
      w.Uint64(c.errors);
      w.Key("failed");
      w.Uint64(c.failed);
      w.EndObject();
    }
    w.EndObject();
  }

 private:
  struct Counts {
    uint64_t ok = 0, errors = 0, failed = 0;  ///< failed: no usable reply (crash, timeout).
  };

  // Every event the host sends starts with its eventType (runner protocol).
  static std::string event_type_of(const std::string& event_json) {
    static constexpr std::string_view kKey = R"("eventType":")";
    const auto at = event_json.find(kKey);
    if (at == std::string::npos) return "OTHER";
    const auto begin = at + kKey.size();
    const auto end = event_json.find('"', begin);
    return end == std::string::npos ? "OTHER" : event_json.substr(begin, end - begin);
  }

  mutable std::mutex mutex_;
  std::map<std::string, Counts> by_type_;
};

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
    replies_.add(request, reply);
    const bool delivered = reply.ok() && !reply->errors;
    std::string records;
    if (delivered && request.event_json.rfind(R"({"eventType":"TELEMETRY")", 0) == 0) {
      records = count_telemetry(request.event_json);
    }
    if (delivered && request.event_json.rfind(R"({"eventType":"MESSAGES")", 0) == 0) {
      records = count_messages(request.event_json);
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

  const ReplyTally& replies() const { return replies_; }

  /** Writes more members into the JSON form of a line (ignored in text form). */
  using ExtraMembers = std::function<void(JsonWriter&)>;

  void line(const std::string& source, const std::string& what, const std::string& detail,
            int64_t at_ms, const ExtraMembers& extra = {}) {
    std::string out;
    if (json_) {
      rapidjson::StringBuffer buffer;
      JsonWriter w(buffer);
      w.StartObject();
      w.Key("t_ms");
      w.Int64(at_ms - start_ms_);
      w.Key("source");
      w.String(source);
      w.Key("what");
      w.String(what);
      w.Key("detail");
      w.String(detail);
      if (extra) extra(w);
      w.EndObject();
      out.assign(buffer.GetString(), buffer.GetSize());
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

  // Counts a MESSAGES event's messages per requestId: " (N messages: id×k, …)".
  static std::string count_messages(const std::string& event_json) {
    auto doc = parse_json(event_json);
    if (!doc.ok() || !doc->IsObject()) return "";
    const auto* list = json_member(*doc, "messages");
    if (list == nullptr || !list->IsArray()) return "";
    std::map<std::string, size_t> batch;
    for (const auto& m : list->GetArray()) {
      ++batch[m.IsObject() ? json_string(m, "requestId").value_or("untagged") : "untagged"];
    }
    std::string out = " (" + std::to_string(list->Size()) + " messages";
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
  ReplyTally replies_;
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

/** What the emulation plays behind the Runtime API proxy; `on` false when the proxy is off. */
struct ProxyPlay {
  bool on = false;
  const char* mode = "off";
  std::string function_command;  ///< "" plays the built-in echo function.
  std::string next_wrapper;      ///< `wrap` would run the runtime behind it.
};

/** The address the host wrote for `wrap` (proxy_service.hpp), if it is there and well-formed. */
std::optional<std::string> read_proxy_address(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (in && std::getline(in, line) && parse_host_port(line, "proxy address")) return line;
  return std::nullopt;
}

/**
 * Whether a runner-protocol event's first key is eventType with value `type` (REQUEST, RESPONSE,
 * INVOKE, …). The events are built by this host, so the key follows the object's opening brace.
 */
bool has_event_type(const std::string& event_json, const char* type) {
  const std::string key = "\"eventType\":\"" + std::string(type) + "\"";
  return !event_json.empty() && event_json.compare(1, key.size(), key) == 0;
}

/** When the child answered each invocation's REQUEST / RESPONSE hook (or took its copy). */
class HookTimes {
 public:
  void note(const InvokeRequest& request) {
    const bool is_request = has_event_type(request.event_json, "REQUEST");
    if (!is_request && !has_event_type(request.event_json, "RESPONSE")) return;
    std::lock_guard<std::mutex> lock(mutex_);
    auto& times = by_id_[request.context.aws_request_id];
    (is_request ? times.first : times.second) = std::chrono::steady_clock::now();
  }
  /** The REQUEST and RESPONSE hooks' times of `request_id`, as far as they happened. */
  std::pair<std::optional<SteadyTime>, std::optional<SteadyTime>> of(
      const std::string& request_id) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto found = by_id_.find(request_id);
    if (found == by_id_.end()) return {};
    return found->second;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::pair<std::optional<SteadyTime>, std::optional<SteadyTime>>> by_id_;
};

/** An invocation handed to the runtime: what its trace line needs. */
struct RuntimeInvocation {
  std::string request_id;
  int64_t deadline_ms = 0;  ///< Epoch ms.
  SteadyTime invoked;       ///< 0 of its timeline.
};

/** How much of the platform's answer a JSON trace line carries. */
constexpr size_t kTraceBodyChars = 512;

/** How many round trips measure the direct path (a median: the first one also connects). */
constexpr size_t kDirectPathRounds = 5;

/**
 * One emulated function environment: the Extensions API with the Telemetry API on its server,
 * Lambda's side of the scenario (drive()), the trace and the summary. Members are built in
 * declaration order; `watcher_` comes before anything that may start a thread, so that only its
 * thread receives SIGINT/SIGTERM.
 */
class Emulation {
 public:
  Emulation(const Scenario& scenario, bool json, Platform configured, std::string messages_url,
            ProxyPlay proxy)
      : scenario_(scenario),
        messages_url_(std::move(messages_url)),
        proxy_(std::move(proxy)),
        start_ms_(wall_clock_ms()),
        lmi_(scenario.managed_instances || configured == Platform::ManagedInstances),
        tracer_(start_ms_, json),
        emulator_(FunctionInfo{}, lmi_ ? Platform::ManagedInstances : Platform::Lambda),
        watcher_([this] { interrupt(); }),
        telemetry_([this](const std::string& id) { return emulator_.knows_identifier(id); },
                   lmi_ ? Platform::ManagedInstances : Platform::Lambda),
        publisher_(telemetry_, scenario) {
    emulator_.set_observer([this](const RecordedCall& call) { tracer_.on_call(call); });
    install_telemetry();
    // Inside Lambda the Runtime API shares AWS_LAMBDA_RUNTIME_API with the Extensions API.
    if (proxy_.on) {
      runtime_api_.install(emulator_.server(),
                           static_cast<size_t>(lmi_ ? scenario.concurrency : 1));
    }
    if (scenario.register_fault) {
      emulator_.inject(Endpoint::Register, to_fault(*scenario.register_fault));
    }
    if (scenario.next_fault) emulator_.inject(Endpoint::Next, to_fault(*scenario.next_fault));
  }

  /** Starts the Extensions API; its address is runtime_api(). */
  Result<void> start() {
    if (auto started = emulator_.start(); !started) return started;
    tracer_.line("emulator", "start",
                 "Extensions API on " + emulator_.runtime_api() +
                     (lmi_ ? " (Lambda Managed Instances: SHUTDOWN-only registrations, schema "
                             "2025-01-29)"
                           : ""),
                 wall_clock_ms());
    if (proxy_.on) measure_direct_path();
    return {};
  }

  /** Every child reply, for the trace and the hooks' times. */
  void on_child_reply(const InvokeRequest& request, const Result<InvokeReply>& reply) {
    hook_times_.note(request);
    tracer_.on_reply(request, reply);
  }

  std::string runtime_api() const { return emulator_.runtime_api(); }
  Tracer& tracer() { return tracer_; }

  /** Lambda's side of the scenario, on its own thread, until it is done or stop() is called. */
  void drive(const std::string& name) {
    if (lmi_) {
      drive_managed_instances(name);
    } else {
      drive_invokes(name);
    }
  }

  /** Ends drive() and stops the Extensions API (after the lifecycle returned). */
  void stop() {
    done_.set();
    runtime_api_.stop();
    emulator_.stop();
  }

  /** Ends the runtime the emulation played (after drive() returned). */
  void end_runtime() {
    echoes_.clear();
    if (function_ && function_->running()) {
      // At SHUTDOWN Lambda stops the runtime; the proxy it talked through is already gone.
      const auto status = function_->terminate(std::chrono::milliseconds(500));
      tracer_.line("runtime", "exit", "the function " + status.describe(), wall_clock_ms());
    }
    function_.reset();
  }

  /** Prints the summary line: what happened, the overheads, what telemetry delivered. */
  void summarise(int code, std::string handler_summary) {
    const auto calls = emulator_.calls();
    const auto arrivals = emulator_.next_arrival_times();
    if (!handler_summary.empty()) handler_summary = "; " + handler_summary;
    std::string init = "init not completed";
    if (!arrivals.empty()) init = "init " + std::to_string(arrivals.front() - start_ms_) + " ms";
    const auto billed = post_runtime_.stats();
    const auto counters = telemetry_.batcher_counters();
    const std::string invokes =
        lmi_ ? "managed instances: " + std::to_string(scenario_.invokes) + " invocations, " +
                   std::to_string(scenario_.concurrency) + " at a time; " +
                   tracer_.delivery_summary() + (proxy_.on ? "; " + proxy_tally_.text() : "")
             : overhead_summary(calls, arrivals) + "; " + post_runtime_text(billed) +
                   (proxy_.on ? "; " + proxy_tally_.text() : "");
    tracer_.line("emulator", "summary",
                 "exit code " + std::to_string(code) + "; " + init + "; " + invokes + "; " +
                     std::to_string(calls.size()) + " API calls in " +
                     std::to_string(wall_clock_ms() - start_ms_) + " ms; " +
                     tracer_.replies().text() + "; " + telemetry_text(counters) + handler_summary,
                 wall_clock_ms(),
                 [&](JsonWriter& w) { summary_members(w, code, billed, counters); });
  }

 private:
  void interrupt() {
    tracer_.line("emulator", "interrupt", "SIGINT/SIGTERM: sending SHUTDOWN (SandboxTerminated)",
                 wall_clock_ms());
    done_.set();
    emulator_.interrupt("SandboxTerminated", wall_clock_ms() + scenario_.shutdown_budget_ms);
  }

  /** The Telemetry API on the emulator's server, with the scenario's faults; batches traced. */
  void install_telemetry() {
    telemetry_.install(emulator_.server());
    if (scenario_.telemetry_fault == TelemetryFault::NotSupported) {
      telemetry_.inject(SubscribeFault::NotSupported);
    } else if (scenario_.telemetry_fault == TelemetryFault::ValidationError) {
      telemetry_.inject(SubscribeFault::ValidationError);
    }
    if (scenario_.telemetry_fault == TelemetryFault::Silent) telemetry_.set_silent(true);
    telemetry_.set_batch_observer([this](const BatchOutcome& o) {
      if (o.sent) tracer_.published(o.records);
      std::string detail = std::to_string(o.records) + " records -> ";
      if (o.busy_drop) {
        detail += "dropped (a POST was pending)";
      } else {
        detail += std::to_string(o.status);
        if (o.attempts > 1) detail += " after " + std::to_string(o.attempts) + " attempts";
        if (!o.sent) detail += ", dropped";
      }
      tracer_.line("telemetry", "batch", detail, wall_clock_ms());
    });
  }

  /** Waits until the extension waits in `/next`; false when stopped first. */
  bool wait_for_idle_next() {
    while (!done_.is_set() && !emulator_.wait_for_idle_next(std::chrono::milliseconds(500))) {
    }
    return !done_.is_set();
  }

  /**
   * The direct path's two legs, the same runtime talking to the Runtime API without the proxy:
   * a few round trips before the extension starts, their median.
   */
  void measure_direct_path() {
    std::vector<std::string> ids;
    for (size_t i = 0; i < kDirectPathRounds; ++i) {
      ids.push_back("direct-path-" + std::to_string(i));
      runtime_api_.push(
          RuntimeEvent{ids.back(), wall_clock_ms() + 60000, Emulator::kDefaultArn, "", "{}"});
    }
    std::vector<double> to_runtime, to_platform;
    {
      EchoRuntime direct(emulator_.runtime_api(), 0, kDirectPathRounds);
      direct.wait_ended(std::chrono::steady_clock::now() + std::chrono::seconds(10));
      for (const auto& id : ids) {
        const auto out = runtime_api_.handed_out_at(id);
        const auto stamps = direct.stamps(id);
        const auto answer = runtime_api_.wait_for_answer(id, std::chrono::steady_clock::now());
        if (!out || !stamps || !answer) continue;
        to_runtime.push_back(ms_between(*out, stamps->got_event));
        to_platform.push_back(ms_between(stamps->sent_answer, answer->at));
      }
    }
    direct_ = DirectPath{median_of(to_runtime), median_of(to_platform)};
    tracer_.line("emulator", "proxy",
                 std::string("Runtime API proxy ") + proxy_.mode + ", the function: " +
                     (proxy_.function_command.empty() ? "built-in echo"
                                                      : "'" + proxy_.function_command + "'") +
                     "; direct path " + fixed1(direct_.to_runtime_ms) + " + " +
                     fixed1(direct_.to_platform_ms) + " ms (median of " +
                     std::to_string(to_runtime.size()) + " round trips without the proxy)",
                 wall_clock_ms());
  }

  /**
   * The function's runtime, once the extension's init is done, pointed at the proxy as `wrap`
   * would point it (or at the Runtime API itself when the host wrote no proxy address).
   */
  void start_runtime(const std::string& name) {
    std::string address = emulator_.runtime_api();
    const std::string path = proxy_address_path(name, process_env());
    if (auto found = read_proxy_address(path)) {
      address = *found;
    } else {
      tracer_.line(
          "runtime", "direct",
          "no proxy address in " + path + ": the runtime talks to the Runtime API directly",
          wall_clock_ms());
    }
    if (proxy_.function_command.empty()) {
      // Managed Instances run `concurrency` invocations at once: one runtime worker each [LMI].
      const int workers = lmi_ ? scenario_.concurrency : 1;
      for (int i = 0; i < workers; ++i) {
        echoes_.push_back(std::make_unique<EchoRuntime>(address, scenario_.duration_ms));
      }
      tracer_.line("runtime", "start",
                   "built-in echo function on " + address +
                       (workers > 1 ? " (" + std::to_string(workers) + " workers)" : ""),
                   wall_clock_ms());
      return;
    }
    auto child = start_function_runtime(proxy_.function_command, proxy_.next_wrapper, address);
    if (!child) {
      tracer_.line("runtime", "failed", child.error().message, wall_clock_ms());
      return;
    }
    function_ = std::move(*child);
    tracer_.line("runtime", "start",
                 "'" + proxy_.function_command + "' (pid " + std::to_string(function_->pid()) +
                     ") with AWS_LAMBDA_RUNTIME_API=" + address,
                 wall_clock_ms());
  }

  /** The event invoke `index` gives the runtime: the scenario's payloads in turn, else `{}`. */
  std::string payload(int index) const {
    const auto& payloads = scenario_.payloads_json;
    if (payloads.empty()) return "{}";
    return payloads[static_cast<size_t>(index) % payloads.size()];
  }

  /**
   * Waits for the runtime's answer to `request_id` until its deadline; false when stopped
   * first. No answer by the deadline is one trace line, and the emulation goes on.
   */
  bool await_runtime(const std::string& request_id, int64_t deadline_ms) {
    const auto until = std::chrono::steady_clock::now() +
                       std::chrono::milliseconds(std::max<int64_t>(0, ms_until(deadline_ms)));
    while (!done_.is_set()) {
      const auto slice =
          std::min(until, std::chrono::steady_clock::now() + std::chrono::milliseconds(200));
      if (runtime_api_.wait_for_answer(request_id, slice)) return true;
      if (std::chrono::steady_clock::now() >= until) {
        tracer_.line("function", "timeout",
                     request_id + ": no answer reached the platform by the deadline",
                     wall_clock_ms());
        return true;
      }
    }
    return false;
  }

  /** One invocation's way through the proxy, as a trace line, and into the summary. */
  void trace_invocation(const std::string& request_id, SteadyTime invoked) {
    InvocationTimeline t;
    t.request_id = request_id;
    t.invoked = invoked;
    t.event_out = runtime_api_.handed_out_at(request_id);
    std::tie(t.request_hook, t.response_hook) = hook_times_.of(request_id);
    for (const auto& echo : echoes_) {
      if (const auto stamps = echo->stamps(request_id)) {
        t.runtime_got = stamps->got_event;
        t.runtime_sent = stamps->sent_answer;
      }
    }
    t.answer = runtime_api_.wait_for_answer(request_id, std::chrono::steady_clock::now());
    proxy_tally_.add(t, direct_);
    tracer_.line("proxy", "invocation", request_id + ": " + describe_timeline(t, direct_),
                 wall_clock_ms(), [&](JsonWriter& w) { timeline_members(w, t); });
  }

  /** `"steps_ms": {"event", "request_hook", …}` (null for a step that did not happen). */
  void timeline_members(JsonWriter& w, const InvocationTimeline& t) const {
    const auto at = [&](const char* key, const std::optional<SteadyTime>& when) {
      w.Key(key);
      if (when) {
        const std::string text = fixed1(ms_between(t.invoked, *when));
        w.RawValue(text.data(), text.size(), rapidjson::kNumberType);
      } else {
        w.Null();
      }
    };
    w.Key("request_id");
    w.String(t.request_id);
    w.Key("steps_ms");
    w.StartObject();
    at("event", t.event_out);
    at("request_hook", t.request_hook);
    at("runtime", t.runtime_got);
    at("response", t.runtime_sent);
    at("response_hook", t.response_hook);
    at("platform", t.answer ? std::optional<SteadyTime>(t.answer->at) : std::nullopt);
    w.EndObject();
    w.Key("outcome");
    if (!t.answer) {
      w.String("none");
    } else if (t.answer->status != 202) {
      w.String("refused");
    } else {
      w.String(t.answer->outcome == RuntimeOutcome::Response ? "response" : "error");
    }
    w.Key("errortype");
    w.String(t.answer ? t.answer->error_type : "");
    w.Key("body");
    w.String(t.answer ? clip(t.answer->body, kTraceBodyChars) : "");
    w.Key("added_ms");
    if (const auto added = added_latency_ms(t, direct_)) {
      const std::string text = fixed1(*added);
      w.RawValue(text.data(), text.size(), rapidjson::kNumberType);
    } else {
      w.Null();
    }
  }

  /** The JSON summary's `proxy` member. */
  void proxy_members(JsonWriter& w) const {
    const auto fixed = [&w](double v) {
      const std::string text = fixed1(v);
      w.RawValue(text.data(), text.size(), rapidjson::kNumberType);
    };
    w.Key("proxy");
    w.StartObject();
    w.Key("mode");
    w.String(proxy_.mode);
    w.Key("invocations");
    w.Uint64(proxy_tally_.invocations());
    w.Key("added_ms");
    w.StartObject();
    w.Key("count");
    w.Uint64(proxy_tally_.added_ms().size());
    w.Key("p50");
    fixed(proxy_tally_.added_percentile(0.5));
    w.Key("max");
    fixed(proxy_tally_.added_percentile(1.0));
    w.EndObject();
    w.Key("direct_path_ms");
    fixed(direct_.to_runtime_ms + direct_.to_platform_ms);
    w.Key("platform");
    w.StartObject();
    w.Key("responses");
    w.Uint64(proxy_tally_.responses());
    w.Key("errors");
    w.StartObject();
    for (const auto& [type, n] : proxy_tally_.errors()) {
      w.Key(type.c_str());
      w.Uint64(n);
    }
    w.EndObject();
    w.Key("refused");
    w.Uint64(proxy_tally_.refused());
    w.Key("unanswered");
    w.Uint64(proxy_tally_.unanswered());
    w.EndObject();
    w.EndObject();
  }

  // Like Lambda, hand out the next event only once the extension is waiting for it, so each
  // deadline is measured from when the invoke really starts; and only once the function
  // returned, since the invoke lasts until both have called Next [EXT].
  void drive_invokes(const std::string& name) {
    for (int i = 0; i <= scenario_.invokes && !done_.is_set(); ++i) {
      if (!wait_for_idle_next()) return;
      if (i == 0) publish_init_records(name);
      if (i == 0 && proxy_.on) start_runtime(name);
      publisher_.report_previous();
      // Emulated idle time between invokes (the sandbox would be frozen).
      if (i > 0 && scenario_.spacing_ms > 0 &&
          done_.wait_for(std::chrono::milliseconds(scenario_.spacing_ms))) {
        return;
      }
      if (i == scenario_.invokes) {
        emulator_.push_shutdown(scenario_.shutdown_reason,
                                wall_clock_ms() + scenario_.shutdown_budget_ms);
        return;
      }
      if (!run_invoke()) return;
    }
  }

  // Init is done once the extension waits in `/next`: Lambda then has the init records for a
  // subscriber of `platform` (cold-start metrics such as the EMF example's InitDuration).
  void publish_init_records(const std::string& name) {
    const auto sub = telemetry_.subscription();
    if (!sub || std::find(sub->types.begin(), sub->types.end(), "platform") == sub->types.end())
      return;
    const auto init =
        TelemetryEmulator::init_records("on-demand", name, sub->types, wall_clock_ms() - start_ms_);
    tracer_.published(init.size());
    publisher_.records(init);
  }

  /** One INVOKE: handed out, the function's run time, its return; false when stopped. */
  bool run_invoke() {
    const std::string request_id = random_uuid();
    const int64_t deadline_ms = wall_clock_ms() + scenario_.function_timeout_ms;
    emulator_.push_invoke(request_id, deadline_ms);
    // The same invocation for the runtime: its id, deadline, ARN and trace header.
    const auto invocation = proxy_.on ? give_runtime(request_id, deadline_ms) : RuntimeInvocation{};
    publisher_.start(request_id);
    post_messages(request_id);
    if (proxy_.on) {
      // The runtime's answer is the function's return (its run time is the runtime's own).
      if (!await_runtime(request_id, deadline_ms)) return false;
    } else if (scenario_.duration_ms > 0 &&
               done_.wait_for(std::chrono::milliseconds(scenario_.duration_ms))) {
      // The function's run time (emulated work, not a synchronisation).
      return false;
    }
    publisher_.runtime_done(request_id);
    const auto runtime_done = std::chrono::steady_clock::now();
    if (!wait_for_idle_next()) return false;
    post_runtime_.add(runtime_done, std::max(runtime_done, emulator_.last_next_arrival()));
    if (proxy_.on) trace_invocation(request_id, invocation.invoked);
    return true;
  }

  /** Queues `request_id`'s event for the runtime, with the scenario's next payload. */
  RuntimeInvocation give_runtime(const std::string& request_id, int64_t deadline_ms) {
    RuntimeInvocation invocation{request_id, deadline_ms, std::chrono::steady_clock::now()};
    runtime_api_.push(RuntimeEvent{request_id, deadline_ms, Emulator::kDefaultArn,
                                   Emulator::kDefaultTraceId, payload(runtime_events_++)});
    return invocation;
  }

  /** Managed Instances: waits for every invocation in flight to be answered, traces each. */
  bool finish_in_flight() {
    for (const auto& invocation : in_flight_) {
      if (!await_runtime(invocation.request_id, invocation.deadline_ms)) return false;
    }
    for (const auto& invocation : in_flight_) {
      trace_invocation(invocation.request_id, invocation.invoked);
    }
    in_flight_.clear();
    return true;
  }

  /**
   * Lambda Managed Instances' side [LMI][RIE]: once init is done (the extension waits in
   * `/next`), the init records replayed to the subscriber, then `invokes` invocations
   * `concurrency` at a time, visible only as interleaved telemetry (never as INVOKE events),
   * `spacingMs` between rounds; then SHUTDOWN (`spindown` by default).
   */
  void drive_managed_instances(const std::string& name) {
    if (!wait_for_idle_next()) return;
    if (const auto sub = telemetry_.subscription()) {
      const auto init = TelemetryEmulator::init_records(kManagedInstancesInitType, name, sub->types,
                                                        wall_clock_ms() - start_ms_);
      tracer_.published(init.size());  // records/s counts from the first record the platform made
      publisher_.records(init);
    }
    if (proxy_.on) start_runtime(name);
    ConcurrentInvocations invocations(scenario_.invokes, scenario_.concurrency,
                                      scenario_.log_records_json);
    tracer_.line("emulator", "invocations",
                 std::to_string(scenario_.invokes) + " invocations, " +
                     std::to_string(scenario_.concurrency) + " at a time, " +
                     std::to_string(invocations.records_per_invocation()) +
                     " records each (Managed Instances: no INVOKE events)",
                 wall_clock_ms());
    while (!done_.is_set() && !invocations.done()) {
      const auto round = invocations.next_round();
      tracer_.published(round.size());
      publisher_.records(round);
      for (const auto& id : started_in(round)) {
        post_messages(id);
        if (proxy_.on) {
          in_flight_.push_back(give_runtime(id, wall_clock_ms() + scenario_.function_timeout_ms));
        }
      }
      if (scenario_.spacing_ms > 0 &&
          done_.wait_for(std::chrono::milliseconds(scenario_.spacing_ms))) {
        return;
      }
    }
    if (done_.is_set() || (proxy_.on && !finish_in_flight())) return;
    // The platform flushes the subscribers' buffers (at most 1 s) before SHUTDOWN [LMI][RIE].
    telemetry_.flush(std::chrono::steady_clock::now() + std::chrono::seconds(1));
    emulator_.push_shutdown(scenario_.shutdown_reason,
                            wall_clock_ms() + scenario_.shutdown_budget_ms);
  }

  /** The emulated function's posts to the messages endpoint for one invocation, traced. */
  void post_messages(const std::string& request_id) {
    if (scenario_.messages_json.empty()) return;
    auto status = post_function_messages(messages_url_, request_id, scenario_.messages_json);
    tracer_.line("function", "messages",
                 std::to_string(scenario_.messages_json.size()) + " for " + request_id + " -> " +
                     (status ? std::to_string(*status) : status.error().message),
                 wall_clock_ms());
  }

  /** The invocations a Managed Instances round starts (its platform.start records). */
  static std::vector<std::string> started_in(const std::vector<std::string>& round) {
    std::vector<std::string> ids;
    for (const auto& record : round) {
      auto doc = parse_json(record);
      if (!doc || json_string(*doc, "type") != std::optional<std::string>("platform.start")) {
        continue;
      }
      if (const auto* r = json_member(*doc, "record")) {
        if (auto id = json_string(*r, "requestId")) ids.push_back(*id);
      }
    }
    return ids;
  }

  static std::string post_runtime_text(const PostRuntimeTimes::Stats& billed) {
    if (billed.count == 0) return "no post-runtime extension time measured";
    return "post-runtime extension time p50 " + fixed1(billed.p50) + " / p99 " +
           fixed1(billed.p99) + " / max " + fixed1(billed.max) + " ms over " +
           std::to_string(billed.count) + " invokes";
  }

  std::string telemetry_text(const BatcherCounters& t) const {
    if (!telemetry_.subscription()) return "telemetry not subscribed";
    if (scenario_.telemetry_fault == TelemetryFault::Silent) {
      return "telemetry subscribed, platform silent: nothing delivered";
    }
    const uint64_t dropped = t.records_dropped_busy + t.records_dropped_refused;
    // What the platform sent the extension; what reached the child is the host's line after it.
    return "platform sent " + std::to_string(t.records_sent) + " telemetry records in " +
           std::to_string(t.batches_sent) + " batches, dropped " + std::to_string(dropped) + " (" +
           std::to_string(t.records_dropped_busy) + " while a POST was pending, " +
           std::to_string(t.records_dropped_refused) + " refused), " + std::to_string(t.retries) +
           " retries";
  }

  /** The JSON summary's own members: exit code, post-runtime times, telemetry counters. */
  void summary_members(JsonWriter& w, int code, const PostRuntimeTimes::Stats& billed,
                       const BatcherCounters& t) const {
    // One decimal, as the text form prints them.
    const auto fixed = [&w](double v) {
      const std::string text = fixed1(v);
      w.RawValue(text.data(), text.size(), rapidjson::kNumberType);
    };
    w.Key("exit_code");
    w.Int(code);
    tracer_.replies().write(w);
    if (proxy_.on) proxy_members(w);
    w.Key("post_runtime_ms");
    w.StartObject();
    w.Key("count");
    w.Uint64(billed.count);
    w.Key("p50");
    fixed(billed.p50);
    w.Key("p99");
    fixed(billed.p99);
    w.Key("max");
    fixed(billed.max);
    w.EndObject();
    w.Key("telemetry");
    w.StartObject();
    w.Key("subscribed");
    w.Bool(telemetry_.subscription().has_value());
    const std::pair<const char*, uint64_t> counters[] = {
        {"records_sent", t.records_sent},
        {"batches_sent", t.batches_sent},
        {"records_dropped_busy", t.records_dropped_busy},
        {"records_dropped_refused", t.records_dropped_refused},
        {"retries", t.retries},
        {"logs_dropped_emitted", t.logs_dropped_emitted}};
    for (const auto& [key, value] : counters) {
      w.Key(key);
      w.Uint64(value);
    }
    w.EndObject();
  }

  const Scenario& scenario_;
  const std::string messages_url_;  ///< Where the function posts (docs/messages.md).
  const ProxyPlay proxy_;
  const int64_t start_ms_;
  const bool lmi_;  ///< Lambda Managed Instances: no INVOKE events, telemetry only.
  Tracer tracer_;
  StopFlag done_;
  /** Installed on emulator_'s server when the proxy is on; outlives the serving. */
  RuntimeApiEmulator runtime_api_;
  Emulator emulator_;
  InterruptWatcher watcher_;
  TelemetryEmulator telemetry_;
  Publisher publisher_;
  PostRuntimeTimes post_runtime_;
  HookTimes hook_times_;
  DirectPath direct_;
  ProxyTally proxy_tally_;  ///< Written by drive(), read by summarise() after it ended.
  std::vector<std::unique_ptr<EchoRuntime>> echoes_;  ///< The built-in function's workers.
  /** Managed Instances: invocations handed to the runtime, not yet traced (drive() only). */
  std::vector<RuntimeInvocation> in_flight_;
  int runtime_events_ = 0;  ///< Events given to the runtime so far: the next payload's index.
  std::optional<ChildProcess> function_;
};

}  // namespace

int run_emulation(Config config, const std::string& name, const EmulateOptions& options,
                  const ExtensionFactory& make_extension) {
  if (!options.scenario.messages_json.empty()) {
    // The scenario's function sends messages: the endpoint must be on, at a port it knows.
    config.messages.enabled = true;
    if (config.messages.listen.size() > 2 &&
        config.messages.listen.compare(config.messages.listen.size() - 2, 2, ":0") == 0) {
      auto port = free_loopback_port();
      if (!port) {
        log_error(port.error().message);
        return kExitFailure;
      }
      config.messages.listen.replace(config.messages.listen.size() - 1, 1, std::to_string(*port));
    }
  }
  ProxyPlay proxy;
  proxy.on = config.proxy.mode != ProxyMode::Off;
  proxy.mode = proxy_mode_name(config.proxy.mode);
  proxy.function_command = options.function_command;
  proxy.next_wrapper = config.proxy.next_wrapper;
  Emulation emulation(options.scenario, options.json, config.platform,
                      messages_runtime_url(config.messages), std::move(proxy));
  if (auto started = emulation.start(); !started) {
    log_error(started.error().message);
    return kExitFailure;
  }
  config.runtime_api = emulation.runtime_api();
  std::thread driver([&] { emulation.drive(name); });
  auto extension = make_extension(
      config, [&emulation](const InvokeRequest& request, const Result<InvokeReply>& reply) {
        emulation.on_child_reply(request, reply);
      });
  const int code = run_lifecycle(config, name, extension);
  emulation.stop();
  driver.join();
  emulation.end_runtime();
  emulation.summarise(code, extension.summary());
  return code;
}

}  // namespace extension_runner
