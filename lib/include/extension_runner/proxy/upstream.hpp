#pragma once
/**
 * @file upstream.hpp
 * The proxy's client towards the real Runtime API, on libcurl: request bodies are pulled as
 * they are sent (CURLOPT_READFUNCTION; chunked when the runtime sent chunked, with its trailer
 * fields through CURLOPT_TRAILERFUNCTION), and the answer is pushed to a sink as it arrives.
 * So a streamed response goes through chunk by chunk and nothing is held whole unless the
 * caller chooses to. libcurl over cpp-httplib's client here because 0.11.4 cannot send trailers.
 */
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

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
 * One libcurl handle, reusing its connection across requests; one thread at a time uses it,
 * except cancel().
 */
class UpstreamClient {
 public:
  UpstreamClient(HostPort upstream, int64_t connect_timeout_ms);
  ~UpstreamClient();
  UpstreamClient(const UpstreamClient&) = delete;
  UpstreamClient& operator=(const UpstreamClient&) = delete;

  /**
   * Sends `request` and hands the answer to `sink` as it arrives; no limit on the total time
   * (`/next` blocks across sandbox freezes [EXT]). Any HTTP status is an answer. Error
   * ApiUnreachable when the exchange failed (message: `GET http://…/next: connection refused
   * (CURLcode 7)`), possibly after the sink got the head; Cancelled after cancel().
   */
  Result<void> exchange(const UpstreamRequest& request, ResponseSink& sink);

  /** From any thread: a running exchange fails at once, and so does every later one (stop). */
  void cancel();

  const HostPort& upstream() const { return upstream_; }

 private:
  struct Transfer;
  struct Curl;
  HostPort upstream_;
  int64_t connect_timeout_ms_;
  std::unique_ptr<Curl> curl_;
};

/**
 * Words for a failed transfer from its CURLcode and socket errno ("connection refused", "the
 * connection closed in the middle of the answer", …). Never libcurl's own strings: a static
 * libcurl may have them compiled out.
 */
std::string describe_upstream_failure(int curl_code, int os_errno);

}  // namespace extension_runner
