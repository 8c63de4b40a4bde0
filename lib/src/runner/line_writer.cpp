#include "extension_runner/runner/line_writer.hpp"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
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

WriteOutcome write_parts_until(int fd, const std::vector<std::string_view>& parts,
                               Clock::time_point deadline, int cancel_fd) {
  block_sigpipe();
  std::vector<iovec> pending;
  pending.reserve(parts.size());
  for (const auto part : parts) {
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-const-cast): writev only reads iov_base.
    if (!part.empty()) pending.push_back({const_cast<char*>(part.data()), part.size()});
  }
  size_t first = 0;  // the first piece not yet fully written
  while (first < pending.size()) {
    const int count = static_cast<int>(std::min<size_t>(pending.size() - first, IOV_MAX));
    const ssize_t n = ::writev(fd, pending.data() + first, count);
    if (n > 0) {
      auto written = static_cast<size_t>(n);
      while (first < pending.size() && written >= pending[first].iov_len) {
        written -= pending[first].iov_len;
        ++first;
      }
      if (written > 0) {
        pending[first].iov_base = static_cast<char*>(pending[first].iov_base) + written;
        pending[first].iov_len -= written;
      }
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

WriteOutcome write_line_until(int fd, const std::string& line, Clock::time_point deadline,
                              int cancel_fd) {
  return write_parts_until(fd, {line}, deadline, cancel_fd);
}

}  // namespace extension_runner
