#include "extension_runner/fake_platform/extensions_api.hpp"

#include <httplib.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/json.hpp"
#include "extension_runner/lambda/extensions_api.hpp"

namespace extension_runner {
namespace {

constexpr int kMaxExtensions = 10;  // [EXT]: at most 10 extensions per function

std::string error_body(const std::string& type, const std::string& message) {
  return R"({"errorType":)" + json_quote(type) + R"(,"errorMessage":)" + json_quote(message) + "}";
}

bool is_uuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

Endpoint endpoint_of(const std::string& path) {
  const std::string base = kExtensionsApiBase;
  if (path == base + "/register") return Endpoint::Register;
  if (path == base + "/event/next") return Endpoint::Next;
  if (path == base + "/init/error") return Endpoint::InitError;
  if (path == base + "/exit/error") return Endpoint::ExitError;
  if (path == "/2022-07-01/telemetry" || path == "/2020-08-15/logs") return Endpoint::Subscribe;
  return Endpoint::Other;
}

int port_of(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
  if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
  return -1;
}

// cpp-httplib hands handlers no socket: find the connection by its two ports among our fds.
int connection_fd(int local_port, int remote_port) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    const int fd = std::atoi(entry.path().filename().c_str());
    sockaddr_storage local{}, remote{};
    socklen_t local_len = sizeof local, remote_len = sizeof remote;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) continue;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &remote_len) != 0) continue;
    if (port_of(local) == local_port && port_of(remote) == remote_port) return fd;
  }
  return -1;
}

}  // namespace

std::string random_uuid() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  const uint64_t a = rng(), b = rng();
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%08x-%04x-4%03x-%04x-%012llx",
                static_cast<unsigned>(a >> 32), static_cast<unsigned>((a >> 16) & 0xffff),
                static_cast<unsigned>(a & 0x0fff),
                static_cast<unsigned>(((b >> 48) & 0x3fff) | 0x8000),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buffer;
}

std::string RecordedCall::header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (::strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  }
  return "";
}

Emulator::Emulator(FunctionInfo function, Platform platform)
    : function_(std::move(function)),
      platform_(platform),
      server_(std::make_unique<httplib::Server>()) {
  // Headers and body go out in separate writes; with Nagle on, the client's delayed ACK adds
  // ~40 ms to every answer.
  server_->set_tcp_nodelay(true);
  install_routes();
}

Emulator::~Emulator() { stop(); }

httplib::Server& Emulator::server() { return *server_; }

std::string Emulator::runtime_api() const { return "127.0.0.1:" + std::to_string(port_); }

Result<void> Emulator::start() {
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) return make_error(ErrorKind::ListenerFailed, "emulator: cannot bind 127.0.0.1");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // cpp-httplib 0.11 has no wait_until_ready(); stop() before listen starts would be lost.
  while (!server_->is_running()) std::this_thread::yield();
  return {};
}

void Emulator::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) {
    stop_server_once();
    thread_.join();
  }
}

void Emulator::push_invoke(const std::string& request_id, int64_t deadline_ms,
                           const std::string& invoked_function_arn, bool with_tracing) {
  std::string body = R"({"eventType":"INVOKE","deadlineMs":)" + std::to_string(deadline_ms) +
                     R"(,"requestId":)" + json_quote(request_id) + R"(,"invokedFunctionArn":)" +
                     json_quote(invoked_function_arn);
  if (with_tracing) {
    body +=
        R"(,"tracing":{"type":"X-Amzn-Trace-Id","value":"Root=1-5f35ae12-0c0fec141ab77a00bc047aa2;Parent=2be948a625588e32;Sampled=1"})";
  }
  body += "}";
  push_raw_event(body);
}

void Emulator::push_shutdown(const std::string& reason, int64_t deadline_ms) {
  push_raw_event(R"({"eventType":"SHUTDOWN","shutdownReason":)" + json_quote(reason) +
                 R"(,"deadlineMs":)" + std::to_string(deadline_ms) + "}");
}

void Emulator::push_raw_event(const std::string& body) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    events_.push_back(body);
  }
  changed_.notify_all();
}

void Emulator::interrupt(const std::string& reason, int64_t deadline_ms) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    events_.clear();
  }
  push_shutdown(reason, deadline_ms);
}

std::vector<int64_t> Emulator::next_arrival_times() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return next_arrivals_;
}

std::chrono::steady_clock::time_point Emulator::last_next_arrival() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return last_next_arrival_;
}

void Emulator::inject(Endpoint endpoint, Fault fault) {
  std::lock_guard<std::mutex> lock(mutex_);
  faults_[endpoint].push_back(std::move(fault));
}

void Emulator::inject(Endpoint endpoint, TransportFault fault) {
  std::lock_guard<std::mutex> lock(mutex_);
  transport_faults_[endpoint].push_back(std::move(fault));
}

void Emulator::stop_server_once() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (server_stopped_) return;
    server_stopped_ = true;
  }
  server_->stop();  // httplib asserts when stopped twice
}

bool Emulator::vanished() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return vanished_;
}

void Emulator::set_observer(std::function<void(const RecordedCall&)> observer) {
  std::lock_guard<std::mutex> lock(mutex_);
  observer_ = std::move(observer);
}

std::vector<RecordedCall> Emulator::calls() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return calls_;
}

std::vector<RecordedCall> Emulator::calls_to(Endpoint endpoint) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<RecordedCall> out;
  for (const auto& c : calls_) {
    if (c.endpoint == endpoint) out.push_back(c);
  }
  return out;
}

bool Emulator::knows_identifier(const std::string& identifier) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return extensions_.count(identifier) > 0;
}

std::string Emulator::identifier() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return first_identifier_;
}

int Emulator::waiting_next() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return waiting_next_;
}

bool Emulator::wait_for_idle_next(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait_for(lock, timeout,
                    [&] { return stopping_ || (waiting_next_ > 0 && events_.empty()); });
  return !stopping_ && waiting_next_ > 0 && events_.empty();
}

bool Emulator::wait_until(const std::function<bool(const std::vector<RecordedCall>&)>& predicate,
                          std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return predicate(calls_); });
}

namespace {

// The next fault queued for `endpoint` (HTTP answers and transport faults alike): skips its
// `skip_calls` first, then counts down its `times`.
template <typename F>
std::optional<F> take_next(std::map<Endpoint, std::deque<F>>& queues, Endpoint endpoint) {
  auto it = queues.find(endpoint);
  if (it == queues.end() || it->second.empty()) return std::nullopt;
  F& f = it->second.front();
  if (f.skip_calls > 0) {
    --f.skip_calls;
    return std::nullopt;
  }
  F taken = f;
  if (--f.times <= 0) it->second.pop_front();
  return taken;
}

// What the tests and the trace see of one call, answered normally or broken by a fault.
RecordedCall recorded_call(Endpoint endpoint, const httplib::Request& req, int status,
                           const std::string& body) {
  RecordedCall call;
  call.endpoint = endpoint;
  call.method = req.method;
  call.path = req.path;
  for (const auto& [k, v] : req.headers) call.headers[k] = v;
  call.body = req.body;
  call.status = status;
  call.response_body = body;
  call.time_ms = wall_clock_ms();
  return call;
}

}  // namespace

std::optional<Fault> Emulator::take_fault(Endpoint endpoint) {
  return take_next(faults_, endpoint);
}

std::optional<TransportFault> Emulator::take_transport_fault(Endpoint endpoint) {
  return take_next(transport_faults_, endpoint);
}

void Emulator::record(const RecordedCall& call) {
  std::function<void(const RecordedCall&)> observer;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    calls_.push_back(call);
    observer = observer_;
  }
  changed_.notify_all();
  if (observer) observer(call);
}

void Emulator::install_routes() {
  using httplib::Request;
  using httplib::Response;
  const std::string base = kExtensionsApiBase;

  // Answers and records one call; every route goes through here.
  auto finish = [this](Endpoint endpoint, const Request& req, Response& res, int status,
                       const std::string& body, const char* content_type) {
    res.status = status;
    res.set_content(body, content_type);
    record(recorded_call(endpoint, req, status, body));
  };
  auto reject = [finish](Endpoint endpoint, const Request& req, Response& res, int status,
                         const std::string& type, const std::string& message) {
    finish(endpoint, req, res, status, error_body(type, message), "application/json");
  };
  // The identifier checks of RIE's middleware ([RIE]): missing → 403, not a UUID
  // → 403, unknown → 403. Returns the identifier when valid. Caller holds no lock.
  auto check_identifier = [this, reject](Endpoint endpoint, const Request& req,
                                         Response& res) -> std::optional<std::string> {
    const std::string id = req.get_header_value(kIdentifierHeader);
    if (id.empty()) {
      reject(endpoint, req, res, 403, "Extension.MissingExtensionIdentifier",
             "Missing Lambda-Extension-Identifier header");
      return std::nullopt;
    }
    if (!is_uuid(id)) {
      reject(endpoint, req, res, 403, "Extension.InvalidExtensionIdentifier",
             "Invalid Lambda-Extension-Identifier");
      return std::nullopt;
    }
    std::unique_lock<std::mutex> lock(mutex_);
    auto it = extensions_.find(id);
    if (it == extensions_.end()) {
      lock.unlock();
      reject(endpoint, req, res, 403, "Extension.UnknownExtensionIdentifier",
             "Unknown extension " + id);
      return std::nullopt;
    }
    if (it->second.errored) {
      lock.unlock();
      reject(endpoint, req, res, 403, "Extension.InvalidExtensionState",
             "the extension reported an error; no further calls succeed");
      return std::nullopt;
    }
    return id;
  };
  // Transport faults act before routing, so they apply to every endpoint (the Telemetry API's
  // too) and before the identifier checks.
  server_->set_pre_routing_handler([this](const Request& req, Response& res) {
    const Endpoint endpoint = endpoint_of(req.path);
    std::optional<TransportFault> fault;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      fault = take_transport_fault(endpoint);
    }
    if (!fault) return httplib::Server::HandlerResponse::Unhandled;
    const auto broken = [&](int status, const std::string& body) {
      record(recorded_call(endpoint, req, status, body));
      return httplib::Server::HandlerResponse::Handled;
    };
    switch (fault->kind) {
      case Transport::Slow: {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait_for(lock, std::chrono::milliseconds(fault->delay_ms),
                          [&] { return stopping_; });
        return httplib::Server::HandlerResponse::Unhandled;
      }
      case Transport::VanishAfter: {
        std::lock_guard<std::mutex> lock(mutex_);
        vanish_pending_ = true;
        return httplib::Server::HandlerResponse::Unhandled;
      }
      case Transport::Reset:
      case Transport::CloseBeforeAnswer: {
        const int fd = connection_fd(req.local_port, req.remote_port);
        if (fd >= 0 && fault->kind == Transport::Reset) {
          // connect(AF_UNSPEC) disconnects a TCP socket with an RST and leaves the fd to
          // httplib, whose answer then fails and which closes the fd itself.
          sockaddr unspec{};
          unspec.sa_family = AF_UNSPEC;
          (void)::connect(fd, &unspec, sizeof unspec);
        } else if (fd >= 0) {
          ::shutdown(fd, SHUT_RDWR);
        }
        return broken(0, "");
      }
      case Transport::CloseMidBody: {
        const std::string body = fault->body.empty()
                                     ? std::string(R"({"eventType":"INVOKE","deadlineMs":1,)"
                                                   R"("requestId":"cut-short"})")
                                     : fault->body;
        res.status = 200;
        // Promises the whole body, sends half, then fails the write: httplib closes.
        res.set_content_provider(body.size(), "application/json",
                                 [body](size_t, size_t, httplib::DataSink& sink) {
                                   sink.write(body.data(), body.size() / 2);
                                   return false;
                                 });
        return broken(0, body.substr(0, body.size() / 2));
      }
      case Transport::Body:
        res.status = fault->status;
        res.set_content(fault->body, "application/json");
        return broken(fault->status, fault->body);
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // After a VanishAfter call's answer is made: stop listening (new connections are refused);
  // httplib still writes this answer, then ends the keep-alive connection.
  server_->set_post_routing_handler([this](const Request&, Response&) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!vanish_pending_) return;
      vanish_pending_ = false;
      vanished_ = true;
    }
    stop_server_once();
  });

  auto injected = [this, reject](Endpoint endpoint, const Request& req, Response& res) {
    std::optional<Fault> fault;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      fault = take_fault(endpoint);
    }
    if (!fault) return false;
    reject(endpoint, req, res, fault->status, fault->error_type, fault->error_message);
    return true;
  };

  server_->Post(base + "/register", [=](const Request& req, Response& res) {
    if (injected(Endpoint::Register, req, res)) return;
    const std::string name = req.get_header_value(kNameHeader);
    if (name.empty()) {
      return reject(Endpoint::Register, req, res, 403, "Extension.InvalidExtensionName",
                    "Empty extension name");
    }
    auto doc = parse_json(req.body);
    if (!doc || !doc->IsObject()) {
      return reject(Endpoint::Register, req, res, 403, "InvalidRequestFormat",
                    "register body must be a JSON object");
    }
    if (json_member(*doc, "configurationKeys") != nullptr) {
      return reject(Endpoint::Register, req, res, 403, "InvalidRequestFormat",
                    "configurationKeys are deprecated; use environment variables instead");
    }
    if (const auto* events = json_member(*doc, "events"); events != nullptr) {
      if (!events->IsArray()) {
        return reject(Endpoint::Register, req, res, 403, "InvalidRequestFormat",
                      "events must be an array");
      }
      for (const auto& e : events->GetArray()) {
        const std::string type = e.IsString() ? e.GetString() : "";
        if (type != "INVOKE" && type != "SHUTDOWN") {
          return reject(Endpoint::Register, req, res, 403, "Extension.InvalidEventType",
                        "Invalid event type " + type);
        }
        // RIE's ValidateExternalAgentEvent in its Managed-Instances mode, word for word.
        if (type == "INVOKE" && platform_ == Platform::ManagedInstances) {
          return reject(Endpoint::Register, req, res, 403, "Extension.InvalidEventType",
                        "INVOKE: ErrorInvalidEventType");
        }
      }
    }
    const std::string features = req.get_header_value(kAcceptFeatureHeader);
    bool account_id = false;
    for (size_t pos = 0; pos <= features.size();) {
      size_t comma = features.find(',', pos);
      if (comma == std::string::npos) comma = features.size();
      std::string f = features.substr(pos, comma - pos);
      f.erase(0, f.find_first_not_of(' '));
      f.erase(f.find_last_not_of(' ') + 1);
      account_id = account_id || f == "accountId";
      pos = comma + 1;
    }
    std::string id;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      for (const auto& [existing, ext] : extensions_) {
        if (ext.name == name) {
          lock.unlock();
          return reject(Endpoint::Register, req, res, 403, "Extension.InvalidExtensionState",
                        "Extension " + name + " is already registered");
        }
      }
      if (static_cast<int>(extensions_.size()) >= kMaxExtensions) {
        lock.unlock();
        return reject(Endpoint::Register, req, res, 403, "Extension.TooManyExtensions",
                      "Too many extensions registered");
      }
      id = random_uuid();
      extensions_[id] = Registered{name, account_id, false};
      if (first_identifier_.empty()) first_identifier_ = id;
    }
    std::string body = R"({"functionName":)" + json_quote(function_.function_name) +
                       R"(,"functionVersion":)" + json_quote(function_.function_version) +
                       R"(,"handler":)" + json_quote(function_.handler);
    if (account_id) body += R"(,"accountId":)" + json_quote(function_.account_id);
    body += "}";
    res.set_header(kIdentifierHeader, id);
    finish(Endpoint::Register, req, res, 200, body, "application/json");
  });

  server_->Get(base + "/event/next", [=](const Request& req, Response& res) {
    if (!check_identifier(Endpoint::Next, req, res)) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      next_arrivals_.push_back(wall_clock_ms());
      last_next_arrival_ = std::chrono::steady_clock::now();
    }
    if (injected(Endpoint::Next, req, res)) return;
    std::string body;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      ++waiting_next_;
      changed_.notify_all();
      changed_.wait(lock, [&] { return stopping_ || !events_.empty(); });
      --waiting_next_;
      if (!events_.empty()) {
        body = std::move(events_.front());
        events_.pop_front();
      }
    }
    if (body.empty()) {
      return reject(Endpoint::Next, req, res, 500, "Runtime.Stopped", "the emulator is stopping");
    }
    // RIE: INVOKE is application/json with an event identifier; SHUTDOWN has no Content-Type
    // and Go sniffs it as text/plain ([RIE]).
    const bool is_shutdown = body.find(R"("eventType":"SHUTDOWN")") != std::string::npos;
    if (!is_shutdown) res.set_header("Lambda-Extension-Event-Identifier", random_uuid());
    finish(Endpoint::Next, req, res, 200, body,
           is_shutdown ? "text/plain; charset=utf-8" : "application/json");
  });

  auto error_route = [=](Endpoint endpoint) {
    return [=](const Request& req, Response& res) {
      auto id = check_identifier(endpoint, req, res);
      if (!id) return;
      if (injected(endpoint, req, res)) return;
      if (req.get_header_value(kErrorTypeHeader).empty()) {
        return reject(endpoint, req, res, 403, "Extension.MissingHeader",
                      std::string(kErrorTypeHeader) + " not found");
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        extensions_[*id].errored = true;
      }
      finish(endpoint, req, res, 202, R"({"status":"OK"})", "application/json");
    };
  };
  server_->Post(base + "/init/error", error_route(Endpoint::InitError));
  server_->Post(base + "/exit/error", error_route(Endpoint::ExitError));
}

}  // namespace extension_runner
