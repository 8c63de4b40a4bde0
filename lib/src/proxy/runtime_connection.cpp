#include "extension_runner/proxy/runtime_connection.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace extension_runner {
namespace {

// Reads ask the kernel for this much at a time: a few syscalls for a 6 MiB body, little memory
// per connection when idle (the buffer shrinks back between requests).
constexpr size_t kReadSize = 64 * 1024;

Error io_error(const char* what) {
  return make_error(ErrorKind::Io, std::string(what) + ": " + std::strerror(errno));
}

Error disconnected() {
  return make_error(ErrorKind::Io, "the runtime closed its connection in the middle of the body");
}

}  // namespace

RuntimeConnection::RuntimeConnection(Fd socket) : socket_(std::move(socket)) {}

void RuntimeConnection::shutdown() { ::shutdown(socket_.get(), SHUT_RDWR); }

Result<size_t> RuntimeConnection::fill() {
  if (start_ > 0 && start_ == end_) start_ = end_ = 0;
  if (buffer_.size() - end_ < kReadSize) buffer_.resize(end_ + kReadSize);
  ssize_t n;
  do {
    n = ::recv(socket_.get(), buffer_.data() + end_, buffer_.size() - end_, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return io_error("reading from the runtime");
  end_ += static_cast<size_t>(n);
  return static_cast<size_t>(n);
}

void RuntimeConnection::consume(size_t n) {
  start_ += n;
  if (start_ == end_) start_ = end_ = 0;
}

Result<std::optional<RequestHead>> RuntimeConnection::read_head() {
  if (!body_ended_) {
    auto drained = discard_body();
    if (!drained.ok()) return drained.error();
  }
  if (buffer_.size() > 4 * kReadSize && start_ == end_) {
    std::string().swap(buffer_);
    start_ = end_ = 0;
  }
  while (true) {
    auto parse = parse_request_head(buffered(), kMaxHeadBytes);
    switch (parse.status) {
      case HeadStatus::Complete:
        consume(parse.consumed);
        return std::optional<RequestHead>(std::move(parse.head));
      case HeadStatus::Malformed:
        return make_error(ErrorKind::InvalidInput, "400 " + parse.reason);
      case HeadStatus::TooLarge:
        return make_error(ErrorKind::InvalidInput, "431 request head over 64 KiB");
      case HeadStatus::NeedMore:
        break;
    }
    const bool idle = buffered().empty();
    auto n = fill();
    if (!n.ok()) return n.error();
    if (n.value() == 0) {
      if (idle) return std::optional<RequestHead>();
      return make_error(ErrorKind::Io,
                        "the runtime closed its connection in the middle of a request head");
    }
  }
}

Result<void> RuntimeConnection::start_body(const RequestHead& head) {
  auto framing = request_body_framing(head.headers);
  if (!framing.ok()) return framing.error();
  framing_ = framing.value();
  length_left_ = framing_.length;
  decoder_ = ChunkedDecoder();
  body_ended_ = framing_.kind == BodyFraming::Kind::None;
  continue_owed_ = !body_ended_ && expects_continue(head);
  return {};
}

Result<size_t> RuntimeConnection::read_body(char* out, size_t capacity) {
  if (body_ended_ || capacity == 0) return size_t{0};
  if (continue_owed_) {
    continue_owed_ = false;
    auto sent = write({"HTTP/1.1 100 Continue\r\n\r\n"});
    if (!sent.ok()) return sent.error();
  }
  return framing_.kind == BodyFraming::Kind::Chunked ? read_chunked(out, capacity)
                                                     : read_length(out, capacity);
}

Result<size_t> RuntimeConnection::read_length(char* out, size_t capacity) {
  const auto want = static_cast<size_t>(std::min<uint64_t>(capacity, length_left_));
  size_t got = std::min(want, buffered().size());
  if (got > 0) {
    std::memcpy(out, buffered().data(), got);
    consume(got);
  } else {
    // Nothing buffered: straight into the caller's memory, no copy.
    ssize_t n;
    do {
      n = ::recv(socket_.get(), out, want, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return io_error("reading the body from the runtime");
    if (n == 0) return disconnected();
    got = static_cast<size_t>(n);
  }
  length_left_ -= got;
  body_ended_ = length_left_ == 0;
  return got;
}

Result<size_t> RuntimeConnection::read_chunked(char* out, size_t capacity) {
  while (true) {
    const ChunkStep step = decoder_.step(buffered(), capacity);
    // The data is a view into buffer_: copied before consume(), after which fill() may
    // overwrite it.
    if (step.status == ChunkStatus::Data) std::memcpy(out, step.data.data(), step.data.size());
    consume(step.consumed);
    switch (step.status) {
      case ChunkStatus::Data:
        return step.data.size();
      case ChunkStatus::Done:
        body_ended_ = true;
        return size_t{0};
      case ChunkStatus::Malformed:
        return make_error(ErrorKind::InvalidInput, "the runtime's chunked body is malformed");
      case ChunkStatus::NeedMore:
        break;
    }
    auto n = fill();
    if (!n.ok()) return n.error();
    if (n.value() == 0) return disconnected();
  }
}

Result<BufferedBody> RuntimeConnection::read_body_upto(size_t limit) {
  BufferedBody body;
  if (framing_.kind == BodyFraming::Kind::Length) {
    // The size is known: one allocation, and the socket reads straight into it.
    body.bytes.resize(static_cast<size_t>(std::min<uint64_t>(framing_.length, limit + 1)));
    size_t got = 0;
    while (got < body.bytes.size()) {
      auto n = read_body(body.bytes.data() + got, body.bytes.size() - got);
      if (!n.ok()) return n.error();
      got += n.value();
    }
  } else {
    std::vector<char> piece(kReadSize);
    while (!body_ended_ && body.bytes.size() <= limit) {
      auto n = read_body(piece.data(), piece.size());
      if (!n.ok()) return n.error();
      body.bytes.append(piece.data(), n.value());
    }
  }
  body.complete = body_ended_ && body.bytes.size() <= limit;
  return body;
}

Result<void> RuntimeConnection::discard_body() {
  char sink[16 * 1024];
  while (!body_ended_) {
    auto n = read_body(sink, sizeof sink);
    if (!n.ok()) return n.error();
  }
  return {};
}

Result<void> RuntimeConnection::write(std::initializer_list<std::string_view> pieces) {
  std::vector<iovec> iov;
  iov.reserve(pieces.size());
  for (std::string_view piece : pieces) {
    if (!piece.empty()) iov.push_back({const_cast<char*>(piece.data()), piece.size()});
  }
  size_t first = 0;
  while (first < iov.size()) {
    msghdr message{};
    message.msg_iov = iov.data() + first;
    message.msg_iovlen = iov.size() - first;
    // MSG_NOSIGNAL: a runtime that went away is an Io error here, not a SIGPIPE.
    const ssize_t n = ::sendmsg(socket_.get(), &message, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("writing to the runtime");
    auto left = static_cast<size_t>(n);
    while (first < iov.size() && left >= iov[first].iov_len) left -= iov[first++].iov_len;
    if (left > 0) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return {};
}

}  // namespace extension_runner
