#pragma once
/**
 * @file http.hpp
 * Plain HTTP request/response values and the libcurl transport that sends them.
 * Request *building* lives in the API modules as pure code; only HttpClient does I/O.
 */
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "extension_runner/core/result.hpp"

namespace extension_runner {

/** Case-insensitive header lookup helper is `HttpResponse::header`. */
struct HttpRequest {
  std::string method = "GET";  ///< GET, POST or PUT.
  std::string path;            ///< Absolute path, e.g. `/2020-01-01/extension/register`.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct HttpResponse {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  /** The first header named `name` (case-insensitive), or "". */
  std::string header(const std::string& name) const;
};

/** Timeouts for one request. `total` of zero means no limit (for the `/next` long poll). */
struct HttpTimeouts {
  std::chrono::milliseconds connect{1000};
  std::chrono::milliseconds total{0};
};

/**
 * What libcurl reported about a transfer that failed: the inputs of describe_transport_failure.
 * Filled by HttpClient from the CURLcode and CURLINFO_OS_ERRNO.
 */
struct TransportFailure {
  int curl_code = 0;            ///< The CURLcode (never 0 = CURLE_OK here).
  int os_errno = 0;             ///< The socket errno libcurl saw, 0 when none.
  bool connected = false;       ///< The TCP connection was established.
  bool answer_started = false;  ///< At least one line of the answer arrived.
  HttpTimeouts timeouts;        ///< The limits the request ran under.
  /** CURLE_OPERATION_TIMEDOUT: the connect or the total timeout ran out. */
  bool timed_out() const;
};

/**
 * Says in plain words what happened ("connection refused", "connection reset by the peer",
 * "no answer within 3000 ms", "connection closed in the middle of the body", …), followed by
 * `(CURLcode N[, errno E])`. It never uses libcurl's own strings: the static release build's
 * libcurl has them compiled out (every code reads "Error"), and both builds must say the same.
 */
std::string describe_transport_failure(const TransportFailure& failure);

/**
 * Sends requests to one `host:port` over HTTP/1.1 with libcurl, reusing its connection.
 * One instance per thread (a curl easy handle is not thread-safe). Move-only.
 */
class HttpClient {
 public:
  /** `host_port` as in AWS_LAMBDA_RUNTIME_API, e.g. `127.0.0.1:9001`. */
  explicit HttpClient(std::string host_port);
  ~HttpClient();
  HttpClient(HttpClient&&) noexcept;
  HttpClient& operator=(HttpClient&&) noexcept;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /**
   * Sends one request. Any HTTP status is a response. A transport failure is ApiUnreachable,
   * its message `METHOD URL: <describe_transport_failure>`; last_failure() then holds the
   * details until the next send.
   */
  Result<HttpResponse> send(const HttpRequest& request, const HttpTimeouts& timeouts = {});

  /** The transport failure of the last send, if it had one. */
  const std::optional<TransportFailure>& last_failure() const { return last_failure_; }

  const std::string& host_port() const { return host_port_; }

 private:
  struct Curl;
  std::string host_port_;
  std::unique_ptr<Curl> curl_;
  std::optional<TransportFailure> last_failure_;
};

}  // namespace extension_runner
