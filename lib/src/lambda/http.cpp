#include "extension_runner/lambda/http.hpp"

#include <curl/curl.h>
#include <strings.h>

#include <cerrno>
#include <mutex>

namespace extension_runner {
namespace {

void global_init_once() {
  static std::once_flag once;
  // curl_global_init is not thread-safe in older libcurl: do it exactly once.
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_NOTHING); });
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* headers = static_cast<std::vector<std::pair<std::string, std::string>>*>(user);
  std::string line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {
    headers->clear();  // a new response (after a 100 Continue) starts a new header block
    return size * count;
  }
  const auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string value = line.substr(colon + 1);
    const auto b = value.find_first_not_of(" \t");
    const auto e = value.find_last_not_of(" \t\r\n");
    headers->emplace_back(line.substr(0, colon),
                          b == std::string::npos ? "" : value.substr(b, e - b + 1));
  }
  return size * count;
}

// Called once the connection is up (new or reused), just before the request goes out.
int on_connected(void* user, char*, char*, int, int) {
  *static_cast<bool*>(user) = true;
  return CURL_PREREQFUNC_OK;
}

std::string ms_text(std::chrono::milliseconds ms) { return std::to_string(ms.count()) + " ms"; }

/** Words for a failed connect, from the socket errno. */
std::string connect_failure_words(int os_errno) {
  switch (os_errno) {
    case ECONNREFUSED:
      return "connection refused (nothing listens on that port)";
    case ENETUNREACH:
      return "network unreachable";
    case EHOSTUNREACH:
      return "host unreachable";
    case ETIMEDOUT:
      return "connect timed out";
    case EADDRNOTAVAIL:
      return "address not available";
    case EACCES:
    case EPERM:
      return "connect not permitted";
    default:
      return "could not connect";
  }
}

std::string timeout_words(const TransportFailure& f) {
  const auto total = f.timeouts.total;
  if (!f.connected) {
    const auto limit = total.count() > 0 && total < f.timeouts.connect ? total : f.timeouts.connect;
    return "no connection within " + ms_text(limit) + " (connect timed out)";
  }
  if (!f.answer_started) return "connection accepted, but no answer within " + ms_text(total);
  return "the answer started but did not complete within " + ms_text(total);
}

std::string failure_words(const TransportFailure& f) {
  const bool reset = f.os_errno == ECONNRESET;
  switch (f.curl_code) {
    case CURLE_COULDNT_CONNECT:
      return connect_failure_words(f.os_errno);
    case CURLE_OPERATION_TIMEDOUT:
      return timeout_words(f);
    case CURLE_GOT_NOTHING:
      return "connection closed without an answer";
    case CURLE_PARTIAL_FILE:
      return "connection closed in the middle of the body";
    case CURLE_RECV_ERROR:
      return reset ? "connection reset by the peer" : "receiving the answer failed";
    case CURLE_SEND_ERROR:
      if (reset) return "connection reset by the peer while sending the request";
      if (f.os_errno == EPIPE) return "connection closed while sending the request";
      return "sending the request failed";
    case CURLE_COULDNT_RESOLVE_HOST:
      return "host name not resolved";
    case CURLE_COULDNT_RESOLVE_PROXY:
      return "proxy name not resolved";
    case CURLE_URL_MALFORMAT:
      return "malformed URL (is the address host:port?)";
    case CURLE_UNSUPPORTED_PROTOCOL:
      // After connecting, libcurl's word for an answer that has no HTTP status line (HTTP/0.9).
      return f.connected ? "the answer is not HTTP" : "unsupported protocol";
    case CURLE_WEIRD_SERVER_REPLY:
      return "the answer is not HTTP";
    case CURLE_BAD_CONTENT_ENCODING:
      return "the answer has an unknown content encoding";
    case CURLE_FILESIZE_EXCEEDED:
      return "the answer is too large";
    case CURLE_TOO_MANY_REDIRECTS:
      return "too many redirects";
    case CURLE_WRITE_ERROR:
      return "the answer could not be stored";
    case CURLE_READ_ERROR:
      return "the request body could not be read";
    case CURLE_OUT_OF_MEMORY:
      return "out of memory";
    case CURLE_FAILED_INIT:
      return "libcurl failed to initialise";
    case CURLE_NOT_BUILT_IN:
    case CURLE_UNKNOWN_OPTION:
      return "a feature this request needs is not built into libcurl";
    case CURLE_BAD_FUNCTION_ARGUMENT:
      return "libcurl was called with a bad argument";
    case CURLE_INTERFACE_FAILED:
      return "the local network interface could not be used";
    case CURLE_ABORTED_BY_CALLBACK:
      return "the transfer was aborted";
    case CURLE_AGAIN:
      return "the socket was not ready";
    case CURLE_SSL_CONNECT_ERROR:
      return "the TLS handshake failed";
    default:
      return "transport failure";
  }
}

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

}  // namespace

std::string HttpResponse::header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (::strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  }
  return "";
}

bool TransportFailure::timed_out() const { return curl_code == CURLE_OPERATION_TIMEDOUT; }

std::string describe_transport_failure(const TransportFailure& failure) {
  std::string text = failure_words(failure) + " (CURLcode " + std::to_string(failure.curl_code);
  if (failure.os_errno != 0) text += ", errno " + std::to_string(failure.os_errno);
  return text + ")";
}

/** The curl easy handle; kept across requests so the connection is reused. */
struct HttpClient::Curl {
  struct Deleter {
    void operator()(CURL* c) const { curl_easy_cleanup(c); }
  };
  std::unique_ptr<CURL, Deleter> handle;
};

HttpClient::HttpClient(std::string host_port)
    : host_port_(std::move(host_port)), curl_(std::make_unique<Curl>()) {
  global_init_once();
}

HttpClient::~HttpClient() = default;
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;

Result<HttpResponse> HttpClient::send(const HttpRequest& request, const HttpTimeouts& timeouts) {
  if (!curl_->handle) {
    curl_->handle.reset(curl_easy_init());
    if (!curl_->handle) return make_error(ErrorKind::Io, "curl_easy_init failed");
  }
  CURL* c = curl_->handle.get();
  curl_easy_reset(c);
  last_failure_.reset();
  bool connected = false;

  const std::string url = "http://" + host_port_ + request.path;
  HttpResponse response;
  Slist headers;
  // curl_slist_append returns the (possibly new) head, or null leaving the list intact.
  auto append_header = [&headers](const std::string& line) {
    curl_slist* head = curl_slist_append(headers.get(), line.c_str());
    if (head == nullptr) return false;
    (void)headers.release();
    headers.reset(head);
    return true;
  };
  for (const auto& [k, v] : request.headers) {
    if (!append_header(v.empty() ? k + ";" : k + ": " + v)) {
      return make_error(ErrorKind::Io, "curl_slist_append failed");
    }
  }
  // An empty Expect stops curl from waiting for "100 Continue" on POST/PUT bodies, a
  // pointless round trip against the local Runtime API.
  if (!append_header("Expect:")) return make_error(ErrorKind::Io, "curl_slist_append failed");

  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &response.headers);
  // Signals must not be used for timeouts: we are multi-threaded.
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  // The Runtime API is local: a connect that takes longer than this means it is gone.
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeouts.connect.count()));
  // Zero = no limit: `/event/next` blocks across sandbox freezes, which outlast any timeout [EXT].
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeouts.total.count()));
  // Tells a timeout while connecting from one while waiting for the answer.
  curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, on_connected);
  curl_easy_setopt(c, CURLOPT_PREREQDATA, &connected);
  // Never go through a proxy configured for the function's own traffic.
  curl_easy_setopt(c, CURLOPT_PROXY, "");
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  // Keep the connection alive between /next calls; TCP keepalive detects a dead peer.
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  if (request.method == "POST" || request.method == "PUT") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.body.size()));
    if (request.method == "PUT") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
  } else if (request.method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }

  const CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  if (rc != CURLE_OK) {
    // Our own words, not curl_easy_strerror: the static libcurl has its strings compiled out.
    TransportFailure failure;
    failure.curl_code = static_cast<int>(rc);
    long os_errno = 0;
    curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
    failure.os_errno = static_cast<int>(os_errno);
    failure.connected = connected;
    failure.answer_started = response.status != 0 || !response.headers.empty();
    failure.timeouts = timeouts;
    last_failure_ = failure;
    return make_error(ErrorKind::ApiUnreachable,
                      request.method + " " + url + ": " + describe_transport_failure(failure));
  }
  return response;
}

}  // namespace extension_runner
