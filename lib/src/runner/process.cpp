#include "extension_runner/runner/process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>

extern char** environ;

namespace extension_runner {
namespace {

// Linux's default unprivileged ceiling (/proc/sys/fs/pipe-max-size).
constexpr int kRequestPipeBytes = 1 << 20;

// A request line can carry a 1 MiB (or larger) payload: through the default 64 KiB pipe it is
// sixteen write-wake-read rounds between host and child, each a context switch. The kernel
// holds pages only for bytes not yet read, so a wider pipe costs no memory while it is empty.
// Best effort: where the limit is lower, or the user's pipe pages are spent, the default stays.
void widen_request_pipe(int fd) {
#ifdef F_SETPIPE_SZ
  (void)::fcntl(fd, F_SETPIPE_SZ, kRequestPipeBytes);
#else
  (void)fd;
#endif
}

// Process groups of live children, for a signal handler to end them: lock-free slots
// (0 = free) because a handler may not take a lock.
constexpr size_t kGroupSlots = 64;

std::atomic<pid_t> g_groups[kGroupSlots];

void remember_group(pid_t pgid) {
  for (auto& slot : g_groups) {
    pid_t free = 0;
    if (slot.compare_exchange_strong(free, pgid)) return;
  }
}

void forget_group(pid_t pgid) {
  for (auto& slot : g_groups) {
    pid_t expected = pgid;
    if (slot.compare_exchange_strong(expected, 0)) return;
  }
}

extern "C" void end_children_and_die(int sig) {
  const int saved = errno;
  for (auto& slot : g_groups) {
    const pid_t pgid = slot.load();
    if (pgid > 0) ::kill(-pgid, SIGKILL);
  }
  errno = saved;
  // SA_RESETHAND restored the default action; the signal is delivered again on return.
  ::raise(sig);
}

ExitStatus decode(int status) {
  ExitStatus s;
  if (WIFSIGNALED(status)) {
    s.signaled = true;
    s.code = WTERMSIG(status);
  } else {
    s.code = WEXITSTATUS(status);
  }
  return s;
}

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  return -1;
#endif
}

// Runs in the forked child: only async-signal-safe calls from here on.
[[noreturn]] void exec_child(const SpawnOptions& options, char* const* argv, char* const* envp,
                             int in_fd, int out_fd, int err_fd, int exec_err_fd, pid_t parent) {
  if (options.die_with_parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // parent died before prctl took effect
  }
  ::setpgid(0, 0);
  // The host may block or ignore signals (a SIGPIPE-ignoring server, a signalfd thread); the
  // child must start with the defaults.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD}) ::signal(sig, SIG_DFL);
  // Copied first: share_fd may be one of the stdio descriptors replaced just below.
  const int shared = options.share_fd >= 0 ? ::fcntl(options.share_fd, F_DUPFD_CLOEXEC, 10) : -1;
  if (in_fd >= 0) ::dup2(in_fd, STDIN_FILENO);
  if (out_fd >= 0) ::dup2(out_fd, STDOUT_FILENO);
  if (err_fd >= 0) ::dup2(err_fd, STDERR_FILENO);
  if (shared >= 0) {
    if (exec_err_fd == kSharedChildFd) exec_err_fd = ::fcntl(exec_err_fd, F_DUPFD_CLOEXEC, 10);
    ::dup2(shared, kSharedChildFd);  // the copy drops FD_CLOEXEC: it survives exec
  }
  // Sockets opened by libcurl or the listener may lack O_CLOEXEC: close everything else.
  const long max_fd = ::sysconf(_SC_OPEN_MAX);
  for (int fd = 3; fd < (max_fd > 0 && max_fd < 65536 ? max_fd : 65536); ++fd) {
    if (fd != exec_err_fd && !(shared >= 0 && fd == kSharedChildFd)) ::close(fd);
  }
  if (!options.working_dir.empty() && ::chdir(options.working_dir.c_str()) != 0) {
    const int e = errno;
    (void)!::write(exec_err_fd, &e, sizeof e);
    ::_exit(127);
  }
  ::execvpe(argv[0], argv, envp);
  const int e = errno;
  (void)!::write(exec_err_fd, &e, sizeof e);
  ::_exit(127);
}

}  // namespace

std::string ExitStatus::describe() const {
  if (signaled) {
    const char* name = ::strsignal(code);
    return "signal " + std::to_string(code) + " (" + (name ? name : "?") + ")";
  }
  return "exit " + std::to_string(code);
}

std::vector<std::string> shell_argv(const std::string& command) {
  return {"/bin/sh", "-c", command};
}

Result<ChildProcess> ChildProcess::spawn(const SpawnOptions& options) {
  if (options.argv.empty()) return make_error(ErrorKind::InvalidInput, "spawn: empty argv");
  // A host that writes to a child's pipe must see EPIPE when the child is gone, not die of
  // SIGPIPE. The child gets the default disposition back before exec.
  static std::once_flag ignore_sigpipe;
  std::call_once(ignore_sigpipe, [] { ::signal(SIGPIPE, SIG_IGN); });

  // Everything the child needs is built before fork: no allocation after it.
  std::vector<std::string> env_strings;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string entry(*e);
    const std::string key = entry.substr(0, entry.find('='));
    bool drop = options.set_env.count(key) > 0;
    for (const auto& u : options.unset_env) drop = drop || u == key;
    if (!drop) env_strings.push_back(std::move(entry));
  }
  for (const auto& [k, v] : options.set_env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings = options.argv;
  std::vector<char*> argv;
  argv.reserve(argv_strings.size() + 1);
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  Pipe in, out, err;
  if (options.pipe_stdin) {
    auto p = make_pipe();
    if (!p) return p.error();
    in = std::move(*p);
    widen_request_pipe(in.write.get());
  } else {
    in.read = Fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  }
  if (options.pipe_stdout) {
    auto p = make_pipe();
    if (!p) return p.error();
    out = std::move(*p);
  }
  if (options.pipe_stderr) {
    auto p = make_pipe();
    if (!p) return p.error();
    err = std::move(*p);
  }
  auto exec_status = make_pipe();
  if (!exec_status) return exec_status.error();

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return io_error("fork");
  if (pid == 0) {
    exec_child(options, argv.data(), envp.data(), in.read.get(), out.write.get(), err.write.get(),
               exec_status->write.get(), parent);
  }
  // Also set the group from the parent so signal_group works even before the child runs.
  ::setpgid(pid, pid);
  remember_group(pid);

  ChildProcess child;
  child.pid_ = pid;
  child.pidfd_ = Fd(open_pidfd(pid));
  exec_status->write.reset();
  int exec_errno = 0;
  ssize_t n;
  do {
    n = ::read(exec_status->read.get(), &exec_errno, sizeof exec_errno);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof exec_errno)) {
    child.wait();
    return make_error(ErrorKind::Io,
                      "cannot start '" + options.argv[0] + "': " + std::strerror(exec_errno));
  }
  child.stdin_ = std::move(in.write);
  child.stdout_ = std::move(out.read);
  child.stderr_ = std::move(err.read);
  return child;
}

ChildProcess::~ChildProcess() { kill_and_reap(); }

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(other.pid_),
      pidfd_(std::move(other.pidfd_)),
      stdin_(std::move(other.stdin_)),
      stdout_(std::move(other.stdout_)),
      stderr_(std::move(other.stderr_)),
      status_(other.status_) {
  other.pid_ = -1;
}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    kill_and_reap();
    pid_ = other.pid_;
    pidfd_ = std::move(other.pidfd_);
    stdin_ = std::move(other.stdin_);
    stdout_ = std::move(other.stdout_);
    stderr_ = std::move(other.stderr_);
    status_ = other.status_;
    other.pid_ = -1;
  }
  return *this;
}

void ChildProcess::kill_and_reap() {
  if (pid_ > 0 && !status_) {
    signal_group(SIGKILL);
    wait();
  }
  pid_ = -1;
}

void ChildProcess::signal_group(int sig) const {
  if (pid_ <= 0 || status_) return;
  if (::kill(-pid_, sig) != 0) ::kill(pid_, sig);
}

std::optional<ExitStatus> ChildProcess::try_wait() {
  if (status_) return status_;
  if (pid_ <= 0) return std::nullopt;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    status_ = decode(status);
    // The leader is gone; members of its group (e.g. a shell's grandchildren) are not: end them.
    ::kill(-pid_, SIGKILL);
    forget_group(pid_);
  } else if (r < 0 && errno == ECHILD) {
    status_ = ExitStatus{true, SIGKILL};  // reaped elsewhere; treat as gone
    forget_group(pid_);
  }
  return status_;
}

std::optional<ExitStatus> ChildProcess::wait_for(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (auto s = try_wait()) return s;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    if (pidfd_.valid()) {
      pollfd p{pidfd_.get(), POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(left.count()));
    } else {
      // No pidfd (old kernel, emulator): a short poll interval bounds the latency.
      std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(5)));
    }
  }
}

ExitStatus ChildProcess::wait() {
  if (status_) return *status_;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  status_ = r == pid_ ? decode(status) : ExitStatus{true, SIGKILL};
  ::kill(-pid_, SIGKILL);
  forget_group(pid_);
  return *status_;
}

ExitStatus ChildProcess::terminate(std::chrono::milliseconds budget) {
  stdin_.reset();
  if (auto s = wait_for(budget / 2)) return *s;
  signal_group(SIGTERM);
  if (auto s = wait_for(budget / 3)) return *s;
  signal_group(SIGKILL);
  return wait();
}

void end_children_on_termination_signals() {
  struct sigaction action {};
  action.sa_handler = end_children_and_die;
  sigemptyset(&action.sa_mask);
  action.sa_flags = static_cast<int>(SA_RESETHAND);
  for (int sig : {SIGTERM, SIGINT}) ::sigaction(sig, &action, nullptr);
}

long peak_rss_kb(pid_t pid) {
  // One open/read/close: /proc/<pid>/status is ~1.5 kB and VmHWM sits in its first half.
  char path[32];
  std::snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(pid));
  Fd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return 0;
  char text[4096];
  ssize_t n;
  do {
    n = ::read(fd.get(), text, sizeof text - 1);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return 0;
  text[n] = '\0';
  const char* hwm = std::strstr(text, "\nVmHWM:");
  return hwm == nullptr ? 0 : std::strtol(hwm + 7, nullptr, 10);
}

long group_peak_rss_kb(pid_t pgid) {
  std::vector<pid_t> members;
  return group_peak_rss_kb(pgid, members);
}

long group_peak_rss_kb(pid_t pgid, std::vector<pid_t>& members) {
  members.clear();
  if (pgid <= 0) return 0;
  std::unique_ptr<DIR, int (*)(DIR*)> proc(::opendir("/proc"), ::closedir);
  if (!proc) {
    members.push_back(pgid);
    return peak_rss_kb(pgid);
  }
  long total = 0;
  while (const dirent* entry = ::readdir(proc.get())) {
    if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
    const auto pid = static_cast<pid_t>(std::strtol(entry->d_name, nullptr, 10));
    // getpgid is one syscall, far cheaper than reading /proc/<pid>/stat for every process.
    if (::getpgid(pid) == pgid) {
      members.push_back(pid);
      total += peak_rss_kb(pid);
    }
  }
  return total;
}

GroupPeakRss::GroupPeakRss(std::chrono::milliseconds rescan) : rescan_(rescan) {}

long GroupPeakRss::measure(pid_t pgid) {
  const auto now = std::chrono::steady_clock::now();
  if (pgid != pgid_ || members_.empty() || now - scanned_ >= rescan_) {
    pgid_ = pgid;
    scanned_ = now;
    return group_peak_rss_kb(pgid, members_);
  }
  long total = 0;
  for (auto it = members_.begin(); it != members_.end();) {
    // A pid that left the group (or was reused outside it) no longer counts.
    const long kb = ::getpgid(*it) == pgid ? peak_rss_kb(*it) : 0;
    if (kb == 0) {
      it = members_.erase(it);
      continue;
    }
    total += kb;
    ++it;
  }
  return total;
}

}  // namespace extension_runner
