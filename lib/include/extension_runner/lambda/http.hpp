#pragma once
/**
 * @file http.hpp
 * Plain HTTP request/response values and the libcurl transport that sends them.
 * Request *building* lives in the API modules as pure code; only HttpClient does I/O.
 */
#include <chrono>
#include <map>
#include <memory>
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

  /** Sends one request. Transport failures are ApiUnreachable; any HTTP status is a response. */
  Result<HttpResponse> send(const HttpRequest& request, const HttpTimeouts& timeouts = {});

  const std::string& host_port() const { return host_port_; }

 private:
  struct Curl;
  std::string host_port_;
  std::unique_ptr<Curl> curl_;
};

}  // namespace extension_runner
