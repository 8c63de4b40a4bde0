#include "extension_runner/lambda/http.hpp"

#include <curl/curl.h>
#include <strings.h>

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
  if (rc != CURLE_OK) {
    return make_error(ErrorKind::ApiUnreachable,
                      request.method + " " + url + " failed: " + curl_easy_strerror(rc));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

}  // namespace extension_runner
