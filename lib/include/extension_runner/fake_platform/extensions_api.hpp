#pragma once
/**
 * @file extensions_api.hpp
 * An in-process Extensions API (2020-01-01) that behaves as AWS documents it [EXT] and as AWS's
 * emulator (RIE) implements it ([EXT], [RIE]; docs/references.md): identifier checks, 403 error
 * types, init/exit error recording, blocking `/next` fed from a script, injected error answers
 * (`Fault`). Serves on 127.0.0.1 with an ephemeral port. Used by the integration tests and by
 * `extension-runner emulate`; a test breaks calls below HTTP through set_before_route().
 */
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "extension_runner/core/result.hpp"
#include "extension_runner/lambda/platform.hpp"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace extension_runner {

/**
 * Which API call a fault or a recorded call is about. `Subscribe` is a Telemetry API or Logs API
 * subscription (answered by a TelemetryEmulator installed on this server): it reaches the
 * before-route hook, but takes no `Fault` here (TelemetryEmulator::inject has its own).
 */
enum class Endpoint { Register, Next, InitError, ExitError, Subscribe, Other };

/** One HTTP call the emulator answered. */
struct RecordedCall {
  Endpoint endpoint = Endpoint::Other;
  std::string method;
  std::string path;
  std::map<std::string, std::string> headers;  ///< Header names as sent.
  std::string body;
  int status = 0;             ///< What the emulator answered.
  std::string response_body;  ///< What the emulator answered.
  int64_t time_ms = 0;        ///< Wall clock when answered.
  /** A header value by case-insensitive name, or "". */
  std::string header(const std::string& name) const;
};

/** An injected failure: the next `times` calls to an endpoint get this answer. */
struct Fault {
  int status = 500;
  std::string error_type = "InternalError";
  std::string error_message = "injected fault";
  int times = 1;       ///< How many calls it applies to.
  int skip_calls = 0;  ///< Let this many calls succeed first.
};

/** The answer a before-route hook gave a call it took over, as the call is recorded. */
struct HookAnswer {
  int status = 0;    ///< 0: no answer (the hook broke the connection).
  std::string body;  ///< What the client was sent, if anything.
};

/**
 * Runs on the server thread before a call is routed, on every path of the server (routes added
 * through server() included), before the identifier checks and any `Fault`. Returns nothing to
 * let the call through to its route; or takes the call over (answering through `res`, or
 * breaking the connection) and returns what it answered, which is recorded as the call's.
 */
using BeforeRoute = std::function<std::optional<HookAnswer>(
    Endpoint endpoint, const httplib::Request& req, httplib::Response& res)>;

/** Function metadata returned by Register. */
struct FunctionInfo {
  std::string function_name = "emulated-function";
  std::string function_version = "$LATEST";
  std::string handler = "lambda_function.lambda_handler";
  std::string account_id = "123456789012";
};

class Emulator {
 public:
  /**
   * `platform` ManagedInstances: Register refuses INVOKE as Lambda Managed Instances do, 403
   * `{"errorMessage":"INVOKE: ErrorInvalidEventType","errorType":"Extension.InvalidEventType"}`
   * [LMI][RIE]; the caller then queues no INVOKE (only SHUTDOWN reaches `/next` there).
   */
  explicit Emulator(FunctionInfo function = {}, Platform platform = Platform::Lambda);
  ~Emulator();
  Emulator(const Emulator&) = delete;
  Emulator& operator=(const Emulator&) = delete;

  /**
   * The server, for adding further routes (e.g. the Telemetry API) before start().
   * Routes added later are not guaranteed to be seen.
   */
  httplib::Server& server();

  /** Binds 127.0.0.1:0 and serves on a thread; returns once it accepts connections. */
  Result<void> start();
  /** Stops serving; blocked `/next` calls are answered 500. Idempotent; the destructor calls it. */
  void stop();

  int port() const { return port_; }
  /** `127.0.0.1:<port>`, the value for AWS_LAMBDA_RUNTIME_API. */
  std::string runtime_api() const;

  /** Queues an INVOKE; `/next` returns queued events in order, blocking while none is queued. */
  void push_invoke(const std::string& request_id, int64_t deadline_ms,
                   const std::string& invoked_function_arn = kDefaultArn, bool with_tracing = true);
  /** Queues a SHUTDOWN with any reason string. */
  void push_shutdown(const std::string& reason, int64_t deadline_ms);
  /** Queues an arbitrary `/next` body (for malformed-event tests). */
  void push_raw_event(const std::string& body);

  /**
   * Drops every queued event and queues a SHUTDOWN instead, as RIE does on SIGTERM/SIGINT
   * (reason `SandboxTerminated`, [RIE]).
   */
  void interrupt(const std::string& reason, int64_t deadline_ms);

  /** Wall-clock times at which `/next` calls arrived (before any event was available). */
  std::vector<int64_t> next_arrival_times() const;
  /** Steady-clock instant of the latest `/next` arrival (epoch of the clock before any). */
  std::chrono::steady_clock::time_point last_next_arrival() const;

  /** Makes calls to `endpoint` fail as described. */
  void inject(Endpoint endpoint, Fault fault);

  /** Installs (or, empty, removes) the hook every call passes before its route. */
  void set_before_route(BeforeRoute hook);
  /**
   * Stops accepting connections: later calls are refused while calls in progress are still
   * answered, each connection closing after its answer. Idempotent; stop() still ends the
   * server.
   */
  void stop_listening();
  /** Waits until stop() is called or `timeout` passes; true once stopping. For delaying hooks. */
  bool wait_for_stop(std::chrono::milliseconds timeout) const;

  /** Called (from the server thread) after every answered call. */
  void set_observer(std::function<void(const RecordedCall&)> observer);

  /** Every call answered so far. */
  std::vector<RecordedCall> calls() const;
  /** Calls to one endpoint. */
  std::vector<RecordedCall> calls_to(Endpoint endpoint) const;
  /** Whether `identifier` belongs to a registered extension. */
  bool knows_identifier(const std::string& identifier) const;
  /** Identifier handed to the first registered extension ("" before). */
  std::string identifier() const;
  /** How many `/next` calls are blocked waiting for an event right now. */
  int waiting_next() const;
  /**
   * Waits until at least one `/next` call is blocked waiting for an event with none queued
   * (the extension is idle), or the emulator stops, or `timeout` passes. True if idle.
   */
  bool wait_for_idle_next(std::chrono::milliseconds timeout) const;

  /**
   * Waits until `predicate(calls)` holds or `timeout` passes; true if it held.
   * Evaluated under the emulator's lock after every call: keep it cheap.
   */
  bool wait_until(const std::function<bool(const std::vector<RecordedCall>&)>& predicate,
                  std::chrono::milliseconds timeout) const;

  static constexpr const char* kDefaultArn =
      "arn:aws:lambda:us-east-1:123456789012:function:emulated-function";
  /** The X-Ray trace header an INVOKE carries (its `tracing.value`). */
  static constexpr const char* kDefaultTraceId =
      "Root=1-5f35ae12-0c0fec141ab77a00bc047aa2;Parent=2be948a625588e32;Sampled=1";

 private:
  struct Registered {
    std::string name;
    bool accept_account_id = false;
    bool errored = false;  ///< After init/error or exit/error no further call succeeds [EXT].
  };

  /** A 403 refusal of a call: its error type and message. */
  struct Refusal {
    std::string type;
    std::string message;
  };

  void install_routes();
  std::optional<HookAnswer> run_before_route(const httplib::Request& req, httplib::Response& res);
  void answer_register(const httplib::Request& req, httplib::Response& res);
  std::optional<Refusal> refuse_register_body(const std::string& body) const;
  std::optional<Refusal> add_extension(const std::string& name, bool account_id, std::string& id);
  std::string register_body(bool account_id) const;
  void answer_next(const httplib::Request& req, httplib::Response& res);
  void note_next_arrival();
  std::string wait_for_event();
  void answer_error_report(Endpoint endpoint, const httplib::Request& req, httplib::Response& res);
  std::optional<std::string> check_identifier(Endpoint endpoint, const httplib::Request& req,
                                              httplib::Response& res);
  bool answer_fault(Endpoint endpoint, const httplib::Request& req, httplib::Response& res);
  void reject(Endpoint endpoint, const httplib::Request& req, httplib::Response& res, int status,
              const std::string& type, const std::string& message);
  void finish(Endpoint endpoint, const httplib::Request& req, httplib::Response& res, int status,
              const std::string& body, const char* content_type);
  void record(const RecordedCall& call);

  FunctionInfo function_;
  Platform platform_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::deque<std::string> events_;
  std::vector<int64_t> next_arrivals_;
  std::chrono::steady_clock::time_point last_next_arrival_{};
  std::map<std::string, Registered> extensions_;  ///< By identifier.
  std::string first_identifier_;
  std::map<Endpoint, std::deque<Fault>> faults_;
  BeforeRoute before_route_;
  bool listening_stopped_ = false;
  std::vector<RecordedCall> calls_;
  std::function<void(const RecordedCall&)> observer_;
  int waiting_next_ = 0;
  bool stopping_ = false;
};

}  // namespace extension_runner
