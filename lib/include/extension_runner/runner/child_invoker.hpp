#pragma once
/**
 * @file child_invoker.hpp
 * The child-runtime Invoker: runs the user's extension logic as a child process speaking
 * runner protocol v1 (docs/runner-protocol.md; precedent: mless, [MLESS]).
 */
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "extension_runner/runner/invoker.hpp"
#include "extension_runner/runner/options.hpp"
#include "extension_runner/runner/process.hpp"
#include "extension_runner/runner/protocol.hpp"

namespace extension_runner {

/** `errortype` of replies the host makes up for requests the child did not answer properly. */
inline constexpr const char* kRunnerTimeout = "Runner.Timeout";  ///< Deadline passed.
inline constexpr const char* kRunnerCrashed = "Runner.Crashed";  ///< Child exited mid-request.
/** The child's answer broke the protocol (oversized, wrong `invokeid`, mistyped fields). */
inline constexpr const char* kRunnerProtocolError = "Runner.ProtocolError";
/** The request itself could not be encoded (raw event not JSON). */
inline constexpr const char* kRunnerInvalidRequest = "Runner.InvalidRequest";

/**
 * Environment variable naming the child's descriptor for the host's own stdout (the Lambda log
 * stream [EXT]); the child's stdout is the protocol. Always set, to `kSharedChildFd`.
 */
inline constexpr const char* kChildStdoutFdVariable = "EXTENSION_RUNNER_STDOUT_FD";

/** How a ChildInvoker starts and drives its child. */
struct ChildInvokerOptions {
  std::string command;             ///< Run with `/bin/sh -c` (EXTENSION_RUNNER_COMMAND).
  std::string log_name = "child";  ///< Prefix (log `source`) of the child's stderr lines.
  /** Sent after every (re)start; its `env` is also set in the child's environment. */
  StartupRequest startup;
  std::string working_dir;                     ///< "" = inherit.
  int64_t startup_timeout_ms = 5000;           ///< For the handshake, per (re)start.
  int max_crashes = 3;                         ///< Crashes in a row before Error{ChildCrashed}.
  size_t max_message_bytes = 6 * 1024 * 1024;  ///< Longest accepted stdout line.
  std::string memory_size;                     ///< Reported as billing.memory.
  /** Delay before restarting after a crash; doubles per crash in a row, capped at 1 s. */
  std::chrono::milliseconds crash_backoff{100};
  /** Called with each successful startup response (every (re)start), on the starting thread. */
  std::function<void(const StartupResponse&)> on_started;
};

/**
 * Invoker over a child process. One request in flight; calls other than cancel() must not
 * overlap. Calls that may (re)spawn the child (start(), and invoke() while ready() is false)
 * must come from one thread that lives as long as the child should (PR_SET_PDEATHSIG fires
 * when the forking thread exits); while ready(), invoke() may come from another thread (the
 * Dispatcher's sync fast path). The thread running invoke() reads the reply from the child's
 * stdout itself; only stderr has a reader thread.
 *
 * Outcomes of invoke():
 * - the child's reply (billing measured by the host: duration request-write → reply-read,
 *   memory = options.memory_size, used = the child's peak RSS in MB, or 0 when the request's
 *   `measure_memory` is false);
 * - deadline passed → the process group is killed, reply `errors:true`, `Runner.Timeout`;
 *   the child is restarted (same handshake) at the next invoke();
 * - the child exits mid-request → `Runner.Crashed`, restarted with backoff at the next invoke();
 *   `max_crashes` crashes (or failed restarts) in a row → Error{ChildCrashed}, for good;
 * - a reply that is oversized or malformed → `Runner.ProtocolError`; one with a foreign
 *   `invokeid` → `Runner.ProtocolError` and the child is restarted (the stream is out of step);
 *   a second reply to the previous request is logged and dropped;
 * - the child exited with status 0 before reading the request (a child that exits after every
 *   reply) → it is restarted and the request sent again, once; not counted as a crash.
 * Stdout lines that are not JSON (or JSON that is no protocol message) are logged as
 * protocol warnings and skipped; stderr lines are logged at Info with `log_name` as source.
 */
class ChildInvoker : public Invoker {
 public:
  explicit ChildInvoker(ChildInvokerOptions options);
  /** Kills the child's process group at once if still running; joins the reader threads. */
  ~ChildInvoker() override;
  ChildInvoker(const ChildInvoker&) = delete;
  ChildInvoker& operator=(const ChildInvoker&) = delete;

  /**
   * Spawns the child and performs the handshake within startup_timeout_ms. Error
   * ChildStartupFailed (with the child's `error` text, or its exit status and last stderr
   * lines) when it answers `ok:false`, does not answer in time, or exits.
   */
  Result<void> start();

  Result<InvokeReply> invoke(const InvokeRequest& request) override;
  /** Closes the child's stdin, waits, SIGTERM, then SIGKILL, within `budget_ms`. */
  void shutdown(int64_t budget_ms) override;
  void cancel() override;
  /** A child is running and healthy: the next invoke() spawns nothing. */
  bool ready() const override;

  /** Pid of the current child, -1 when none is running. */
  pid_t pid() const;
  /** How many times the child was started (1 after start()). */
  int starts() const { return starts_; }

  struct Session;  ///< One running child with its reader threads (child_invoker.cpp).
  struct Inbox;    ///< The stderr tail and the cancelled flag, shared with the stderr reader.
  struct Message;  ///< One protocol message read from the child's stdout (child_invoker.cpp).

 private:
  using Clock = std::chrono::steady_clock;
  struct Attempt;  ///< One sending of a request to the child (child_invoker.cpp).

  /** Spawns the child and performs the handshake; Error ChildStartupFailed saying why not. */
  Result<void> start_session(Clock::time_point deadline);
  /** Spawns the child with its pipes and its stderr reader: `session_`. */
  Result<void> spawn_session();
  /** Sends the startup request and waits for the child's answer. */
  Result<void> handshake(Clock::time_point deadline);
  /** Ends the session; the ChildStartupFailed error for `why`. */
  Error startup_failed(const std::string& why);
  void end_session();
  /** The next message on the child's stdout; nullopt at `deadline` or on cancellation. */
  std::optional<Message> read_message(Clock::time_point deadline);
  /** Logs and drops what the child wrote unasked since its last reply. */
  void discard_unrequested();

  /**
   * Sends `request` once and reads its reply: the answer, or nullopt when the child exited
   * cleanly without reading it (only when `may_resend`) and the request is to be sent again.
   */
  std::optional<Result<InvokeReply>> send_once(const InvokeRequest& request,
                                               const std::string& previous_id, bool may_resend);
  /**
   * Starts a child for `request` after the crash backoff: nullopt once it runs, else the
   * request's answer (a startup failure, a crash reply, or the crash limit's fatal error).
   */
  std::optional<Result<InvokeReply>> restart(const InvokeRequest& request,
                                             Clock::time_point deadline);
  /** Reads until the request's answer; nullopt as send_once(). */
  std::optional<Result<InvokeReply>> await_reply(const Attempt& attempt);
  /** The answer a reply gives; nullopt for a late reply to the previous request (dropped). */
  std::optional<Result<InvokeReply>> take_reply(const Attempt& attempt, InvokeReply reply,
                                                double duration);
  /** Whether the child exited with status 0 without reading the request (then it is ended). */
  bool exited_unread(const Attempt& attempt, bool wrote_nothing);

  InvokeReply host_reply(const InvokeRequest& request, const char* errortype,
                         const std::string& message) const;
  /** Runner.Timeout for a request past its deadline; the child is killed. */
  InvokeReply timed_out(const Attempt& attempt);
  /** Runner.Crashed after the child exited mid-request, or the crash limit's fatal error. */
  Result<InvokeReply> crashed(const InvokeRequest& request, double duration_ms);
  Error cancelled_error() const;
  /** cancelled_error(), after ending the child that had the request. */
  Error cancelled_mid_request();
  bool sleep_until(Clock::time_point until);
  /** The child's peak RSS in MB (billing.used); 0 without reading /proc when the request
   * does not ask for it (InvokeRequest::measure_memory). */
  int64_t used_mb(const InvokeRequest& request);

  ChildInvokerOptions options_;
  std::unique_ptr<Session> session_;
  int starts_ = 0;
  int crashes_in_a_row_ = 0;
  std::optional<Error> fatal_;
  std::string previous_id_;  ///< The request before the current one (its late replies are dropped).
  std::atomic<bool> cancelled_{false};
  Pipe cancel_pipe_;  ///< Written once by cancel() to wake a blocked write.
  std::unique_ptr<Inbox> inbox_;
  GroupPeakRss rss_;  ///< billing.used, measured without a /proc scan per reply.
};

/** The function a child serves, as the Extensions API's Register answer describes it [EXT]. */
struct RegisteredFunction {
  std::string body_json = "{}";  ///< The answer's body as received: StartupRequest `function`.
  std::string name;              ///< `functionName`.
  std::string version;           ///< `functionVersion`.
  std::string handler;           ///< `handler`: the function's own handler, not the child's.
  std::string account_id;        ///< `accountId`; "" when the feature was not granted.
};

/**
 * The startup request a child of `runner` gets (docs/runner-protocol.md): `handler` =
 * runner.handler, `name` = `extension_name`, `mode` (`lambda` | `invoke` | `emulate`),
 * `platform` (platform_name()), this host's protocol version. With a registration, `function`
 * is its body and `env` names the function and this extension (AWS_LAMBDA_FUNCTION_NAME,
 * AWS_LAMBDA_FUNCTION_VERSION, AWS_LAMBDA_FUNCTION_MEMORY_SIZE, EXTENSION_RUNNER_FUNCTION_HANDLER,
 * EXTENSION_RUNNER_ACCOUNT_ID, EXTENSION_RUNNER_HANDLER, EXTENSION_RUNNER_NAME; empty values left
 * out); without one (`invoke` mode: no Extensions API) `function` is `{}` and `env` is empty.
 */
StartupRequest startup_request(const RunnerOptions& runner, const std::string& extension_name,
                               std::string mode, std::string platform,
                               const std::optional<RegisteredFunction>& registration);

/**
 * The ChildInvoker options for the child runtime's settings; `startup` is the handshake the
 * child gets after every (re)start, and its `name` the log prefix of the child's stderr.
 */
ChildInvokerOptions child_invoker_options(const RunnerOptions& runner, StartupRequest startup);

}  // namespace extension_runner
