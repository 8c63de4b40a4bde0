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

// Blocks SIGPIPE for this thread while it lives; on the way out consumes one raised meanwhile
// (unless it was blocked before, when it is not ours to take) and restores the mask.
class SigpipeBlocked {
 public:
  SigpipeBlocked() {
    sigemptyset(&pipe_set_);
    sigaddset(&pipe_set_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set_, &old_set_);
  }
  ~SigpipeBlocked() {
    if (sigismember(&old_set_, SIGPIPE) == 0) {
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        timespec zero{0, 0};
        sigtimedwait(&pipe_set_, nullptr, &zero);
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_set_, nullptr);
  }
  SigpipeBlocked(const SigpipeBlocked&) = delete;
  SigpipeBlocked& operator=(const SigpipeBlocked&) = delete;

 private:
  sigset_t pipe_set_{};
  sigset_t old_set_{};
};

}  // namespace

WriteOutcome write_line_until(int fd, const std::string& line, Clock::time_point deadline,
                              int cancel_fd) {
  SigpipeBlocked blocked;
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
    if (n < 0 && errno == EPIPE) return WriteOutcome::Closed;
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
