#include "extension_runner/runner/line_reader.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

namespace extension_runner {
namespace {
constexpr size_t kChunk = size_t{64} * 1024;
// A buffer that once held a big (but legal) line is released rather than kept at its peak.
constexpr size_t kKeepCapacity = size_t{1024} * 1024;
}  // namespace

LineReader::LineReader(int fd, size_t max_line_bytes, int cancel_fd)
    : fd_(fd), cancel_fd_(cancel_fd), max_(max_line_bytes) {}

void LineReader::compact() {
  if (head_ == 0) return;
  buffer_.erase(0, head_);
  scan_ -= head_;
  head_ = 0;
  if (buffer_.empty() && buffer_.capacity() > kKeepCapacity) std::string().swap(buffer_);
}

ReadLine LineReader::next() { return next(std::chrono::steady_clock::time_point::max()); }

ReadLine LineReader::next(std::chrono::steady_clock::time_point deadline) {
  while (true) {
    if (discarding_) {
      const auto pos = buffer_.find('\n', head_);
      if (pos == std::string::npos) {
        buffer_.clear();
        head_ = scan_ = 0;
      } else {
        head_ = scan_ = pos + 1;
        discarding_ = false;
        continue;
      }
    } else {
      const auto pos = buffer_.find('\n', scan_);
      if (pos != std::string::npos) {
        ReadLine out;
        const size_t length = pos - head_;
        if (length > max_) {
          out.kind = ReadLine::Kind::TooLong;
          out.text = buffer_.substr(head_, max_);
          out.size = length;
        } else {
          out.kind = ReadLine::Kind::Line;
          out.text = buffer_.substr(head_, length);
        }
        head_ = scan_ = pos + 1;
        if (head_ == buffer_.size()) compact();
        return out;
      }
      scan_ = buffer_.size();
      if (buffer_.size() - head_ > max_) {
        ReadLine out{ReadLine::Kind::TooLong, buffer_.substr(head_, max_), buffer_.size() - head_};
        std::string().swap(buffer_);
        head_ = scan_ = 0;
        discarding_ = true;
        return out;
      }
    }
    if (eof_) {
      if (!discarding_ && head_ < buffer_.size()) {
        ReadLine out{ReadLine::Kind::Line, buffer_.substr(head_), 0};
        std::string().swap(buffer_);
        head_ = scan_ = 0;
        return out;
      }
      return ReadLine{ReadLine::Kind::Eof, "", 0};
    }
    compact();
    ReadLine filled = fill(deadline);
    if (filled.kind != ReadLine::Kind::Line) return filled;
  }
}

ReadLine LineReader::fill(std::chrono::steady_clock::time_point deadline) {
  using Clock = std::chrono::steady_clock;
  if (deadline == Clock::time_point::min()) return ReadLine{ReadLine::Kind::TimedOut, "", 0};
  pollfd fds[2] = {{fd_, POLLIN, 0}, {cancel_fd_, POLLIN, 0}};
  const nfds_t count = cancel_fd_ >= 0 ? 2 : 1;
  bool first = true;
  while (true) {
    int timeout = -1;
    if (deadline != Clock::time_point::max()) {
      const auto now = Clock::now();
      if (deadline <= now && !first) return ReadLine{ReadLine::Kind::TimedOut, "", 0};
      // Rounded up so a wait never ends just before the deadline (a past one polls without
      // waiting); capped to stay in an int.
      const auto left = deadline <= now
                            ? std::chrono::milliseconds(0)
                            : std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
      timeout = static_cast<int>(std::min<int64_t>(left.count(), 60000));
    }
    first = false;
    const int r = ::poll(fds, count, timeout);
    if (r < 0) {
      if (errno == EINTR) continue;
      return ReadLine{ReadLine::Kind::Error, std::string("poll: ") + std::strerror(errno), 0};
    }
    if (count == 2 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      return ReadLine{ReadLine::Kind::Cancelled, "", 0};
    }
    if (fds[0].revents != 0) break;
  }
  // Read into an uninitialised chunk and append what arrived: resizing the string first would
  // zero 64 KiB per read, which profiling showed to cost more than everything else per reply.
  char chunk[kChunk];
  ssize_t n;
  do {
    n = ::read(fd_, chunk, kChunk);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    const int e = errno;
    if (e == EAGAIN) return ReadLine{ReadLine::Kind::Line, "", 0};
    return ReadLine{ReadLine::Kind::Error, std::string("read: ") + std::strerror(e), 0};
  }
  buffer_.append(chunk, static_cast<size_t>(n));
  if (n == 0) eof_ = true;
  return ReadLine{ReadLine::Kind::Line, "", 0};
}

}  // namespace extension_runner
