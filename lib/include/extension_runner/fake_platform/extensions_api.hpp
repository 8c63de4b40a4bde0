#pragma once
/**
 * @file emulator.hpp
 * An in-process Extensions API (2020-01-01) that behaves as AWS documents it [EXT] and as AWS's
 * emulator (RIE) implements it ([EXT], [RIE]; docs/references.md): identifier checks, 403 error
 * types, init/exit error recording, blocking `/next` fed from a script, fault injection. Serves on
 * 127.0.0.1 with an ephemeral port. Used by the integration tests and by `extension-runner
 * emulate`.
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
}  // namespace httplib

namespace extension_runner {

/**
 * Which API call a fault or a recorded call is about. `Subscribe` is a Telemetry API or Logs API
 * subscription (answered by a TelemetryEmulator installed on this server); it takes transport
 * faults only.
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

/** How a TransportFault breaks a call below the HTTP status line. */
enum class Transport {
  Reset,              ///< The connection is reset (RST) before any answer byte.
  CloseBeforeAnswer,  ///< The connection is closed (FIN) without an answer.
  CloseMidBody,       ///< Status and headers promise a body; half of it arrives, then FIN.
  Body,               ///< A complete answer with `status` and `body` instead of the real one.
  Slow,               ///< The real answer, after `delay_ms`.
  VanishAfter,        ///< The real answer, then the API is gone: new connections are refused.
};

/** An injected transport failure: the next `times` calls to an endpoint get it. */
struct TransportFault {
  Transport kind = Transport::Reset;
  int status = 200;    ///< Transport::Body.
  std::string body;    ///< Transport::Body.
  int delay_ms = 0;    ///< Transport::Slow.
  int times = 1;       ///< How many calls it applies to.
  int skip_calls = 0;  ///< Let this many calls through first.
};

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
  /**
   * Makes calls to `endpoint` fail below HTTP as described (checked before anything else, so
   * before the identifier checks). A call broken this way is recorded with status 0 (no
   * answer), the Body fault's status, or (Slow, VanishAfter) the real answer's.
   */
  void inject(Endpoint endpoint, TransportFault fault);
  /** Whether a VanishAfter fault has taken the API away. */
  bool vanished() const;

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

 private:
  struct Registered {
    std::string name;
    bool accept_account_id = false;
    bool errored = false;  ///< After init/error or exit/error no further call succeeds [EXT].
  };

  void install_routes();
  std::optional<Fault> take_fault(Endpoint endpoint);
  std::optional<TransportFault> take_transport_fault(Endpoint endpoint);
  void stop_server_once();
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
  std::map<Endpoint, std::deque<TransportFault>> transport_faults_;
  bool vanish_pending_ = false;  ///< Set by a VanishAfter call; acted on after its answer.
  bool vanished_ = false;
  bool server_stopped_ = false;
  std::vector<RecordedCall> calls_;
  std::function<void(const RecordedCall&)> observer_;
  int waiting_next_ = 0;
  bool stopping_ = false;
};

/** A random RFC 4122 version-4 UUID string, as Lambda uses for identifiers and request ids. */
std::string random_uuid();

}  // namespace extension_runner
