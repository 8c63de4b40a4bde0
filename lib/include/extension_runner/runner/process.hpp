#pragma once
/**
 * @file process.hpp
 * RAII owner of a child process (file descriptors: core/fd.hpp).
 *
 * Children are started with fork/exec into their own process group, with
 * `PR_SET_PDEATHSIG = SIGKILL` so none outlives the host (as mless does, [MLESS];
 * docs/references.md). Note: Linux delivers the death signal when the *thread* that forked exits,
 * so spawn from a thread that lives as long as the child should (the main thread, or a long-lived
 * worker).
 */
#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "extension_runner/core/fd.hpp"
#include "extension_runner/core/result.hpp"

namespace extension_runner {

/** How a child ended. */
struct ExitStatus {
  bool signaled = false;  ///< Killed by a signal (then `code` is the signal number).
  int code = 0;           ///< Exit code, or the signal number when `signaled`.
  /** `exit 3` / `signal 9 (Killed)`. */
  std::string describe() const;
  bool success() const { return !signaled && code == 0; }
};

/** What to start and how to wire its standard streams. */
struct SpawnOptions {
  std::vector<std::string> argv;               ///< argv[0] is looked up in PATH.
  std::map<std::string, std::string> set_env;  ///< Added to / overriding the inherited environment.
  std::vector<std::string> unset_env;          ///< Removed from the inherited environment.
  bool pipe_stdin = true;       ///< else inherits the host's stdin... replaced by /dev/null.
  bool pipe_stdout = true;      ///< else inherits the host's stdout.
  bool pipe_stderr = true;      ///< else inherits the host's stderr.
  bool die_with_parent = true;  ///< PR_SET_PDEATHSIG = SIGKILL.
  std::string working_dir;      ///< "" = inherit.
  /**
   * A descriptor of the host that the child gets as fd `kSharedChildFd` (3), taken before the
   * child's stdio is redirected, so `STDOUT_FILENO` means the host's own stdout. -1 = none.
   */
  int share_fd = -1;
};

/** The child's descriptor number for SpawnOptions::share_fd. */
inline constexpr int kSharedChildFd = 3;

/** `/bin/sh -c <command>` as SpawnOptions argv. */
std::vector<std::string> shell_argv(const std::string& command);

/**
 * Move-only owner of a running child process in its own process group.
 * Destruction SIGKILLs the group if the child has not been reaped, then reaps it: no orphans,
 * no zombies.
 */
class ChildProcess {
 public:
  /** Starts a child. An exec failure is reported as an Io error (exit 127 is not waited for). */
  static Result<ChildProcess> spawn(const SpawnOptions& options);

  ChildProcess() = default;
  ~ChildProcess();
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0 && !status_; }

  /** Pipe ends; invalid when not piped. The caller may move them out (e.g. to a reader thread). */
  Fd& stdin_fd() { return stdin_; }
  Fd& stdout_fd() { return stdout_; }
  Fd& stderr_fd() { return stderr_; }

  /** Sends `sig` to the child's whole process group. */
  void signal_group(int sig) const;

  /** Reaps without blocking; the status once the child has exited. */
  std::optional<ExitStatus> try_wait();
  /** Waits up to `timeout` for the child to exit (pidfd + poll, no busy loop). */
  std::optional<ExitStatus> wait_for(std::chrono::milliseconds timeout);
  /** Waits for the child to exit. */
  ExitStatus wait();

  /**
   * Ends the child politely, bounded by `budget`: close stdin, wait; SIGTERM the group, wait;
   * SIGKILL the group. Each phase gets a share of the budget.
   */
  ExitStatus terminate(std::chrono::milliseconds budget);

 private:
  void kill_and_reap();

  pid_t pid_ = -1;
  Fd pidfd_;
  Fd stdin_, stdout_, stderr_;
  std::optional<ExitStatus> status_;
};

/**
 * Makes SIGTERM and SIGINT first SIGKILL the process group of every live ChildProcess, then end
 * this process with the signal's default action (exit status: killed by that signal). Without
 * it only the direct children would go (PR_SET_PDEATHSIG); their own children would outlive the
 * host. For the Lambda mode: Lambda itself ends extensions with SHUTDOWN and then SIGKILL [EXT];
 * a signal comes from whoever else stops the process (a container runtime, a developer).
 */
void end_children_on_termination_signals();

/** Peak resident set size of a live process in kB (VmHWM from /proc), 0 if unknown. */
long peak_rss_kb(pid_t pid);

/**
 * Sum of the peak RSS (VmHWM) of every live process in process group `pgid`, in kB. A child
 * started as `/bin/sh -c "python3 …"` is a shell with the interpreter below it; measuring the
 * leader alone would report the shell.
 */
long group_peak_rss_kb(pid_t pgid);
/** As above, and lists the members found in `members` (replacing its contents). */
long group_peak_rss_kb(pid_t pgid, std::vector<pid_t>& members);

/**
 * group_peak_rss_kb for a reply on the hot path: the scan of /proc that finds the group's
 * members (one getpgid per process on the machine) runs at most once per `rescan`; in
 * between only the known members' VmHWM is read. A process that joins the group (a fork of
 * the child) is counted from the next rescan on, so it may be missed for up to `rescan`.
 */
class GroupPeakRss {
 public:
  explicit GroupPeakRss(std::chrono::milliseconds rescan = std::chrono::milliseconds(1000));
  /** Sum of VmHWM in kB over the live members of `pgid`; 0 if none is known. */
  long measure(pid_t pgid);

 private:
  pid_t pgid_ = -1;
  std::vector<pid_t> members_;
  std::chrono::steady_clock::time_point scanned_{};
  std::chrono::milliseconds rescan_;
};

}  // namespace extension_runner
