#include "extension_runner/runner/line_reader.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
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

ReadLine LineReader::next() {
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
    ReadLine filled = fill();
    if (filled.kind != ReadLine::Kind::Line) return filled;
  }
}

ReadLine LineReader::fill() {
  pollfd fds[2] = {{fd_, POLLIN, 0}, {cancel_fd_, POLLIN, 0}};
  const nfds_t count = cancel_fd_ >= 0 ? 2 : 1;
  while (true) {
    const int r = ::poll(fds, count, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      return ReadLine{ReadLine::Kind::Error, std::string("poll: ") + std::strerror(errno), 0};
    }
    if (count == 2 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      return ReadLine{ReadLine::Kind::Cancelled, "", 0};
    }
    if (fds[0].revents != 0) break;
  }
  const size_t old_size = buffer_.size();
  buffer_.resize(old_size + kChunk);
  ssize_t n;
  do {
    n = ::read(fd_, &buffer_[old_size], kChunk);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    const int e = errno;
    buffer_.resize(old_size);
    if (e == EAGAIN) return ReadLine{ReadLine::Kind::Line, "", 0};
    return ReadLine{ReadLine::Kind::Error, std::string("read: ") + std::strerror(e), 0};
  }
  buffer_.resize(old_size + static_cast<size_t>(n));
  if (n == 0) eof_ = true;
  return ReadLine{ReadLine::Kind::Line, "", 0};
}

}  // namespace extension_runner
