#include "extension_runner/core/fd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <string>

namespace extension_runner {

void Fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Result<Pipe> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return io_error("pipe2");
  return Pipe{Fd(fds[0]), Fd(fds[1])};
}

Result<void> write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("write");
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return {};
}

Result<void> write_line(int fd, std::string_view line) {
  static std::mutex mutex;
  std::string text;
  text.reserve(line.size() + 1);
  text.append(line).push_back('\n');
  std::lock_guard<std::mutex> lock(mutex);
  return write_all(fd, text.data(), text.size());
}

}  // namespace extension_runner
