#include "extension_runner/runner/line_writer.hpp"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

namespace extension_runner {
namespace {

using Clock = std::chrono::steady_clock;

// SIGPIPE stays blocked on a thread once one of its writes blocked it: a per-write block and
// restore cost two or three system calls on every request line. Whether it was blocked before
// we first touched the mask decides whether a pending one is ours to consume.
struct ThreadSigpipe {
  bool blocked_here = false;  ///< This thread's SIGPIPE is blocked (by us or before us).
  bool ours = false;          ///< We blocked it: a pending SIGPIPE came from our write.
};

thread_local ThreadSigpipe tls_sigpipe;

sigset_t sigpipe_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  return set;
}

void block_sigpipe() {
  if (tls_sigpipe.blocked_here) return;
  const sigset_t set = sigpipe_set();
  sigset_t old;
  if (pthread_sigmask(SIG_BLOCK, &set, &old) != 0) return;
  tls_sigpipe.blocked_here = true;
  tls_sigpipe.ours = sigismember(&old, SIGPIPE) == 0;
}

// After EPIPE only: the signal our write raised is pending on this thread; take it, so that no
// later unblocking delivers it. One call, which fails with EAGAIN when nothing is pending.
void consume_sigpipe() {
  if (!tls_sigpipe.ours) return;
  const sigset_t set = sigpipe_set();
  timespec zero{0, 0};
  while (sigtimedwait(&set, nullptr, &zero) < 0 && errno == EINTR) {
  }
}

}  // namespace

WriteOutcome write_line_until(int fd, const std::string& line, Clock::time_point deadline,
                              int cancel_fd) {
  block_sigpipe();
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n > 0) {
      p += n;
      left -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EPIPE) {
      consume_sigpipe();
      return WriteOutcome::Closed;
    }
    if (n < 0 && errno != EAGAIN) return WriteOutcome::Failed;
    const int64_t wait =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (wait <= 0) return WriteOutcome::TimedOut;
    pollfd fds[2] = {{fd, POLLOUT, 0}, {cancel_fd, POLLIN, 0}};
    if (::poll(fds, 2, static_cast<int>(std::min<int64_t>(wait, 60000))) < 0 && errno != EINTR) {
      return WriteOutcome::Failed;
    }
    if ((fds[1].revents & POLLIN) != 0) return WriteOutcome::Cancelled;
  }
  return WriteOutcome::Ok;
}

}  // namespace extension_runner
