#include "extension_runner/proxy/upstream.hpp"

#include <curl/curl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <mutex>

namespace extension_runner {
namespace {

void global_init_once() {
  static std::once_flag once;
  // curl_global_init is not thread-safe in older libcurl: exactly once, before any handle.
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_NOTHING); });
}

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

/** Appends `line`; false when libcurl could not (the list stays as it was). */
bool append(Slist& list, const std::string& line) {
  curl_slist* head = curl_slist_append(list.get(), line.c_str());
  if (head == nullptr) return false;
  (void)list.release();
  list.reset(head);
  return true;
}

std::string field_line(const std::string& name, const std::string& value) {
  // `Name;` is libcurl's way to send a field with an empty value.
  return value.empty() ? name + ";" : name + ": " + value;
}

/**
 * The request's fields, plus empty `Name:` entries that stop libcurl adding its own defaults
 * (`Accept` for any type, a form Content-Type on POST, `Expect: 100-continue`), so the platform
 * sees the runtime's fields and nothing else.
 */
std::optional<Slist> request_fields(const UpstreamRequest& request) {
  Slist list;
  for (const auto& [name, value] : request.headers) {
    if (!append(list, field_line(name, value))) return std::nullopt;
  }
  for (const char* name : {"Accept", "Content-Type"}) {
    if (find_header(request.headers, name) == nullptr && !append(list, std::string(name) + ":")) {
      return std::nullopt;
    }
  }
  if (!append(list, "Expect:")) return std::nullopt;
  const bool chunked = request.body == UpstreamRequest::Body::Streamed && !request.length;
  if (chunked && !append(list, "Transfer-Encoding: chunked")) return std::nullopt;
  if (chunked && request.announced_trailers != nullptr &&
      !append(list, "Trailer: " + *request.announced_trailers)) {
    return std::nullopt;
  }
  return list;
}

std::string_view trim_line(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  return line;
}

}  // namespace

/** The curl handle and what cancel() needs to reach its socket from another thread. */
struct UpstreamClient::Curl {
  CURL* handle = nullptr;
  std::mutex mutex;  ///< socket and cancelled, between the transfer's thread and cancel().
  curl_socket_t socket = CURL_SOCKET_BAD;
  std::atomic<bool> cancelled{false};

  ~Curl() {
    if (handle != nullptr) curl_easy_cleanup(handle);
  }
};

/** One exchange's state, seen by the libcurl callbacks. */
struct UpstreamClient::Transfer {
  const UpstreamRequest* request = nullptr;
  ResponseSink* sink = nullptr;
  int status = 0;
  HeaderList headers;
  bool head_delivered = false;
  bool sink_refused = false;
  std::optional<Error> source_error;

  static size_t on_header(char* data, size_t size, size_t count, void* user);
  static size_t on_body(char* data, size_t size, size_t count, void* user);
  static size_t on_read(char* data, size_t size, size_t count, void* user);
  static int on_trailers(curl_slist** list, void* user);
  static curl_socket_t on_open(void* user, curlsocktype purpose, curl_sockaddr* address);
  static int on_close(void* user, curl_socket_t socket);
  static int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t);
  /** The method and the body options of `request`. */
  void configure_body(CURL* c);
};

size_t UpstreamClient::Transfer::on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (t->head_delivered) return n;  // trailer fields of a chunked answer: not relayed
  const std::string_view line = trim_line(std::string_view(data, n));
  if (line.rfind("HTTP/", 0) == 0) {
    const auto space = line.find(' ');
    t->status = space == std::string_view::npos
                    ? 0
                    : std::atoi(std::string(line.substr(space + 1, 3)).c_str());
    t->headers.clear();
  } else if (line.empty()) {
    if (t->status >= 100 && t->status < 200) return n;  // an interim answer; the real one follows
    t->head_delivered = true;
    if (!t->sink->on_head(t->status, std::move(t->headers))) {
      t->sink_refused = true;
      return 0;
    }
  } else if ((line.front() == ' ' || line.front() == '\t') && !t->headers.empty()) {
    t->headers.back().second += " " + std::string(trim_ows(line));  // obsolete line folding
  } else if (auto field = parse_field_line(line)) {
    t->headers.push_back(std::move(*field));
  }
  return n;
}

size_t UpstreamClient::Transfer::on_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  if (t->sink->on_body(std::string_view(data, size * count))) return size * count;
  t->sink_refused = true;
  return 0;
}

size_t UpstreamClient::Transfer::on_read(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  auto n = t->request->source->read(data, size * count);
  if (n.ok()) return n.value();
  t->source_error = n.error();
  // A chunked body can end early and say why in its trailers; one with a Content-Length can
  // only be cut off, which the platform sees as a truncated request.
  return t->request->length ? CURL_READFUNC_ABORT : 0;
}

int UpstreamClient::Transfer::on_trailers(curl_slist** list, void* user) {
  auto* t = static_cast<Transfer*>(user);
  for (const auto& [name, value] : t->request->source->trailers()) {
    curl_slist* head = curl_slist_append(*list, field_line(name, value).c_str());
    if (head == nullptr) return CURL_TRAILERFUNC_ABORT;
    *list = head;
  }
  return CURL_TRAILERFUNC_OK;
}

curl_socket_t UpstreamClient::Transfer::on_open(void* user, curlsocktype, curl_sockaddr* address) {
  auto* curl = static_cast<Curl*>(user);
  std::lock_guard<std::mutex> lock(curl->mutex);
  if (curl->cancelled) return CURL_SOCKET_BAD;
  curl->socket = ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  return curl->socket < 0 ? CURL_SOCKET_BAD : curl->socket;
}

int UpstreamClient::Transfer::on_close(void* user, curl_socket_t socket) {
  auto* curl = static_cast<Curl*>(user);
  std::lock_guard<std::mutex> lock(curl->mutex);
  if (curl->socket == socket) curl->socket = CURL_SOCKET_BAD;
  return ::close(socket);
}

int UpstreamClient::Transfer::on_progress(void* user, curl_off_t, curl_off_t, curl_off_t,
                                          curl_off_t) {
  return static_cast<Curl*>(user)->cancelled ? 1 : 0;
}

UpstreamClient::UpstreamClient(HostPort upstream, int64_t connect_timeout_ms)
    : upstream_(std::move(upstream)),
      connect_timeout_ms_(connect_timeout_ms),
      curl_(std::make_unique<Curl>()) {
  global_init_once();
}

UpstreamClient::~UpstreamClient() = default;

void UpstreamClient::cancel() {
  std::lock_guard<std::mutex> lock(curl_->mutex);
  curl_->cancelled = true;
  if (curl_->socket != CURL_SOCKET_BAD) ::shutdown(curl_->socket, SHUT_RDWR);
}

namespace {

/** The options every exchange sets, with why. */
void set_transport_options(CURL* c, int64_t connect_timeout_ms) {
  // Signals must not be used for timeouts: the proxy is multi-threaded.
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  // The Runtime API is local: a connect slower than this means it is gone [CPP].
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout_ms));
  // No total timeout: `/next` blocks across sandbox freezes, which outlast any limit [EXT].
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 0L);
  // Never through a proxy configured for the function's own traffic.
  curl_easy_setopt(c, CURLOPT_PROXY, "");
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  // The Runtime API speaks HTTP/1.1; trailers need it.
  curl_easy_setopt(c, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  // The target goes out exactly as the runtime sent it (no `/../` squashing).
  curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
  // Small writes (a 202 answer, a chunk) must not wait for Nagle.
  curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
  // The connection stays up between requests; TCP keepalive notices a dead peer.
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  // 64 KiB pieces: a 6 MiB event in ~100 callbacks instead of ~400.
  curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 64L * 1024);
}

}  // namespace

Result<void> UpstreamClient::exchange(const UpstreamRequest& request, ResponseSink& sink) {
  if (curl_->cancelled) return make_error(ErrorKind::Cancelled, "the proxy is stopping");
  if (curl_->handle == nullptr && (curl_->handle = curl_easy_init()) == nullptr) {
    return make_error(ErrorKind::Io, "curl_easy_init failed");
  }
  CURL* c = curl_->handle;
  // Options are per request; the connection survives the reset.
  curl_easy_reset(c);
  auto fields = request_fields(request);
  if (!fields) return make_error(ErrorKind::Io, "curl_slist_append failed");
  Transfer t;
  t.request = &request;
  t.sink = &sink;
  const std::string url = "http://" + upstream_.to_string() + request.target;
  set_transport_options(c, connect_timeout_ms_);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, fields->get());
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &Transfer::on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Transfer::on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  // Our own sockets, so that cancel() can shut the one in use from another thread.
  curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, &Transfer::on_open);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, curl_.get());
  curl_easy_setopt(c, CURLOPT_CLOSESOCKETFUNCTION, &Transfer::on_close);
  curl_easy_setopt(c, CURLOPT_CLOSESOCKETDATA, curl_.get());
  // Also checked while connecting, before there is a socket to shut.
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &Transfer::on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, curl_.get());
  t.configure_body(c);

  const CURLcode rc = curl_easy_perform(c);
  long os_errno = 0;
  if (rc != CURLE_OK) curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
  if (request.body == UpstreamRequest::Body::Streamed && !request.length) {
    // libcurl 7.88 keeps a chunked upload's trailer state in the handle past curl_easy_reset:
    // the next chunked upload on it would write its chunk-size line in front of the upload
    // buffer (heap corruption). A fresh handle (and connection) for whatever comes next.
    curl_easy_cleanup(c);
    curl_->handle = nullptr;
  }
  if (rc == CURLE_OK) return {};
  if (curl_->cancelled) return make_error(ErrorKind::Cancelled, "the proxy is stopping");
  if (t.sink_refused) return make_error(ErrorKind::Io, "the runtime went away during the answer");
  if (t.source_error) return *t.source_error;
  return make_error(
      ErrorKind::ApiUnreachable,
      request.method + " " + url + ": " +
          describe_upstream_failure(static_cast<int>(rc), static_cast<int>(os_errno)));
}

void UpstreamClient::Transfer::configure_body(CURL* c) {
  const UpstreamRequest& r = *request;
  const bool custom = r.method != "GET" && r.method != "POST" && r.method != "HEAD";
  if (custom) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r.method.c_str());
  switch (r.body) {
    case UpstreamRequest::Body::None:
      if (r.method == "HEAD") curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
      if (r.method == "POST") {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(0));
      }
      break;
    case UpstreamRequest::Body::Buffered:
      // A null POSTFIELDS would make libcurl read the body from a callback instead.
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, r.buffered.empty() ? "" : r.buffered.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.buffered.size()));
      break;
    case UpstreamRequest::Body::Streamed:
      curl_easy_setopt(c, CURLOPT_POST, 1L);
      curl_easy_setopt(c, CURLOPT_READFUNCTION, &Transfer::on_read);
      curl_easy_setopt(c, CURLOPT_READDATA, this);
      if (r.length) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(*r.length));
      } else {
        // The runtime's trailer fields follow the last chunk (Lambda's streaming error report).
        curl_easy_setopt(c, CURLOPT_TRAILERFUNCTION, &Transfer::on_trailers);
        curl_easy_setopt(c, CURLOPT_TRAILERDATA, this);
      }
      break;
  }
}

std::string describe_upstream_failure(int curl_code, int os_errno) {
  std::string words;
  switch (curl_code) {
    case CURLE_COULDNT_CONNECT:
      words = os_errno == ECONNREFUSED ? "connection refused" : "could not connect";
      break;
    case CURLE_OPERATION_TIMEDOUT:
      words = "no connection within the connect timeout";
      break;
    case CURLE_GOT_NOTHING:
      words = "the connection closed without an answer";
      break;
    case CURLE_PARTIAL_FILE:
      words = "the connection closed in the middle of the answer";
      break;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
      words = os_errno == ECONNRESET ? "the connection was reset" : "the connection broke";
      break;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_UNSUPPORTED_PROTOCOL:
      words = "the answer is not HTTP/1.1";
      break;
    case CURLE_COULDNT_RESOLVE_HOST:
      words = "the host name does not resolve";
      break;
    case CURLE_URL_MALFORMAT:
      words = "the address is not a valid URL";
      break;
    default:
      words = "the transfer failed";
      break;
  }
  words += " (CURLcode " + std::to_string(curl_code);
  if (os_errno != 0) words += ", errno " + std::to_string(os_errno);
  return words + ")";
}

}  // namespace extension_runner
