#pragma once
/**
 * @file runtime_connection.hpp
 * One runtime's keep-alive connection to the proxy: reads each request's head, then its body as
 * it arrives (Content-Length or chunked with trailers), and writes answers.
 *
 * Why a reader of our own and not cpp-httplib's server: Debian's cpp-httplib 0.11.4 answers a
 * chunked request that ends with trailer fields with 400 Bad Request (checked against the
 * library: its chunked reader wants the empty line right after the last chunk), and a streamed
 * Lambda response signals a mid-stream error in exactly those trailers
 * (`Lambda-Runtime-Function-Error-Type` / `-Error-Body`). Its fixed worker pool (8 threads) and
 * 5-request keep-alive limit also fit long-polling runtimes badly: each worker of a Managed
 * Instances runtime [LMI] holds one connection inside `/next`.
 */
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "extension_runner/core/fd.hpp"
#include "extension_runner/core/result.hpp"
#include "extension_runner/proxy/chunked.hpp"
#include "extension_runner/proxy/http_message.hpp"

namespace extension_runner {

/** A body read up to a limit: whole, or the first bytes of a longer one. */
struct BufferedBody {
  std::string bytes;
  bool complete = false;  ///< False: more than the limit; the rest is still to be read.
};

/**
 * Owns the socket. Used by one thread at a time, except shutdown(), which any thread may call
 * while the object lives (the server serialises it against destruction).
 */
class RuntimeConnection {
 public:
  /** The largest request head accepted (431 beyond); Lambda's own headers stay far below. */
  static constexpr size_t kMaxHeadBytes = 64 * 1024;

  explicit RuntimeConnection(Fd socket);
  RuntimeConnection(const RuntimeConnection&) = delete;
  RuntimeConnection& operator=(const RuntimeConnection&) = delete;

  /**
   * The next request's head. nullopt when the runtime closed the connection between requests.
   * Error InvalidInput for a head that is malformed (message starts "400 ") or too large
   * ("431 "); Io when the connection broke or was shut down.
   */
  Result<std::optional<RequestHead>> read_head();

  /**
   * Prepares to read the body of the request `head` (read_head's last): its framing, and a
   * `100 Continue` first when the runtime asked for one. InvalidInput for a framing the proxy
   * does not take (see request_body_framing).
   */
  Result<void> start_body(const RequestHead& head);

  /**
   * Up to `capacity` body bytes into `out`; 0 when the body has ended. Io when the runtime
   * disconnected in the middle of the body; InvalidInput when its chunked coding is broken.
   */
  Result<size_t> read_body(char* out, size_t capacity);

  /** Reads the body until it ends or exceeds `limit` bytes (then `complete` is false). */
  Result<BufferedBody> read_body_upto(size_t limit);

  /** Reads and drops the rest of the body (a `/next` GET should have none). */
  Result<void> discard_body();

  const BodyFraming& framing() const { return framing_; }
  /** The trailer fields of a chunked body, once read_body returned 0. */
  const HeaderList& trailers() const { return decoder_.trailers(); }
  bool body_ended() const { return body_ended_; }

  /** Writes every piece, in order, in as few system calls as possible. Io if the runtime is gone.
   */
  Result<void> write(std::initializer_list<std::string_view> pieces);

  /** From any thread: ends blocked and later reads and writes (stop). */
  void shutdown();

  /** Gives up the socket (for an answer that another owner writes). */
  int release() { return socket_.release(); }

 private:
  Result<size_t> fill();  ///< Appends what the socket has to buffer_; 0 at EOF.
  Result<size_t> read_chunked(char* out, size_t capacity);
  Result<size_t> read_length(char* out, size_t capacity);
  std::string_view buffered() const {
    return std::string_view(buffer_.data() + start_, end_ - start_);
  }
  void consume(size_t n);

  Fd socket_;
  /**
   * Bytes read but not yet used: [start_, end_). Its size is room already made (zeroed once,
   * then reused): growing a string to receive into zero-fills it, 64 KiB per read.
   */
  std::string buffer_;
  size_t start_ = 0;
  size_t end_ = 0;
  BodyFraming framing_;
  uint64_t length_left_ = 0;
  ChunkedDecoder decoder_;
  bool body_ended_ = true;
  bool continue_owed_ = false;
};

}  // namespace extension_runner
