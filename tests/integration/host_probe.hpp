#pragma once
// Test support: what /proc says about a process (fds, RSS, whether it is gone) and the host's
// telemetry counters line.
#include <dirent.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string>

namespace test_support {

/** Open fds and memory of a process at one moment. */
struct ProcSample {
  int invoke = 0;    ///< What the caller was at (e.g. the invoke count).
  int fds = 0;       ///< Entries of /proc/<pid>/fd.
  long rss_kb = 0;   ///< VmRSS.
  long peak_kb = 0;  ///< VmHWM.
};

inline ProcSample proc_sample(pid_t pid, int invoke = 0) {
  ProcSample s;
  s.invoke = invoke;
  if (DIR* dir = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (dirent* e = ::readdir(dir)) s.fds += e->d_name[0] != '.' ? 1 : 0;
    ::closedir(dir);
  }
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kb = std::strtol(line.c_str() + 6, nullptr, 10);
    if (line.rfind("VmHWM:", 0) == 0) s.peak_kb = std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return s;
}

/**
 * Waits (bounded) until `pid` has exited; a SIGKILL is delivered asynchronously. True when it
 * is gone: a pidfd becomes readable once the process is a zombie; no such pid, no process.
 */
inline bool process_gone(pid_t pid, int timeout_ms = 10000) {
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return errno == ESRCH;
  pollfd p{fd, POLLIN, 0};
  const bool dead = ::poll(&p, 1, timeout_ms) == 1;
  ::close(fd);
  return dead;
}

/** From the host's last "telemetry: received=N delivered=N …" log line, `key`'s value or -1. */
inline long telemetry_counter(const std::string& log, const std::string& key) {
  const auto line = log.rfind("telemetry: received=");
  if (line == std::string::npos) return -1;
  const auto at = log.find(" " + key + "=", line > 0 ? line - 1 : 0);
  if (at == std::string::npos) return -1;
  return std::strtol(log.c_str() + at + key.size() + 2, nullptr, 10);
}

}  // namespace test_support
