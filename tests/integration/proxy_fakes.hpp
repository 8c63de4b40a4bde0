#pragma once
// Fakes for the Runtime API proxy's integration tests, all on 127.0.0.1 port 0:
// - FakeRuntimeApi: the platform side (cpp-httplib): queued events for /next, programmable
//   answers for /response and /error, every request recorded;
// - RawUpstream: a platform side that records the exact bytes it receives (cpp-httplib 0.11.4
//   refuses request trailers, which streamed responses need), answering 202;
// - RawClient: a runtime speaking HTTP/1.1 over a plain socket (chunks, trailers, disconnects);
// - RecordingHooks: InvocationHooks whose answers the test scripts per phase.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/fd.hpp"
#include "extension_runner/core/log.hpp"
#include "extension_runner/proxy/hooks.hpp"
#include "extension_runner/proxy/http_message.hpp"
#include "extension_runner/proxy/options.hpp"
#include "extension_runner/proxy/server.hpp"

namespace proxy_fakes {

using extension_runner::HeaderList;
using extension_runner::HostPort;

/** Waits are bounded so a broken proxy fails a test instead of hanging it. */
constexpr auto kPatience = std::chrono::seconds(20);

struct Recorded {
  std::string method;
  std::string path;  ///< With `?query` when there was one.
  HeaderList headers;
  std::string body;
  /** The first field named `name` (any case), or "" . */
  std::string header(const std::string& name) const {
    const std::string* value = extension_runner::find_header(headers, name);
    return value == nullptr ? "" : *value;
  }
  bool has(const std::string& name) const {
    return extension_runner::find_header(headers, name) != nullptr;
  }
};

/** What /next answers, once. */
struct Event {
  HeaderList headers;
  std::string body;
  int status = 200;
  bool chunked = false;  ///< Sent chunked, as Go's net/http (RIE) sends bodies over 2 KiB.
};

/** A programmed answer to `/response`, `/error` (or any POST) whose path ends with `suffix`. */
struct Answer {
  int status = 202;
  std::string body = R"({"status":"OK"})";
};

class FakeRuntimeApi {
 public:
  FakeRuntimeApi() {
    // Each proxy connection keeps an upstream connection, and each of those holds a worker.
    server_.new_task_queue = [] { return new httplib::ThreadPool(32); };
    server_.Get(R"(/[^/]+/runtime/invocation/next)",
                [this](const httplib::Request& req, httplib::Response& res) { next(req, res); });
    auto record = [this](const httplib::Request& req, httplib::Response& res) { answer(req, res); };
    server_.Get(R"(/.*)", record);
    server_.Post(R"(/.*)", record);
    server_.Put(R"(/.*)", record);
    server_.Delete(R"(/.*)", record);
    port_ = static_cast<uint16_t>(server_.bind_to_any_port("127.0.0.1"));
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~FakeRuntimeApi() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    server_.stop();
    thread_.join();
  }
  FakeRuntimeApi(const FakeRuntimeApi&) = delete;
  FakeRuntimeApi& operator=(const FakeRuntimeApi&) = delete;

  HostPort address() const { return {"127.0.0.1", port_}; }

  void push_event(Event event) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      events_.push_back(std::move(event));
    }
    cv_.notify_all();
  }
  /** Answers POSTs whose path ends with `suffix` (`/response`, `/error`, …) with `answer`. */
  void set_answer(const std::string& suffix, Answer answer) {
    std::lock_guard<std::mutex> lock(mutex_);
    answers_.emplace_back(suffix, std::move(answer));
  }
  /** Waits until `n` requests other than /next were recorded; returns them all. */
  std::vector<Recorded> wait_requests(size_t n) {
    std::unique_lock<std::mutex> lock(mutex_);
    REQUIRE(cv_.wait_for(lock, kPatience, [&] { return recorded_.size() >= n; }));
    return recorded_;
  }
  std::vector<Recorded> requests() {
    std::lock_guard<std::mutex> lock(mutex_);
    return recorded_;
  }
  /** Waits until `n` /next requests arrived (answered or still waiting). */
  void wait_next_calls(size_t n) {
    std::unique_lock<std::mutex> lock(mutex_);
    REQUIRE(cv_.wait_for(lock, kPatience, [&] { return next_calls_.size() >= n; }));
  }
  std::vector<Recorded> next_calls() {
    std::lock_guard<std::mutex> lock(mutex_);
    return next_calls_;
  }

 private:
  static Recorded record_of(const httplib::Request& req) {
    Recorded r{req.method, req.path, {}, req.body};
    std::string query;
    for (const auto& [k, v] : req.params) query += (query.empty() ? "?" : "&") + k + "=" + v;
    r.path += query;
    for (const auto& [k, v] : req.headers) {
      // cpp-httplib files the peer's addresses among the fields; they were never sent.
      if (k == "REMOTE_ADDR" || k == "REMOTE_PORT" || k == "LOCAL_ADDR" || k == "LOCAL_PORT") {
        continue;
      }
      r.headers.emplace_back(k, v);
    }
    return r;
  }

  void next(const httplib::Request& req, httplib::Response& res) {
    std::unique_lock<std::mutex> lock(mutex_);
    next_calls_.push_back(record_of(req));
    cv_.notify_all();
    // Bounded: a proxy asking for more events than a test queued fails it instead of hanging.
    cv_.wait_for(lock, kPatience, [this] { return !events_.empty() || stopping_; });
    if (events_.empty()) {
      res.status = 500;
      return;
    }
    Event event = std::move(events_.front());
    events_.pop_front();
    lock.unlock();
    res.status = event.status;
    std::string type = "application/json";
    for (const auto& [k, v] : event.headers) {
      if (extension_runner::iequals(k, "Content-Type")) {
        type = v;
      } else {
        res.set_header(k.c_str(), v);
      }
    }
    if (!event.chunked) {
      res.set_content(event.body, type.c_str());
      return;
    }
    auto body = std::make_shared<std::string>(std::move(event.body));
    res.set_chunked_content_provider(type.c_str(), [body](size_t offset, httplib::DataSink& sink) {
      const size_t n = std::min<size_t>(64 * 1024, body->size() - offset);
      if (n > 0) sink.write(body->data() + offset, n);
      if (offset + n == body->size()) sink.done();
      return true;
    });
  }

  void answer(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mutex_);
    recorded_.push_back(record_of(req));
    cv_.notify_all();
    if (req.body.size() > extension_runner::kLambdaMaxPayloadBytes) {
      res.status = 413;
      res.set_content(R"({"errorType":"RequestEntityTooLarge","errorMessage":)"
                      R"("Exceeded maximum allowed payload size (6291556 bytes)."})",
                      "application/json");
      return;
    }
    for (const auto& [suffix, a] : answers_) {
      if (req.path.size() >= suffix.size() &&
          req.path.compare(req.path.size() - suffix.size(), suffix.size(), suffix) == 0) {
        res.status = a.status;
        res.set_content(a.body, "application/json");
        return;
      }
    }
    if (req.method == "POST") {
      res.status = 202;
      res.set_content(R"({"status":"OK"})", "application/json");
      return;
    }
    res.status = 200;
    res.set_header("X-Echo", "1");
    res.set_content("echo " + req.method + " " + recorded_.back().path, "text/plain");
  }

  httplib::Server server_;
  std::thread thread_;
  uint16_t port_ = 0;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Event> events_;
  std::vector<std::pair<std::string, Answer>> answers_;
  std::vector<Recorded> recorded_;
  std::vector<Recorded> next_calls_;
  bool stopping_ = false;
};

/** A parsed HTTP message read off a raw socket. */
struct RawMessage {
  bool complete = false;
  std::string start_line;
  HeaderList headers;
  std::string body;
  HeaderList trailers;
  size_t size = 0;  ///< Bytes the message took.
  std::string header(const std::string& name) const {
    const std::string* value = extension_runner::find_header(headers, name);
    return value == nullptr ? "" : *value;
  }
  bool has(const std::string& name) const {
    return extension_runner::find_header(headers, name) != nullptr;
  }
};

/**
 * Parses one HTTP/1.1 message at the start of `bytes` (a request or a response; body by
 * Content-Length, chunked, or none), independently of the proxy's own parser.
 */
inline RawMessage parse_message(const std::string& bytes) {
  RawMessage m;
  const auto head_end = bytes.find("\r\n\r\n");
  if (head_end == std::string::npos) return m;
  std::istringstream head(bytes.substr(0, head_end));
  std::string line;
  std::getline(head, m.start_line);
  if (!m.start_line.empty() && m.start_line.back() == '\r') m.start_line.pop_back();
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto colon = line.find(':');
    m.headers.emplace_back(line.substr(0, colon),
                           line.substr(line.find_first_not_of(' ', colon + 1)));
  }
  size_t pos = head_end + 4;
  if (m.header("Transfer-Encoding") == "chunked") {
    while (true) {
      const auto eol = bytes.find("\r\n", pos);
      if (eol == std::string::npos) return m;
      const size_t n = std::stoul(bytes.substr(pos, eol - pos), nullptr, 16);
      pos = eol + 2;
      if (n == 0) break;
      if (bytes.size() < pos + n + 2) return m;
      m.body += bytes.substr(pos, n);
      pos += n + 2;
    }
    while (true) {
      const auto eol = bytes.find("\r\n", pos);
      if (eol == std::string::npos) return m;
      const std::string field = bytes.substr(pos, eol - pos);
      pos = eol + 2;
      if (field.empty()) break;
      const auto colon = field.find(':');
      m.trailers.emplace_back(field.substr(0, colon), field.substr(colon + 2));
    }
  } else if (m.has("Content-Length")) {
    const size_t n = std::stoul(m.header("Content-Length"));
    if (bytes.size() < pos + n) return m;
    m.body = bytes.substr(pos, n);
    pos += n;
  }
  m.complete = true;
  m.size = pos;
  return m;
}

/** A connected TCP socket to `address`. */
inline extension_runner::Fd connect_to(const HostPort& address) {
  extension_runner::Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(address.port);
  ::inet_pton(AF_INET, address.host.c_str(), &a.sin_addr);
  REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  // Bounded reads: a proxy that never answers fails the test instead of hanging it.
  timeval patience{std::chrono::seconds(kPatience).count(), 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
  return fd;
}

/** A runtime on a plain socket: writes exactly the bytes it is given. */
class RawClient {
 public:
  explicit RawClient(const HostPort& proxy) : fd_(connect_to(proxy)) {}
  void send(const std::string& bytes) {
    REQUIRE(::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(bytes.size()));
  }
  /** Reads until one whole message arrived; complete == false when the proxy closed first. */
  RawMessage read_message() {
    while (true) {
      RawMessage m = parse_message(buffer_);
      if (m.complete) {
        buffer_.erase(0, m.size);
        return m;
      }
      char chunk[64 * 1024];
      const ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
      if (n <= 0) return m;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }
  /** True once the proxy closed the connection (reads EOF or a reset). */
  bool closed_by_peer() {
    char c;
    return ::recv(fd_.get(), &c, 1, 0) <= 0;
  }
  /** The runtime going away: the socket closes, mid-request or not. */
  void disconnect() { fd_.reset(); }

 private:
  extension_runner::Fd fd_;
  std::string buffer_;
};

/**
 * A platform that keeps every byte it receives, answers each complete request with 202, and
 * notes requests cut off by a closed connection.
 */
class RawUpstream {
 public:
  RawUpstream() {
    listener_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    REQUIRE(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(listener_.get(), 16) == 0);
    socklen_t len = sizeof a;
    ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~RawUpstream() {
    ::shutdown(listener_.get(), SHUT_RDWR);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (connection_ >= 0) ::shutdown(connection_, SHUT_RDWR);
    }
    thread_.join();
  }
  HostPort address() const { return {"127.0.0.1", port_}; }

  /** Waits until the bytes received contain `needle`. */
  void wait_for(const std::string& needle) {
    std::unique_lock<std::mutex> lock(mutex_);
    REQUIRE(
        cv_.wait_for(lock, kPatience, [&] { return received_.find(needle) != std::string::npos; }));
  }
  /** Waits for one whole request, or for its connection to close before it ended. */
  RawMessage wait_request() {
    std::unique_lock<std::mutex> lock(mutex_);
    REQUIRE(
        cv_.wait_for(lock, kPatience, [&] { return parse_message(received_).complete || cut_; }));
    return parse_message(received_);
  }
  bool cut_off() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cut_;
  }
  /** Waits until `n` whole requests arrived on the one connection; returns them all. */
  std::vector<RawMessage> wait_requests(size_t n) {
    std::unique_lock<std::mutex> lock(mutex_);
    REQUIRE(cv_.wait_for(lock, kPatience, [&] { return messages_.size() >= n; }));
    return messages_;
  }

 private:
  void serve() {
    // One connection at a time, as many as come: the proxy may open a new one per request.
    while (true) {
      extension_runner::Fd connection(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!connection.valid()) return;
      serve_connection(connection);
    }
  }

  void serve_connection(const extension_runner::Fd& connection) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      connection_ = connection.get();
    }
    char chunk[64 * 1024];
    while (true) {
      const ssize_t n = ::recv(connection.get(), chunk, sizeof chunk, 0);
      std::lock_guard<std::mutex> lock(mutex_);
      if (n <= 0) {
        // A connection that closed in the middle of a request (its bytes stay to be read).
        cut_ = cut_ || answered_bytes_ < received_.size();
        connection_ = -1;
        cv_.notify_all();
        return;
      }
      received_.append(chunk, static_cast<size_t>(n));
      cv_.notify_all();
      // Every whole request is answered: the proxy may keep the connection for the next one.
      for (RawMessage m = parse_message(received_.substr(answered_bytes_)); m.complete;
           m = parse_message(received_.substr(answered_bytes_))) {
        answered_bytes_ += m.size;
        messages_.push_back(std::move(m));
        const std::string answer =
            "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"
            R"({"status":"OK"})";
        (void)::send(connection.get(), answer.data(), answer.size(), MSG_NOSIGNAL);
      }
    }
  }

  extension_runner::Fd listener_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::string received_;
  int connection_ = -1;
  size_t answered_bytes_ = 0;
  std::vector<RawMessage> messages_;  ///< The whole requests received, in order.
  bool cut_ = false;
};

/**
 * Hooks whose REQUEST / RESPONSE answers the test sets; every call and observe copy recorded.
 */
class RecordingHooks : public extension_runner::InvocationHooks {
 public:
  using Answer = std::function<extension_runner::Result<extension_runner::HookReply>(
      const extension_runner::HookCall&)>;
  static extension_runner::Result<extension_runner::HookReply> pass(
      const extension_runner::HookCall&) {
    return extension_runner::HookReply{};
  }

  Answer on_request_answer = pass;
  Answer on_response_answer = pass;

  extension_runner::Result<extension_runner::HookReply> on_request(
      extension_runner::HookCall call) override {
    note(requests_, call);
    return on_request_answer(call);
  }
  extension_runner::Result<extension_runner::HookReply> on_response(
      extension_runner::HookCall call) override {
    note(responses_, call);
    return on_response_answer(call);
  }
  void observe(extension_runner::HookCall call) override { note(observed_, std::move(call)); }
  bool takes(extension_runner::HookPhase phase) const override {
    return phase == extension_runner::HookPhase::Request ? takes_request.load()
                                                         : takes_response.load();
  }

  /** What takes() answers: the extension logic has a REQUEST / RESPONSE handler. */
  std::atomic<bool> takes_request{true};
  std::atomic<bool> takes_response{true};

  /** Waits until `n` observe copies arrived; returns them. */
  std::vector<extension_runner::HookCall> wait_observed(size_t n) {
    std::unique_lock<std::mutex> lock(mutex_);
    REQUIRE(cv_.wait_for(lock, kPatience, [&] { return observed_.size() >= n; }));
    return observed_;
  }
  std::vector<extension_runner::HookCall> requests() {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }
  std::vector<extension_runner::HookCall> responses() {
    std::lock_guard<std::mutex> lock(mutex_);
    return responses_;
  }

 private:
  void note(std::vector<extension_runner::HookCall>& calls, extension_runner::HookCall call) {
    std::lock_guard<std::mutex> lock(mutex_);
    calls.push_back(std::move(call));
    cv_.notify_all();
  }
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<extension_runner::HookCall> requests_, responses_, observed_;
};

/** Captures log lines (from any thread) while it lives; declare it before the proxy. */
class LogCapture {
 public:
  LogCapture() {
    extension_runner::set_log_sink([this](const std::string& line) {
      std::lock_guard<std::mutex> lock(mutex_);
      lines_.push_back(line);
      cv_.notify_all();
    });
  }
  ~LogCapture() { extension_runner::set_log_sink(nullptr); }
  /** Waits for a line containing `text`; returns it. */
  std::string wait_for(const std::string& text) {
    std::unique_lock<std::mutex> lock(mutex_);
    std::string found;
    REQUIRE(cv_.wait_for(lock, kPatience, [&] {
      for (const auto& line : lines_) {
        if (line.find(text) != std::string::npos) found = line;
      }
      return !found.empty();
    }));
    return found;
  }
  size_t count(const std::string& text) {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t n = 0;
    for (const auto& line : lines_) n += line.find(text) != std::string::npos;
    return n;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
};

/** A started ProxyServer in `mode` in front of `upstream`. */
struct RunningProxy {
  RunningProxy(const HostPort& upstream, extension_runner::ProxyMode mode,
               extension_runner::InvocationHooks& hooks,
               const std::function<void(extension_runner::ProxyOptions&)>& tweak = {})
      : server(options(upstream, mode, tweak), hooks) {
    auto bound = server.start();
    REQUIRE(bound.ok());
    address = bound.value();
  }
  static extension_runner::ProxyOptions options(
      const HostPort& upstream, extension_runner::ProxyMode mode,
      const std::function<void(extension_runner::ProxyOptions&)>& tweak) {
    extension_runner::ProxyOptions o;
    o.mode = mode;
    o.upstream = upstream;
    if (tweak) tweak(o);
    return o;
  }
  extension_runner::ProxyServer server;
  HostPort address;
};

inline const std::string kArn = "arn:aws:lambda:us-east-1:123456789012:function:proxied";

/** An event as Lambda's /next gives it [RIE rendering.go], due in a minute. */
inline Event lambda_event(const std::string& id, std::string body, HeaderList extra = {}) {
  Event e;
  e.body = std::move(body);
  e.headers = {
      {"Lambda-Runtime-Aws-Request-Id", id},
      {"Lambda-Runtime-Deadline-Ms", std::to_string(extension_runner::wall_clock_ms() + 60000)},
      {"Lambda-Runtime-Invoked-Function-Arn", kArn},
      {"Lambda-Runtime-Trace-Id", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1"},
      {"Content-Type", "application/json"}};
  e.headers.insert(e.headers.end(), extra.begin(), extra.end());
  return e;
}

/** A request as a runtime writes it; the body with its Content-Length unless `headers` frame it. */
inline std::string http_request(const std::string& method, const std::string& path,
                                HeaderList headers = {}, const std::string& body = "") {
  std::string text = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  const bool framed = extension_runner::find_header(headers, "Transfer-Encoding") != nullptr;
  if (!framed && (!body.empty() || method == "POST")) {
    headers.emplace_back("Content-Length", std::to_string(body.size()));
  }
  for (const auto& [k, v] : headers) text += k + ": " + v + "\r\n";
  return text + "\r\n" + body;
}

inline constexpr const char* kNext = "/2018-06-01/runtime/invocation/next";
inline std::string response_path(const std::string& id) {
  return "/2018-06-01/runtime/invocation/" + id + "/response";
}
inline std::string error_path(const std::string& id) {
  return "/2018-06-01/runtime/invocation/" + id + "/error";
}

}  // namespace proxy_fakes
