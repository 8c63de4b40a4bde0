#pragma once
/**
 * @file telemetry_api.hpp
 * The Telemetry/Logs API side of the emulator ([LOGS], [TEL], [RIE]; docs/references.md):
 * subscription endpoints that validate like AWS, RIE's 202 `*.NotSupported` answer as a fault, and
 * a publisher that POSTs batches to the subscriber's destination like Lambda (retrying on error),
 * and publish(): records buffered and sent per subscription exactly as the platform batches them
 * (TelemetryBatcher: open at the first record, sent `timeoutMs` later or when full, one POST in
 * flight, `platform.logsDropped` for what is lost). Installs its routes on an existing cpp-httplib
 * server (the Extensions API emulator's).
 */
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "extension_runner/fake_platform/telemetry_batcher.hpp"
#include "extension_runner/lambda/platform.hpp"
#include "extension_runner/telemetry/options.hpp"

namespace httplib {
class Server;
}  // namespace httplib

namespace extension_runner {

/** How the next subscription call(s) are answered instead of normally. */
enum class SubscribeFault {
  NotSupported,     ///< 202 `{"errorType":"Telemetry.NotSupported"|"Logs.NotSupported",…}` (RIE).
  ValidationError,  ///< 400 `{"errorType":"ValidationError"|"Logs.ValidationError",…}`.
  ServerError,      ///< 500.
};

/** An accepted subscription. */
struct EmulatedSubscription {
  TelemetryMode mode = TelemetryMode::Telemetry;
  std::string identifier;
  std::string body;  ///< As sent.
  std::string schema_version;
  std::vector<std::string> types;
  std::string uri;   ///< `destination.URI` as sent.
  std::string host;  ///< Where batches go: `sandbox.localdomain`/`sandbox` → 127.0.0.1.
  int port = 0;
  std::string path = "/";
  BatchLimits limits;  ///< `buffering` as sent, the platform's defaults for what is absent [TEL].
  /**
   * `{"protocol":"TCP","port":N}` (schema 2025-01-29 only): the platform connects to
   * 127.0.0.1:N and writes one JSON event per line [TEL][RIE].
   */
  bool tcp = false;
};

class TelemetryEmulator {
 public:
  /**
   * `identifier_known(id)`: whether `id` is a registered extension's identifier. `platform`
   * ManagedInstances validates as Lambda Managed Instances do [LMI][RIE]: schemaVersion other
   * than 2025-01-29 → 400, destination host other than `sandbox`/`sandbox.localdomain` → 400,
   * a second subscription → 500, no Logs API (404).
   */
  explicit TelemetryEmulator(std::function<bool(const std::string&)> identifier_known,
                             Platform platform = Platform::Lambda);
  TelemetryEmulator(const TelemetryEmulator&) = delete;
  TelemetryEmulator& operator=(const TelemetryEmulator&) = delete;

  /**
   * Adds `PUT /2022-07-01/telemetry` and `PUT /2020-08-15/logs` to `server` (before it starts;
   * this object must outlive the server's serving). Answers: unknown or missing identifier →
   * 403 `Extension.UnknownExtensionIdentifier`; body not an object, `types` missing/empty or
   * unknown, `destination.URI` without a port, buffering out of the documented bounds → 400
   * ValidationError (`Logs.ValidationError` for the Logs API) [TEL][LOGS]; subscribing to the
   * other API after one succeeded → 400; else 200 `OK`.
   */
  void install(httplib::Server& server);

  /** The next `times` subscription calls get `fault` (checked before anything else, like RIE). */
  void inject(SubscribeFault fault, int times = 1);

  /** The last accepted subscription, if any. */
  std::optional<EmulatedSubscription> subscription() const;
  /** Waits until a subscription was accepted; true if one was. */
  bool wait_for_subscription(std::chrono::milliseconds timeout) const;
  /** Subscription calls answered so far (any status). */
  int subscribe_calls() const;

  /**
   * POSTs one batch body to the subscriber's destination. Returns the HTTP status, or -1 when
   * there is no subscription or the connection failed.
   */
  int post(const std::string& body) const;
  /**
   * As Lambda: POSTs until the listener answers 200, retrying on an error status or a failed
   * connection with a short backoff, for at most `budget`. Returns the last status.
   */
  int post_until_accepted(const std::string& body, std::chrono::milliseconds budget) const;

  /**
   * Publishes one record the way the platform does: into the subscription's TelemetryBatcher
   * (made when the subscription was accepted, with its buffering). Thread-safe (concurrent
   * invocations may publish). False, and nothing is sent, when there is no subscription or the
   * platform is set silent.
   */
  bool publish(std::string record_json);
  /** Sends what the batcher holds now and waits for it (the platform's shutdown flush). */
  bool flush(std::chrono::steady_clock::time_point deadline) const;
  /** The current subscription's batcher counters (all zero before a subscription). */
  BatcherCounters batcher_counters() const;
  /** Called on the batcher's thread after every batch outcome (set before subscribing). */
  void set_batch_observer(std::function<void(const BatchOutcome&)> observer);
  /**
   * Silent platform: subscriptions are accepted but nothing is ever delivered (a lost listener
   * address, a platform hiccup). publish() then returns false.
   */
  void set_silent(bool silent);

  /** One `{"time","type","record"}` element; `record_json` is raw JSON (object or string). */
  static std::string record(const std::string& type, const std::string& record_json);
  /**
   * The init records Lambda delivers to a new subscriber of the `platform` type [TEL][RIE]:
   * `platform.initStart`, `platform.telemetrySubscription` (`name`, `state: "Subscribed"`,
   * `types`), `platform.initRuntimeDone`, `platform.initReport` (`metrics.durationMs` =
   * `init_duration_ms`), each with `initializationType` (`on-demand`, or
   * `lambda-managed-instances`, which replays them [LMI]).
   */
  static std::vector<std::string> init_records(const std::string& initialization_type,
                                               const std::string& extension_name,
                                               const std::vector<std::string>& types,
                                               int64_t init_duration_ms);
  /** `platform.start` / `platform.runtimeDone` / `platform.report` for a request id. */
  static std::string start_record(const std::string& request_id);
  static std::string runtime_done_record(const std::string& request_id,
                                         const std::string& status = "success");
  static std::string report_record(const std::string& request_id);
  /** A `function` string record `"<text>"`. */
  static std::string function_record(const std::string& text);
  /** `[e1,e2,…]`. */
  static std::string batch(const std::vector<std::string>& records);

 private:
  struct Answer {
    int status;
    std::string body;
  };
  Answer subscribe(TelemetryMode mode, const std::string& identifier, const std::string& body);
  static Answer fault_answer(SubscribeFault fault, TelemetryMode mode);
  /** Makes `sub` the subscription, with a batcher for its destination. Caller holds mutex_. */
  void start_batcher(EmulatedSubscription sub);

  std::function<bool(const std::string&)> identifier_known_;
  Platform platform_;
  mutable std::mutex mutex_;
  mutable std::condition_variable subscribed_;
  std::deque<SubscribeFault> faults_;
  std::optional<EmulatedSubscription> subscription_;
  int calls_ = 0;
  bool silent_ = false;
  std::function<void(const BatchOutcome&)> batch_observer_;
  /** Shared with publish() callers outside the lock; replaced by a new subscription. */
  std::shared_ptr<TelemetryBatcher> batcher_;
};

}  // namespace extension_runner
