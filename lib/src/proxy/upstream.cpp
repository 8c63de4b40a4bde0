#include "extension_runner/proxy/upstream.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <initializer_list>

#include "extension_runner/proxy/chunked.hpp"

namespace extension_runner {
namespace {

// Receive and body-read size: a 6 MiB body in ~100 steps, and a 1 KiB exchange in one.
constexpr size_t kPiece = 64 * 1024;
// The platform's heads are a few hundred bytes; a peer sending more is not the Runtime API.
constexpr size_t kMaxHeadBytes = 64 * 1024;

/** What went wrong with the socket, in words, with the errno. */
std::string errno_words(int err) {
  std::string words;
  switch (err) {
    case ECONNREFUSED:
      words = "connection refused";
      break;
    case ECONNRESET:
      words = "the connection was reset";
      break;
    case EPIPE:
      words = "the connection was closed while sending the request";
      break;
    case ETIMEDOUT:
      words = "the connection timed out";
      break;
    case ENETUNREACH:
    case EHOSTUNREACH:
      words = "the address is unreachable";
      break;
    default:
      words = std::string("the connection failed: ") + std::strerror(err);
      break;
  }
  return words + " (errno " + std::to_string(err) + ")";
}

bool is_chunked(const UpstreamRequest& request) {
  return request.body == UpstreamRequest::Body::Streamed && !request.length;
}

/** The request line, Host, the caller's fields and the framing of the body, then CRLF. */
std::string request_head(const UpstreamRequest& request, const HostPort& upstream) {
  std::string head;
  head.reserve(256);
  head += request.method;
  head += ' ';
  head += request.target;
  head += " HTTP/1.1\r\nHost: ";
  head += upstream.to_string();
  head += "\r\n";
  append_field_lines(head, request.headers);
  switch (request.body) {
    case UpstreamRequest::Body::None:
      // A POST says it has no body; a GET says nothing (RFC 9110 §8.6).
      if (request.method == "POST") head += "Content-Length: 0\r\n";
      break;
    case UpstreamRequest::Body::Buffered:
      head += "Content-Length: " + std::to_string(request.buffered.size()) + "\r\n";
      break;
    case UpstreamRequest::Body::Streamed:
      if (request.length) {
        head += "Content-Length: " + std::to_string(*request.length) + "\r\n";
      } else {
        head += "Transfer-Encoding: chunked\r\n";
        if (request.announced_trailers != nullptr && !request.announced_trailers->empty()) {
          head += "Trailer: " + *request.announced_trailers + "\r\n";
        }
      }
      break;
  }
  head += "\r\n";
  return head;
}

}  // namespace

/** Bytes received and not yet used: a window [begin, end) of one growing allocation. */
class UpstreamClient::Buffer {
 public:
  std::string_view view() const { return {data_.get() + begin_, end_ - begin_}; }
  bool empty() const { return begin_ == end_; }
  void consume(size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  void clear() { begin_ = end_ = 0; }
  /** Room for at least kPiece more bytes at the end; the window moves to the front first. */
  std::pair<char*, size_t> space() {
    if (begin_ > 0) {
      std::memmove(data_.get(), data_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (capacity_ - end_ < kPiece) {
      const size_t grown = std::max(capacity_ * 2, end_ + kPiece);
      auto bigger = std::make_unique<char[]>(grown);
      if (end_ > 0) std::memcpy(bigger.get(), data_.get(), end_);  // data_ is null at first
      data_ = std::move(bigger);
      capacity_ = grown;
    }
    return {data_.get() + end_, capacity_ - end_};
  }
  void commit(size_t n) { end_ += n; }

 private:
  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
};

/** One request and its answer on the client's connection. */
class UpstreamClient::Exchange {
 public:
  Exchange(UpstreamClient& client, const UpstreamRequest& request, ResponseSink& sink)
      : client_(client), request_(request), sink_(sink), buffer_(*client.buffer_) {}

  /** Sends the request, then relays the answer. */
  Result<void> run();

  /** The connection may carry the next request. */
  bool reusable() const { return reusable_; }
  /** It failed before any answer byte, with a body that can be sent again: worth a retry. */
  bool retryable() const { return connection_failed_ && !answer_started_ && !source_read_; }

 private:
  Result<void> send_request();
  Result<void> send_streamed(std::string head);
  Result<void> send_parts(std::initializer_list<std::string_view> parts);
  Result<void> receive();
  Result<ResponseHead> read_head();
  Result<void> read_length_body(uint64_t length);
  Result<void> read_chunked_body();
  Result<void> read_body_to_close();
  /** More bytes into the buffer; false at the end of the stream. */
  Result<bool> fill();
  Result<void> deliver(std::string_view data);
  Error connection_failure(const std::string& words);

  UpstreamClient& client_;
  const UpstreamRequest& request_;
  ResponseSink& sink_;
  Buffer& buffer_;
  bool answer_started_ = false;
  bool source_read_ = false;
  bool request_sent_ = false;
  bool connection_failed_ = false;
  bool reusable_ = false;
};

Error UpstreamClient::Exchange::connection_failure(const std::string& words) {
  connection_failed_ = true;
  return client_.unreachable(request_, words);
}

Result<void> UpstreamClient::Exchange::run() {
  auto sent = send_request();
  if (!sent.ok()) {
    if (!connection_failed_) return sent;  // the runtime's body broke off: nothing to wait for
    // The platform may have answered early (a 413 for an oversized body) and closed: relay that.
    auto answered = receive();
    if (answered.ok() || answer_started_) return answered;
    return sent;
  }
  request_sent_ = true;
  return receive();
}

Result<void> UpstreamClient::Exchange::send_request() {
  std::string head = request_head(request_, client_.upstream_);
  switch (request_.body) {
    case UpstreamRequest::Body::None:
      return send_parts({head});
    case UpstreamRequest::Body::Buffered:
      return send_parts({head, request_.buffered});
    case UpstreamRequest::Body::Streamed:
      break;
  }
  return send_streamed(std::move(head));
}

// The head goes out with the first piece of the body: one send for a body that fits in one.
Result<void> UpstreamClient::Exchange::send_streamed(std::string head) {
  const bool chunked = is_chunked(request_);
  auto piece = std::make_unique<char[]>(kPiece);
  uint64_t sent = 0;
  while (!request_.length || sent < *request_.length) {
    const size_t want =
        request_.length ? static_cast<size_t>(std::min<uint64_t>(kPiece, *request_.length - sent))
                        : kPiece;
    source_read_ = true;
    auto n = request_.source->read(piece.get(), want);
    // A chunked body can end early and say why in its trailers; one with a Content-Length can
    // only be cut off, which the platform sees as a truncated request.
    if (!n.ok() && !chunked) return n.error();
    if (!n.ok() || n.value() == 0) break;
    const std::string_view data(piece.get(), n.value());
    auto written = chunked ? send_parts({head, chunk_size_line(data.size()), data, "\r\n"})
                           : send_parts({head, data});
    if (!written.ok()) return written;
    head.clear();
    sent += data.size();
  }
  if (chunked) return send_parts({head, last_chunk(request_.source->trailers())});
  if (sent < request_.length.value_or(0)) {
    return make_error(ErrorKind::InvalidInput, "the runtime's body ended before its length");
  }
  return head.empty() ? Result<void>{} : send_parts({head});
}

Result<void> UpstreamClient::Exchange::send_parts(std::initializer_list<std::string_view> parts) {
  iovec vectors[4];
  size_t count = 0;
  for (std::string_view part : parts) {
    if (!part.empty() && count < 4)
      vectors[count++] = {const_cast<char*>(part.data()), part.size()};
  }
  iovec* next = vectors;
  while (count > 0) {
    msghdr message{};
    message.msg_iov = next;
    message.msg_iovlen = count;
    // MSG_NOSIGNAL: a closed connection is an error to report, not a SIGPIPE for the process.
    const ssize_t n = ::sendmsg(client_.socket_.get(), &message, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return connection_failure(errno_words(errno));
    }
    auto left = static_cast<size_t>(n);
    while (count > 0 && left >= next->iov_len) {
      left -= next->iov_len;
      ++next;
      --count;
    }
    if (count > 0) {
      next->iov_base = static_cast<char*>(next->iov_base) + left;
      next->iov_len -= left;
    }
  }
  return {};
}

Result<bool> UpstreamClient::Exchange::fill() {
  auto [space, room] = buffer_.space();
  while (true) {
    const ssize_t n = ::recv(client_.socket_.get(), space, room, 0);
    if (n > 0) {
      buffer_.commit(static_cast<size_t>(n));
      answer_started_ = true;
      return true;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    if (errno == ECONNRESET && !answer_started_) return false;  // closed, as seen by the sender
    return connection_failure(errno_words(errno));
  }
}

Result<void> UpstreamClient::Exchange::deliver(std::string_view data) {
  if (data.empty() || sink_.on_body(data)) return {};
  return make_error(ErrorKind::Io, "the runtime went away during the answer");
}

Result<ResponseHead> UpstreamClient::Exchange::read_head() {
  while (true) {
    ResponseHeadParse parse = parse_response_head(buffer_.view(), kMaxHeadBytes);
    switch (parse.status) {
      case HeadStatus::Complete:
        buffer_.consume(parse.consumed);
        // An interim answer (100 Continue); the real one follows.
        if (parse.head.status < 200) continue;
        return std::move(parse.head);
      case HeadStatus::Malformed:
        return connection_failure("the answer is not HTTP/1.1 (" + parse.reason + ")");
      case HeadStatus::TooLarge:
        return connection_failure("the answer's head is over " + std::to_string(kMaxHeadBytes) +
                                  " bytes");
      case HeadStatus::NeedMore:
        break;
    }
    auto more = fill();
    if (!more.ok()) return more.error();
    if (!more.value()) {
      return connection_failure(answer_started_
                                    ? "the connection closed in the middle of the answer"
                                    : "the connection closed without an answer");
    }
  }
}

Result<void> UpstreamClient::Exchange::receive() {
  auto head = read_head();
  if (!head.ok()) return head.error();
  const int status = head->status;
  const bool keep = keeps_alive(*head);
  const auto framing = request_.method == "HEAD" ? std::optional<BodyFraming>(BodyFraming{})
                                                 : response_body_framing(status, head->headers);
  if (!sink_.on_head(status, std::move(head->headers))) {
    return make_error(ErrorKind::Io, "the runtime went away during the answer");
  }
  Result<void> body;
  if (!framing) {
    body = read_body_to_close();
  } else if (framing->kind == BodyFraming::Kind::Length) {
    body = read_length_body(framing->length);
  } else if (framing->kind == BodyFraming::Kind::Chunked) {
    body = read_chunked_body();
  }
  if (!body.ok()) return body;
  // Anything after the answer is out of step with the requests: that connection is done.
  reusable_ = keep && framing && request_sent_ && buffer_.empty();
  return {};
}

Result<void> UpstreamClient::Exchange::read_length_body(uint64_t length) {
  while (length > 0) {
    if (buffer_.empty()) {
      auto more = fill();
      if (!more.ok()) return more.error();
      if (!more.value())
        return connection_failure("the connection closed in the middle of the answer");
    }
    const std::string_view data =
        buffer_.view().substr(0, std::min<uint64_t>(length, buffer_.view().size()));
    if (auto given = deliver(data); !given.ok()) return given;
    buffer_.consume(data.size());
    length -= data.size();
  }
  return {};
}

Result<void> UpstreamClient::Exchange::read_chunked_body() {
  ChunkedDecoder decoder;
  while (true) {
    const ChunkStep step = decoder.step(buffer_.view());
    if (step.status == ChunkStatus::Data) {
      if (auto given = deliver(step.data); !given.ok()) return given;
    }
    buffer_.consume(step.consumed);
    switch (step.status) {
      case ChunkStatus::Done:
        return {};  // the answer's trailer fields are not relayed (none on these paths)
      case ChunkStatus::Malformed:
        return connection_failure("the answer's chunked body is malformed");
      case ChunkStatus::Data:
        continue;
      case ChunkStatus::NeedMore:
        break;
    }
    auto more = fill();
    if (!more.ok()) return more.error();
    if (!more.value())
      return connection_failure("the connection closed in the middle of the answer");
  }
}

Result<void> UpstreamClient::Exchange::read_body_to_close() {
  while (true) {
    if (auto given = deliver(buffer_.view()); !given.ok()) return given;
    buffer_.clear();
    auto more = fill();
    if (!more.ok()) return more.error();
    if (!more.value()) return {};
  }
}

UpstreamClient::UpstreamClient(HostPort upstream, int64_t connect_timeout_ms)
    : upstream_(std::move(upstream)),
      connect_timeout_ms_(connect_timeout_ms),
      buffer_(std::make_unique<Buffer>()) {}

UpstreamClient::~UpstreamClient() = default;

void UpstreamClient::cancel() {
  std::lock_guard<std::mutex> lock(mutex_);
  cancelled_ = true;
  // Wakes a blocked send or receive (and a connect's poll) on the exchange's thread.
  if (live_fd_ >= 0) ::shutdown(live_fd_, SHUT_RDWR);
}

Error UpstreamClient::unreachable(const UpstreamRequest& request, const std::string& words) const {
  return make_error(ErrorKind::ApiUnreachable, request.method + " http://" + upstream_.to_string() +
                                                   request.target + ": " + words);
}

void UpstreamClient::disconnect() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    live_fd_ = -1;
  }
  socket_.reset();
  buffer_->clear();
}

bool UpstreamClient::idle_connection_closed() const {
  pollfd readable{socket_.get(), POLLIN, 0};
  return ::poll(&readable, 1, 0) != 0;
}

namespace {

/** Waits for a non-blocking connect; 0 when connected, else the errno (ETIMEDOUT past the limit).
 */
int finish_connect(int fd, int64_t timeout_ms) {
  pollfd writable{fd, POLLOUT, 0};
  int ready;
  do {
    ready = ::poll(&writable, 1, static_cast<int>(timeout_ms));
  } while (ready < 0 && errno == EINTR);
  if (ready < 0) return errno;
  if (ready == 0) return ETIMEDOUT;
  int error = 0;
  socklen_t length = sizeof error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return errno;
  return error;
}

}  // namespace

Result<void> UpstreamClient::connect(const UpstreamRequest& request) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (::getaddrinfo(upstream_.host.c_str(), std::to_string(upstream_.port).c_str(), &hints,
                    &found) != 0) {
    return unreachable(request, "the host name does not resolve");
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> addresses(found, ::freeaddrinfo);
  int failure = ECONNREFUSED;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    Fd socket(
        ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol));
    if (!socket.valid()) {
      failure = errno;
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cancelled_) return make_error(ErrorKind::Cancelled, "the proxy is stopping");
      live_fd_ = socket.get();
    }
    // Non-blocking only while connecting, so the connect timeout holds [CPP]; the exchange
    // itself blocks, one send and one receive.
    failure = ::connect(socket.get(), a->ai_addr, a->ai_addrlen) == 0 ? 0 : errno;
    if (failure == EINPROGRESS) failure = finish_connect(socket.get(), connect_timeout_ms_);
    if (failure == 0) {
      const int flags = ::fcntl(socket.get(), F_GETFL);
      ::fcntl(socket.get(), F_SETFL, flags & ~O_NONBLOCK);
      const int one = 1;
      // Small writes (a 202 answer, a chunk) must not wait for Nagle behind a delayed ACK.
      ::setsockopt(socket.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      // The connection stays up between requests; TCP keepalive notices a dead peer.
      ::setsockopt(socket.get(), SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
      socket_ = std::move(socket);
      buffer_->clear();
      return {};
    }
    std::lock_guard<std::mutex> lock(mutex_);
    live_fd_ = -1;
  }
  if (cancelled_) return make_error(ErrorKind::Cancelled, "the proxy is stopping");
  if (failure == ETIMEDOUT) {
    return unreachable(request, "no connection within " + std::to_string(connect_timeout_ms_) +
                                    " ms (the connect timeout)");
  }
  return unreachable(request, errno_words(failure));
}

Result<void> UpstreamClient::exchange(const UpstreamRequest& request, ResponseSink& sink) {
  if (cancelled_) return make_error(ErrorKind::Cancelled, "the proxy is stopping");
  // A streamed body cannot be sent twice, so its connection is checked before use (one poll);
  // any other request is simply sent again when a kept connection turns out to be closed.
  if (socket_.valid() && request.body == UpstreamRequest::Body::Streamed &&
      idle_connection_closed()) {
    disconnect();
  }
  for (int attempt = 0;; ++attempt) {
    const bool reused = socket_.valid();
    if (!reused) {
      if (auto connected = connect(request); !connected.ok()) return connected;
    }
    Exchange exchange(*this, request, sink);
    auto done = exchange.run();
    if (done.ok() && exchange.reusable()) return {};
    disconnect();
    if (done.ok()) return {};
    if (cancelled_) return make_error(ErrorKind::Cancelled, "the proxy is stopping");
    if (!(reused && attempt == 0 && exchange.retryable())) return done;
  }
}

}  // namespace extension_runner
