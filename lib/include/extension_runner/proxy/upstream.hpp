#pragma once
/**
 * @file upstream.hpp
 * The proxy's client towards the real Runtime API: HTTP/1.1 on one kept-alive loopback socket,
 * read and written with the message code the proxy already uses on the runtime's side
 * (http_message.hpp, chunked.hpp). Request bodies are pulled from a source as they are sent
 * (chunked when the runtime sent chunked, its trailer fields after the last chunk), and the
 * answer is pushed to a sink as it arrives: a streamed response goes through chunk by chunk and
 * nothing is held whole unless the caller chooses to. Blocking calls on the caller's thread, so
 * an exchange costs one send and one receive in the common case; libcurl's multi loop spent
 * five more system calls per request on this path (docs/proxy.md, "Cost").
 */
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "extension_runner/core/fd.hpp"
#include "extension_runner/core/result.hpp"
#include "extension_runner/proxy/http_message.hpp"
#include "extension_runner/proxy/options.hpp"

namespace extension_runner {

/** A request body pulled piece by piece while the upload runs. */
class BodySource {
 public:
  virtual ~BodySource() = default;
  /** Up to `capacity` bytes into `out`; 0 = the body ended; Error = it broke. */
  virtual Result<size_t> read(char* out, size_t capacity) = 0;
  /** Trailer fields to send after the last chunk, asked once the body ended or broke. */
  virtual HeaderList trailers() = 0;
};

/** Where the answer goes as it arrives. */
class ResponseSink {
 public:
  virtual ~ResponseSink() = default;
  /** The final status line and fields (interim 1xx answers are skipped). false aborts. */
  virtual bool on_head(int status, HeaderList headers) = 0;
  /** Body bytes, decoded from the upstream's framing. false aborts. */
  virtual bool on_body(std::string_view data) = 0;
};

struct UpstreamRequest {
  std::string method = "GET";
  std::string target;  ///< Path and query, e.g. `/2018-06-01/runtime/invocation/next`.
  HeaderList headers;  ///< End-to-end fields; the client adds Host and the framing.
  enum class Body { None, Buffered, Streamed };
  Body body = Body::None;
  std::string_view buffered;     ///< Body::Buffered: sent with Content-Length.
  BodySource* source = nullptr;  ///< Body::Streamed.
  /** Body::Streamed: Content-Length when known, else `Transfer-Encoding: chunked` + trailers. */
  std::optional<uint64_t> length;
  /** Body::Streamed, chunked: the `Trailer` field to announce (the runtime's), or null. */
  const std::string* announced_trailers = nullptr;
};

/**
 * One connection to the Runtime API, kept open across requests (reopened when the platform
 * closed it); one thread at a time uses it, except cancel().
 */
class UpstreamClient {
 public:
  UpstreamClient(HostPort upstream, int64_t connect_timeout_ms);
  ~UpstreamClient();
  UpstreamClient(const UpstreamClient&) = delete;
  UpstreamClient& operator=(const UpstreamClient&) = delete;

  /**
   * Sends `request` and hands the answer to `sink` as it arrives; no limit on the total time
   * (`/next` blocks across sandbox freezes [EXT]). Any HTTP status is an answer; interim 1xx
   * answers are skipped. A kept connection the platform closed while idle is replaced: a
   * request without a streamed body is sent once more on a fresh connection when the old one
   * failed before any answer byte. Errors: ApiUnreachable when the exchange failed (message:
   * `GET http://127.0.0.1:9001/2018-06-01/runtime/invocation/next: connection refused
   * (errno 111)`), possibly after the sink got the head; Io when the sink refused the answer;
   * the source's own error when a body with a Content-Length broke off (a chunked one is ended
   * with the source's trailers instead, and the exchange goes on); Cancelled after cancel().
   */
  Result<void> exchange(const UpstreamRequest& request, ResponseSink& sink);

  /** From any thread: a running exchange fails at once, and so does every later one (stop). */
  void cancel();

  const HostPort& upstream() const { return upstream_; }

 private:
  class Exchange;
  class Buffer;
  Result<void> connect(const UpstreamRequest& request);
  void disconnect();
  /** An idle kept connection that is readable was closed by the platform (or is out of step). */
  bool idle_connection_closed() const;
  Error unreachable(const UpstreamRequest& request, const std::string& words) const;

  HostPort upstream_;
  int64_t connect_timeout_ms_;
  Fd socket_;
  std::unique_ptr<Buffer> buffer_;  ///< Received and not yet used; empty between exchanges.
  std::mutex mutex_;                ///< live_fd_, between the exchange's thread and cancel().
  int live_fd_ = -1;
  std::atomic<bool> cancelled_{false};
};

}  // namespace extension_runner
