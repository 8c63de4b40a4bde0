#include "extension_runner/runner/child_invoker.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/json.hpp"
#include "extension_runner/core/log.hpp"
#include "extension_runner/core/text.hpp"
#include "extension_runner/runner/line_reader.hpp"
#include "extension_runner/runner/line_writer.hpp"

namespace extension_runner {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Stderr lines longer than this are logged truncated: a log line is not a data channel.
constexpr size_t kMaxStderrLine = size_t{64} * 1024;
// Stderr lines kept to explain a failed startup.
constexpr size_t kStderrTail = 5;
// How long the stderr reader may take to drain a dead child's last lines.
constexpr milliseconds kStderrDrain{200};
// How long a child that closed stdout gets to finish exiting, to report its status.
constexpr milliseconds kExitGrace{1000};
// A stderr line kept for the startup failure's message is cut to this many bytes.
constexpr size_t kMaxStderrTailLine = 500;
// The child's text quoted in a protocol warning or a host-made reply is cut to this many bytes.
constexpr size_t kMaxQuoted = 200;
// A request goes to the child at most this often: once, and once more to a restarted child when
// the first one exited cleanly without reading it (see exited_unread).
constexpr int kSendAttempts = 2;

}  // namespace

/** What reading the child's stdout yields. */
struct ChildInvoker::Message {
  enum class Kind { Startup, Reply, BadReply, TooLong, Eof };
  Kind kind = Kind::Eof;
  StartupResponse startup;
  InvokeReply reply;
  std::string error;
  Clock::time_point at = Clock::now();
};

using Message = ChildInvoker::Message;

// What the stderr reader thread shares with the invoking thread (stdout has no thread: the
// thread that sends a request reads its reply itself, which saves two thread hand-offs per
// request, see bench/README.md).
struct ChildInvoker::Inbox {
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<std::string> stderr_tail;
  bool stderr_open = false;  ///< The stderr reader is still running.
  bool cancelled = false;

  void remember_stderr(const std::string& line) {
    std::lock_guard<std::mutex> lock(mutex);
    stderr_tail.push_back(clip(line, kMaxStderrTailLine));
    if (stderr_tail.size() > kStderrTail) stderr_tail.pop_front();
  }

  void stderr_closed() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stderr_open = false;
    }
    cv.notify_all();
  }

  /** The last stderr lines, after waiting (bounded) for the reader to drain the pipe. */
  std::string stderr_summary(Clock::time_point wait_until) {
    std::unique_lock<std::mutex> lock(mutex);
    cv.wait_until(lock, wait_until, [&] { return !stderr_open || cancelled; });
    std::string out;
    for (const auto& l : stderr_tail) out += (out.empty() ? "" : " | ") + l;
    return out;
  }
};

/** One running child: the process, its pipes, the stdout framing and the stderr thread. */
struct ChildInvoker::Session {
  ChildProcess process;
  Fd stdout_fd;
  Fd stderr_fd;
  Pipe stop;  ///< Written on teardown so the stderr reader never outlives the session.
  std::unique_ptr<LineReader> stdout_reader;  ///< Used only by the invoking thread.
  std::thread stderr_thread;

  ~Session() {
    // Kill first so the child stops producing, then wake and join the reader (a grandchild
    // that escaped the group could keep the pipe open; the stop pipe covers that).
    process = ChildProcess();
    if (stop.write.valid()) (void)!::write(stop.write.get(), "x", 1);
    if (stderr_thread.joinable()) stderr_thread.join();
  }
};

/** One sending of a request to the child: what is sent, by when, and since when. */
struct ChildInvoker::Attempt {
  const InvokeRequest& request;
  EncodedRequest line;  ///< The encoded request with its newline.
  Clock::time_point deadline;
  /** The request before this one: a late second reply to it is dropped, not a mismatch. */
  const std::string& previous_id;
  bool may_resend;  ///< Another attempt may follow if the child exited without reading this.
  Clock::time_point started_at;  ///< When the request was first written: billing.duration's start.

  double ms_since_start(Clock::time_point at) const {
    return std::chrono::duration<double, std::milli>(at - started_at).count();
  }
};

namespace {

// Turns one stdout line into a message; false (after a protocol warning) for lines that are
// none: not JSON, or JSON that is neither a reply nor a startup response.
bool parse_stdout_line(const std::string& text, const std::string& source, Message& m) {
  auto doc = parse_json(text);
  if (!doc || !doc->IsObject()) {
    log_from(LogLevel::Warn, source,
             "protocol: ignoring stdout line that is not a JSON object: " + clip(text, kMaxQuoted));
    return false;
  }
  if (json_member(*doc, "invokeid") != nullptr) {
    auto reply = decode_invoke_reply(*doc);
    if (reply) {
      m.kind = Message::Kind::Reply;
      m.reply = std::move(*reply);
    } else {
      m.kind = Message::Kind::BadReply;
      m.error = reply.error().message;
    }
    return true;
  }
  if (json_member(*doc, "ok") != nullptr) {
    auto startup = decode_startup_response(text);
    if (!startup) {
      log_from(LogLevel::Warn, source,
               "protocol: bad startup response: " + startup.error().message);
      return false;
    }
    m.kind = Message::Kind::Startup;
    m.startup = std::move(*startup);
    return true;
  }
  log_from(LogLevel::Warn, source,
           "protocol: ignoring stdout JSON that is no protocol message: " + clip(text, kMaxQuoted));
  return false;
}

void read_stderr(int fd, int stop_fd, const std::string& source, ChildInvoker::Inbox* inbox) {
  LineReader reader(fd, kMaxStderrLine, stop_fd);
  while (true) {
    ReadLine line = reader.next();
    if (line.kind == ReadLine::Kind::Line) {
      log_from(LogLevel::Info, source, line.text);
      inbox->remember_stderr(line.text);
    } else if (line.kind == ReadLine::Kind::TooLong) {
      log_from(LogLevel::Info, source, line.text + " …[line truncated]");
    } else {
      inbox->stderr_closed();
      return;
    }
  }
}

}  // namespace

ChildInvoker::ChildInvoker(ChildInvokerOptions options)
    : options_(std::move(options)), inbox_(std::make_unique<Inbox>()) {
  if (auto p = make_pipe()) cancel_pipe_ = std::move(*p);
}

ChildInvoker::~ChildInvoker() { end_session(); }

pid_t ChildInvoker::pid() const { return session_ ? session_->process.pid() : -1; }

void ChildInvoker::end_session() {
  if (!session_) return;
  // Kill and reap first, then let the stderr reader drain what the child wrote last (its final
  // lines explain a crash or a shutdown) before the stop pipe cuts it off; bounded, in case a
  // grandchild that escaped the group still holds the pipe open.
  session_->process = ChildProcess();
  {
    std::unique_lock<std::mutex> lock(inbox_->mutex);
    inbox_->cv.wait_for(lock, kStderrDrain, [&] { return !inbox_->stderr_open; });
  }
  session_.reset();
}

std::optional<Message> ChildInvoker::read_message(Clock::time_point deadline) {
  LineReader& reader = *session_->stdout_reader;
  while (true) {
    ReadLine line = reader.next(deadline);
    Message m;
    m.at = Clock::now();
    switch (line.kind) {
      case ReadLine::Kind::Line:
        if (parse_stdout_line(line.text, options_.log_name, m)) return m;
        break;
      case ReadLine::Kind::TooLong:
        m.kind = Message::Kind::TooLong;
        m.error = "stdout line exceeds the max message size of " +
                  std::to_string(options_.max_message_bytes) +
                  " bytes (EXTENSION_RUNNER_MAX_MESSAGE_BYTES); discarded";
        log_from(LogLevel::Warn, options_.log_name, "protocol: " + m.error);
        return m;
      case ReadLine::Kind::Error:
        log_from(LogLevel::Warn, options_.log_name, "reading stdout: " + line.text);
        [[fallthrough]];
      case ReadLine::Kind::Eof:
        m.kind = Message::Kind::Eof;
        return m;
      case ReadLine::Kind::Cancelled:
      case ReadLine::Kind::TimedOut:
        return std::nullopt;
    }
  }
}

Result<void> ChildInvoker::start() {
  if (session_) return {};
  return start_session(Clock::now() + milliseconds(options_.startup_timeout_ms));
}

Result<void> ChildInvoker::start_session(Clock::time_point deadline) {
  {
    std::lock_guard<std::mutex> lock(inbox_->mutex);
    inbox_->stderr_tail.clear();
    inbox_->stderr_open = true;
  }
  if (auto spawned = spawn_session(); !spawned) return startup_failed(spawned.error().message);
  ++starts_;
  if (auto shaken = handshake(deadline); !shaken) return startup_failed(shaken.error().message);
  log_debug("child runtime '" + options_.log_name + "' started, pid " +
            std::to_string(session_->process.pid()));
  return {};
}

Error ChildInvoker::startup_failed(const std::string& why) {
  end_session();
  const std::string who = "child runtime '" + options_.log_name + "' (EXTENSION_RUNNER_COMMAND)";
  return make_error(ErrorKind::ChildStartupFailed, who + " failed to start: " + why);
}

Result<void> ChildInvoker::spawn_session() {
  SpawnOptions spawn;
  spawn.argv = shell_argv(options_.command);
  spawn.set_env = options_.startup.env;
  spawn.working_dir = options_.working_dir;
  // The child's protocol stream is its stdout; lines meant for our own stdout (the Lambda log
  // stream, unprefixed: EMF metrics, say) go to this descriptor instead.
  spawn.share_fd = STDOUT_FILENO;
  spawn.set_env[kChildStdoutFdVariable] = std::to_string(kSharedChildFd);
  auto process = ChildProcess::spawn(spawn);
  if (!process) return process.error();
  auto session = std::make_unique<Session>();
  session->stdout_fd = std::move(process->stdout_fd());
  session->stderr_fd = std::move(process->stderr_fd());
  session->process = std::move(*process);
  auto stop = make_pipe();
  if (!stop) return stop.error();
  session->stop = std::move(*stop);
  // Our end of the child's stdin never blocks: writes wait in poll against the deadline.
  const int in_fd = session->process.stdin_fd().get();
  ::fcntl(in_fd, F_SETFL, ::fcntl(in_fd, F_GETFL) | O_NONBLOCK);
  session->stdout_reader = std::make_unique<LineReader>(
      session->stdout_fd.get(), options_.max_message_bytes, cancel_pipe_.read.get());
  session->stderr_thread = std::thread(read_stderr, session->stderr_fd.get(),
                                       session->stop.read.get(), options_.log_name, inbox_.get());
  session_ = std::move(session);
  return {};
}

Result<void> ChildInvoker::handshake(Clock::time_point deadline) {
  const auto failed = [](std::string why) {
    return make_error(ErrorKind::ChildStartupFailed, std::move(why));
  };
  const std::string line = encode_startup_request(options_.startup) + "\n";
  switch (write_line_until(session_->process.stdin_fd().get(), line, deadline,
                           cancel_pipe_.read.get())) {
    case WriteOutcome::Ok:
      break;
    case WriteOutcome::TimedOut:
      return failed("it did not read the startup request within " +
                    std::to_string(options_.startup_timeout_ms) +
                    " ms (EXTENSION_RUNNER_STARTUP_TIMEOUT_MS)");
    case WriteOutcome::Cancelled:
      return failed("cancelled");
    case WriteOutcome::Closed:
    case WriteOutcome::Failed:
      break;  // it exited: the reader reports EOF and we explain below
  }
  while (true) {
    auto m = read_message(deadline);
    if (!m) {
      if (cancelled_) return failed("cancelled");
      return failed("no startup response within " + std::to_string(options_.startup_timeout_ms) +
                    " ms (EXTENSION_RUNNER_STARTUP_TIMEOUT_MS)");
    }
    switch (m->kind) {
      case Message::Kind::Startup:
        if (m->startup.ok) {
          if (options_.on_started) options_.on_started(m->startup);
          return {};
        }
        return failed(m->startup.error.empty() ? std::string("it answered ok:false")
                                               : m->startup.error);
      case Message::Kind::Eof: {
        auto status = session_->process.wait_for(kExitGrace);
        session_->process = ChildProcess();  // reaped; the group is gone, stderr will close
        const std::string tail = inbox_->stderr_summary(Clock::now() + kExitGrace);
        return failed("it exited during startup (" +
                      (status ? status->describe() : std::string("closed stdout")) + ")" +
                      (tail.empty() ? "" : ": " + tail));
      }
      case Message::Kind::TooLong:
        return failed(m->error);
      case Message::Kind::Reply:
      case Message::Kind::BadReply:
        log_from(LogLevel::Warn, options_.log_name,
                 "protocol: ignoring a reply received before the startup response");
        break;
    }
  }
}

InvokeReply ChildInvoker::host_reply(const InvokeRequest& request, const char* errortype,
                                     const std::string& message) const {
  InvokeReply reply;
  reply.errors = true;
  reply.errortype = errortype;
  reply.invokeid = request.context.aws_request_id;
  reply.result_json = json_error_object(errortype, message);
  reply.billing.memory = options_.memory_size;
  return reply;
}

bool ChildInvoker::sleep_until(Clock::time_point until) {
  std::unique_lock<std::mutex> lock(inbox_->mutex);
  return !inbox_->cv.wait_until(lock, until, [&] { return inbox_->cancelled; });
}

int64_t ChildInvoker::used_mb(const InvokeRequest& request) {
  if (!request.measure_memory) return 0;
  return (rss_.measure(pid()) + 1023) / 1024;
}

Result<InvokeReply> ChildInvoker::crashed(const InvokeRequest& request, double duration_ms) {
  std::string status = "closed its stdout";
  if (session_) {
    if (auto s = session_->process.wait_for(kExitGrace)) status = "exited with " + s->describe();
  }
  end_session();
  ++crashes_in_a_row_;
  const std::string what = "child runtime '" + options_.log_name + "' " + status +
                           " while handling request " + request.context.aws_request_id;
  if (crashes_in_a_row_ >= options_.max_crashes) {
    fatal_ = make_error(ErrorKind::ChildCrashed,
                        what + " (" + std::to_string(crashes_in_a_row_) +
                            " crashes in a row, EXTENSION_RUNNER_MAX_CRASHES; giving up)");
    return *fatal_;
  }
  log_warn(what + "; it will be restarted");
  InvokeReply out = host_reply(request, kRunnerCrashed, what);
  out.billing.duration_ms = duration_ms;
  return out;
}

Error ChildInvoker::cancelled_error() const {
  return make_error(ErrorKind::Cancelled, "invoker cancelled");
}

Error ChildInvoker::cancelled_mid_request() {
  end_session();
  return cancelled_error();
}

InvokeReply ChildInvoker::timed_out(const Attempt& attempt) {
  InvokeReply r = host_reply(attempt.request, kRunnerTimeout,
                             "no reply by the deadline; child runtime killed and restarted");
  r.billing.used_mb = used_mb(attempt.request);
  r.billing.duration_ms = attempt.ms_since_start(Clock::now());
  end_session();
  log_warn("request " + attempt.request.context.aws_request_id + ": child runtime '" +
           options_.log_name +
           "' did not reply by the invoke's deadline; it was killed and will be restarted");
  return r;
}

// A child that exits after each reply (status 0) is gone before it reads the next request: the
// request's bytes are all still in the pipe. Restarting it and sending the request once more
// beats failing a request nobody saw.
bool ChildInvoker::exited_unread(const Attempt& attempt, bool wrote_nothing) {
  if (!attempt.may_resend || !session_) return false;
  int unread = 0;
  if (!wrote_nothing && (::ioctl(session_->process.stdin_fd().get(), FIONREAD, &unread) != 0 ||
                         static_cast<size_t>(unread) < attempt.line.size())) {
    return false;
  }
  const auto status = session_->process.wait_for(kExitGrace);
  if (!status || !status->success()) return false;
  log_info("child runtime '" + options_.log_name + "' exited (" + status->describe() +
           ") before reading request " + attempt.request.context.aws_request_id +
           "; restarting it");
  end_session();
  return true;
}

std::optional<Result<InvokeReply>> ChildInvoker::take_reply(const Attempt& attempt,
                                                            InvokeReply reply, double duration) {
  reply.billing.duration_ms = duration;
  reply.billing.memory = options_.memory_size;
  reply.billing.used_mb = used_mb(attempt.request);
  const std::string& id = attempt.request.context.aws_request_id;
  if (reply.invokeid == id) {
    crashes_in_a_row_ = 0;
    return reply;
  }
  if (!attempt.previous_id.empty() && reply.invokeid == attempt.previous_id) {
    log_from(LogLevel::Warn, options_.log_name,
             "protocol: ignoring a second reply to request " + attempt.previous_id);
    return std::nullopt;
  }
  const std::string why = "reply invokeid '" + clip(reply.invokeid, kMaxQuoted) +
                          "' does not match request '" + id + "'; child runtime restarted";
  log_from(LogLevel::Warn, options_.log_name, "protocol: " + why);
  end_session();
  InvokeReply r = host_reply(attempt.request, kRunnerProtocolError, why);
  r.billing = reply.billing;
  return r;
}

Result<InvokeReply> ChildInvoker::invoke(const InvokeRequest& request) {
  if (fatal_) return *fatal_;
  if (cancelled_) return cancelled_error();
  std::string previous_id = std::exchange(previous_id_, request.context.aws_request_id);
  for (int attempt = 1;; ++attempt) {
    const bool may_resend = attempt < kSendAttempts;
    if (auto answer = send_once(request, previous_id, may_resend)) return std::move(*answer);
    // The child exited cleanly before reading the request; its restarted successor gets it and
    // owes no reply to any earlier request.
    previous_id.clear();
    if (fatal_) return *fatal_;
    if (cancelled_) return cancelled_error();
  }
}

std::optional<Result<InvokeReply>> ChildInvoker::send_once(const InvokeRequest& request,
                                                           const std::string& previous_id,
                                                           bool may_resend) {
  const auto deadline = steady_deadline(request.deadline_ms);
  if (!session_) {
    if (auto failed = restart(request, deadline)) return failed;
  }
  if (Clock::now() >= deadline) {
    // Killing a healthy child for a request that was stale before it was sent helps no one.
    return host_reply(request, kRunnerTimeout, "deadline passed before the request was sent");
  }
  auto line = encode_invoke_request_parts(request);
  if (!line) return host_reply(request, kRunnerInvalidRequest, line.error().message);
  discard_unrequested();
  const Attempt attempt{request, std::move(*line), deadline, previous_id, may_resend, Clock::now()};
  switch (write_parts_until(session_->process.stdin_fd().get(),
                            {attempt.line.head, attempt.line.event, attempt.line.event_payload,
                             attempt.line.event_end, attempt.line.tail},
                            deadline, cancel_pipe_.read.get())) {
    case WriteOutcome::Ok:
      break;
    case WriteOutcome::TimedOut:
      return timed_out(attempt);
    case WriteOutcome::Cancelled:
      return cancelled_mid_request();
    case WriteOutcome::Closed:
      if (exited_unread(attempt, true)) return std::nullopt;
      return crashed(request, attempt.ms_since_start(Clock::now()));
    case WriteOutcome::Failed:
      return crashed(request, attempt.ms_since_start(Clock::now()));
  }
  return await_reply(attempt);
}

std::optional<Result<InvokeReply>> ChildInvoker::restart(const InvokeRequest& request,
                                                         Clock::time_point deadline) {
  if (crashes_in_a_row_ > 0) {
    const auto backoff = std::min<milliseconds>(
        options_.crash_backoff * (1 << std::min(crashes_in_a_row_ - 1, 4)), milliseconds(1000));
    if (!sleep_until(std::min(Clock::now() + backoff, deadline))) return cancelled_error();
  }
  auto started = start_session(Clock::now() + milliseconds(options_.startup_timeout_ms));
  if (started) return std::nullopt;
  if (cancelled_) return cancelled_error();
  if (starts_ <= 1) return started.error();  // never came up: a startup failure
  ++crashes_in_a_row_;
  if (crashes_in_a_row_ >= options_.max_crashes) {
    fatal_ = make_error(ErrorKind::ChildCrashed,
                        started.error().message + " (" + std::to_string(crashes_in_a_row_) +
                            " failures in a row, EXTENSION_RUNNER_MAX_CRASHES; giving up)");
    return *fatal_;
  }
  log_warn(started.error().message);
  return host_reply(request, kRunnerCrashed, "restart failed: " + started.error().message);
}

void ChildInvoker::discard_unrequested() {
  // What came with the child's last reply was not asked for. Only what is buffered: a poll
  // here would cost every request a system call, and whatever the child writes later is
  // matched by id after the request (a second reply to the previous one is dropped, any other
  // restarts the child). An EOF stays meaningful (the reader keeps returning it): the child is
  // gone and this request will find out.
  while (auto stale = read_message(Clock::time_point::min())) {
    if (stale->kind == Message::Kind::Eof) break;
    log_from(LogLevel::Warn, options_.log_name, "protocol: discarding an unrequested message");
  }
}

std::optional<Result<InvokeReply>> ChildInvoker::await_reply(const Attempt& attempt) {
  while (true) {
    auto m = read_message(attempt.deadline);
    if (!m) {
      if (cancelled_) return cancelled_mid_request();
      return timed_out(attempt);
    }
    const double duration = attempt.ms_since_start(m->at);
    switch (m->kind) {
      case Message::Kind::Reply:
        if (auto answer = take_reply(attempt, std::move(m->reply), duration)) return answer;
        break;
      case Message::Kind::BadReply:
      case Message::Kind::TooLong: {
        log_from(LogLevel::Warn, options_.log_name, "protocol: bad reply: " + m->error);
        InvokeReply r = host_reply(attempt.request, kRunnerProtocolError, m->error);
        r.billing.duration_ms = duration;
        r.billing.used_mb = used_mb(attempt.request);
        return r;
      }
      case Message::Kind::Startup:
        log_from(LogLevel::Warn, options_.log_name,
                 "protocol: ignoring a startup response during a request");
        break;
      case Message::Kind::Eof:
        if (exited_unread(attempt, false)) return std::nullopt;
        return crashed(attempt.request, duration);
    }
  }
}

void ChildInvoker::shutdown(int64_t budget_ms) {
  if (!session_) return;
  const auto status = session_->process.terminate(milliseconds(std::max<int64_t>(budget_ms, 0)));
  log_debug("child runtime '" + options_.log_name + "' ended: " + status.describe());
  end_session();
}

bool ChildInvoker::ready() const { return session_ != nullptr && !fatal_ && !cancelled_; }

void ChildInvoker::cancel() {
  cancelled_ = true;
  {
    std::lock_guard<std::mutex> lock(inbox_->mutex);
    inbox_->cancelled = true;
  }
  inbox_->cv.notify_all();
  if (cancel_pipe_.write.valid()) (void)!::write(cancel_pipe_.write.get(), "x", 1);
}

StartupRequest startup_request(const RunnerOptions& runner, const std::string& extension_name,
                               std::string mode, std::string platform,
                               const std::optional<RegisteredFunction>& registration) {
  StartupRequest startup;
  startup.handler = runner.handler;
  startup.name = extension_name;
  startup.mode = std::move(mode);
  startup.version = kProtocolVersion;
  startup.platform = std::move(platform);
  if (!registration) return startup;
  startup.function_json = registration->body_json;
  const auto set = [&](const char* key, const std::string& value) {
    if (!value.empty()) startup.env[key] = value;
  };
  set("AWS_LAMBDA_FUNCTION_NAME", registration->name);
  set("AWS_LAMBDA_FUNCTION_VERSION", registration->version);
  set("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", runner.memory_size);
  set("EXTENSION_RUNNER_FUNCTION_HANDLER", registration->handler);
  set("EXTENSION_RUNNER_ACCOUNT_ID", registration->account_id);
  set("EXTENSION_RUNNER_HANDLER", runner.handler);
  set("EXTENSION_RUNNER_NAME", extension_name);
  return startup;
}

ChildInvokerOptions child_invoker_options(const RunnerOptions& runner, StartupRequest startup) {
  ChildInvokerOptions o;
  o.command = runner.command;
  o.log_name = startup.name.empty() ? std::string("child") : startup.name;
  o.startup = std::move(startup);
  o.startup_timeout_ms = runner.startup_timeout_ms;
  o.max_crashes = runner.max_crashes;
  o.max_message_bytes = runner.max_message_bytes;
  o.memory_size = runner.memory_size;
  o.working_dir = runner.working_dir;
  return o;
}

}  // namespace extension_runner
