#pragma once
/**
 * @file runtime_api.hpp
 * The Lambda Runtime API (2018-06-01) as the platform serves it to a function's runtime [RAPI]:
 * `GET /runtime/invocation/next` hands out queued events with the `Lambda-Runtime-*` headers,
 * `POST /runtime/invocation/{id}/response`, `/{id}/error` and `/runtime/init/error` are
 * recorded with the time they arrived. Installs its routes on an existing cpp-httplib server
 * (the Extensions API emulator's): inside Lambda both APIs share `AWS_LAMBDA_RUNTIME_API`.
 * Used by `extension-runner emulate --proxy`.
 */
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace extension_runner {

/** The largest request or response body the platform takes: 6 MB [RAPI] (RIE's bound). */
inline constexpr size_t kRuntimeApiMaxPayloadBytes = 6 * 1024 * 1024 + 100;

/** One invocation as `/next` hands it to the runtime. */
struct RuntimeEvent {
  std::string request_id;
  int64_t deadline_ms = 0;  ///< Epoch ms: `Lambda-Runtime-Deadline-Ms`.
  std::string invoked_function_arn;
  std::string trace_id;  ///< `Lambda-Runtime-Trace-Id`; not sent when empty.
  std::string body = "{}";
};

/** What the runtime sent the platform about one invocation (or its init). */
enum class RuntimeOutcome { Response, Error, InitError };

/** One answer the platform received, as it received it. */
struct RuntimeAnswer {
  RuntimeOutcome outcome = RuntimeOutcome::Response;
  std::string request_id;  ///< "" for InitError.
  /** `Lambda-Runtime-Function-Error-Type`, else the body's `errorType`, else "" (Error only). */
  std::string error_type;
  std::string body;
  int status = 0;  ///< What the platform answered: 202, or 400 / 413 when it refused.
  std::chrono::steady_clock::time_point at;  ///< When it arrived.
};

/** When `/next` handed an event out. */
struct HandedOut {
  std::string request_id;
  std::chrono::steady_clock::time_point at;
};

class RuntimeApiEmulator {
 public:
  RuntimeApiEmulator() = default;
  RuntimeApiEmulator(const RuntimeApiEmulator&) = delete;
  RuntimeApiEmulator& operator=(const RuntimeApiEmulator&) = delete;

  /**
   * Adds the Runtime API routes to `server` (before it starts; this object must outlive the
   * server's serving). `/next` blocks until an event is queued or stop() is called (then 500,
   * as a platform going away). `/{id}/response` and `/{id}/error` for an id never handed out,
   * or already answered, are 400 `InvalidRequestID`; a body over kRuntimeApiMaxPayloadBytes is
   * 413 `RequestEntityTooLarge` (recorded with that status); else 202 `{"status":"OK"}`.
   * Sizes the server's worker pool for `runtimes` runtime connections waiting in `/next` at
   * once besides the Extensions API's own calls (a waiting `/next` holds a worker).
   */
  void install(httplib::Server& server, size_t runtimes = 1);

  /** Queues an event for `/next`, in order. */
  void push(RuntimeEvent event);

  /** Ends every blocked and later `/next` (500). Idempotent. */
  void stop();

  /**
   * Waits until the invocation `request_id` was answered (a response or an error the platform
   * accepted or refused) or `until` passes; the answer, or nullopt.
   */
  std::optional<RuntimeAnswer> wait_for_answer(const std::string& request_id,
                                               std::chrono::steady_clock::time_point until) const;

  /** When `request_id` was handed out by `/next`; nullopt if it was not (yet). */
  std::optional<std::chrono::steady_clock::time_point> handed_out_at(
      const std::string& request_id) const;

  /** Every answer received, in order. */
  std::vector<RuntimeAnswer> answers() const;

  /** Called (from a server thread) after each event handed out and each answer recorded. */
  void set_observers(std::function<void(const HandedOut&)> on_handed_out,
                     std::function<void(const RuntimeAnswer&)> on_answer);

 private:
  void answer_next(httplib::Response& res);
  void answer_invocation(const httplib::Request& req, httplib::Response& res,
                         RuntimeOutcome outcome);
  void answer_init_error(const httplib::Request& req, httplib::Response& res);
  void record(const RuntimeAnswer& answer);

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::deque<RuntimeEvent> queued_;
  std::map<std::string, std::chrono::steady_clock::time_point> handed_out_;
  std::map<std::string, size_t> answered_;  ///< request id → index in answers_.
  std::vector<RuntimeAnswer> answers_;
  std::function<void(const HandedOut&)> on_handed_out_;
  std::function<void(const RuntimeAnswer&)> on_answer_;
  bool stopping_ = false;
};

/** The `errorType` of a Runtime API error body (`{"errorMessage","errorType"}`), or "". */
std::string runtime_error_type(const std::string& body);

}  // namespace extension_runner
