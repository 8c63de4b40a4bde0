#include "extension_runner/fake_platform/extensions_api.hpp"

#include <httplib.h>
#include <strings.h>

#include <random>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/json.hpp"
#include "extension_runner/core/socket.hpp"
#include "extension_runner/core/uuid.hpp"
#include "extension_runner/lambda/extensions_api.hpp"

namespace extension_runner {
namespace {

constexpr int kMaxExtensions = 10;  // [EXT]: at most 10 extensions per function

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

// The Accept-Feature header's comma-separated list names `feature`.
bool accepts_feature(const std::string& features, const std::string& feature) {
  for (size_t pos = 0; pos <= features.size();) {
    size_t comma = features.find(',', pos);
    if (comma == std::string::npos) comma = features.size();
    std::string f = features.substr(pos, comma - pos);
    f.erase(0, f.find_first_not_of(' '));
    f.erase(f.find_last_not_of(' ') + 1);
    if (f == feature) return true;
    pos = comma + 1;
  }
  return false;
}

}  // namespace

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
    stop_listening();
    thread_.join();
  }
}

void Emulator::push_invoke(const std::string& request_id, int64_t deadline_ms,
                           const std::string& invoked_function_arn, bool with_tracing) {
  std::string body = R"({"eventType":"INVOKE","deadlineMs":)" + std::to_string(deadline_ms) +
                     R"(,"requestId":)" + json_quote(request_id) + R"(,"invokedFunctionArn":)" +
                     json_quote(invoked_function_arn);
  if (with_tracing) {
    body += R"(,"tracing":{"type":"X-Amzn-Trace-Id","value":)" + json_quote(kDefaultTraceId) + "}";
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

void Emulator::set_before_route(BeforeRoute hook) {
  std::lock_guard<std::mutex> lock(mutex_);
  before_route_ = std::move(hook);
}

void Emulator::stop_listening() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (listening_stopped_) return;
    listening_stopped_ = true;
  }
  // httplib asserts when stopped twice. Its stop() closes the listening socket only; each
  // connection's keep-alive loop ends after the answer in progress, as it sees no listener.
  server_->stop();
}

bool Emulator::wait_for_stop(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return stopping_; });
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

// The next fault queued for `endpoint`: skips its `skip_calls` first, then counts down its
// `times`.
std::optional<Fault> take_next(std::map<Endpoint, std::deque<Fault>>& queues, Endpoint endpoint) {
  auto it = queues.find(endpoint);
  if (it == queues.end() || it->second.empty()) return std::nullopt;
  Fault& f = it->second.front();
  if (f.skip_calls > 0) {
    --f.skip_calls;
    return std::nullopt;
  }
  Fault taken = f;
  if (--f.times <= 0) it->second.pop_front();
  return taken;
}

// What the tests and the trace see of one call, answered by its route or by a hook.
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
  // Before routing, so that a hook sees every path of the server (the Telemetry API's too).
  server_->set_pre_routing_handler([this](const Request& req, Response& res) {
    return run_before_route(req, res) ? httplib::Server::HandlerResponse::Handled
                                      : httplib::Server::HandlerResponse::Unhandled;
  });
  server_->Post(base + "/register",
                [this](const Request& req, Response& res) { answer_register(req, res); });
  server_->Get(base + "/event/next",
               [this](const Request& req, Response& res) { answer_next(req, res); });
  server_->Post(base + "/init/error", [this](const Request& req, Response& res) {
    answer_error_report(Endpoint::InitError, req, res);
  });
  server_->Post(base + "/exit/error", [this](const Request& req, Response& res) {
    answer_error_report(Endpoint::ExitError, req, res);
  });
}

std::optional<HookAnswer> Emulator::run_before_route(const httplib::Request& req,
                                                     httplib::Response& res) {
  BeforeRoute hook;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    hook = before_route_;
  }
  if (!hook) return std::nullopt;
  const Endpoint endpoint = endpoint_of(req.path);
  auto answer = hook(endpoint, req, res);
  if (answer) record(recorded_call(endpoint, req, answer->status, answer->body));
  return answer;
}

void Emulator::answer_register(const httplib::Request& req, httplib::Response& res) {
  if (answer_fault(Endpoint::Register, req, res)) return;
  const std::string name = req.get_header_value(kNameHeader);
  if (name.empty()) {
    return reject(Endpoint::Register, req, res, 403, "Extension.InvalidExtensionName",
                  "Empty extension name");
  }
  auto refusal = refuse_register_body(req.body);
  const bool account_id = accepts_feature(req.get_header_value(kAcceptFeatureHeader), "accountId");
  std::string id;
  if (!refusal) refusal = add_extension(name, account_id, id);
  if (refusal) return reject(Endpoint::Register, req, res, 403, refusal->type, refusal->message);
  res.set_header(kIdentifierHeader, id);
  finish(Endpoint::Register, req, res, 200, register_body(account_id), "application/json");
}

std::optional<Emulator::Refusal> Emulator::refuse_register_body(const std::string& body) const {
  auto doc = parse_json(body);
  if (!doc || !doc->IsObject()) {
    return Refusal{"InvalidRequestFormat", "register body must be a JSON object"};
  }
  if (json_member(*doc, "configurationKeys") != nullptr) {
    return Refusal{"InvalidRequestFormat",
                   "configurationKeys are deprecated; use environment variables instead"};
  }
  const auto* events = json_member(*doc, "events");
  if (events == nullptr) return std::nullopt;
  if (!events->IsArray()) return Refusal{"InvalidRequestFormat", "events must be an array"};
  for (const auto& e : events->GetArray()) {
    const std::string type = e.IsString() ? e.GetString() : "";
    if (type != "INVOKE" && type != "SHUTDOWN") {
      return Refusal{"Extension.InvalidEventType", "Invalid event type " + type};
    }
    // RIE's ValidateExternalAgentEvent in its Managed-Instances mode, word for word.
    if (type == "INVOKE" && platform_ == Platform::ManagedInstances) {
      return Refusal{"Extension.InvalidEventType", "INVOKE: ErrorInvalidEventType"};
    }
  }
  return std::nullopt;
}

std::optional<Emulator::Refusal> Emulator::add_extension(const std::string& name, bool account_id,
                                                         std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [existing, ext] : extensions_) {
    if (ext.name == name) {
      return Refusal{"Extension.InvalidExtensionState",
                     "Extension " + name + " is already registered"};
    }
  }
  if (static_cast<int>(extensions_.size()) >= kMaxExtensions) {
    return Refusal{"Extension.TooManyExtensions", "Too many extensions registered"};
  }
  id = random_uuid();
  extensions_[id] = Registered{name, account_id, false};
  if (first_identifier_.empty()) first_identifier_ = id;
  return std::nullopt;
}

std::string Emulator::register_body(bool account_id) const {
  std::string body = R"({"functionName":)" + json_quote(function_.function_name) +
                     R"(,"functionVersion":)" + json_quote(function_.function_version) +
                     R"(,"handler":)" + json_quote(function_.handler);
  if (account_id) body += R"(,"accountId":)" + json_quote(function_.account_id);
  return body + "}";
}

void Emulator::answer_next(const httplib::Request& req, httplib::Response& res) {
  if (!check_identifier(Endpoint::Next, req, res)) return;
  note_next_arrival();
  if (answer_fault(Endpoint::Next, req, res)) return;
  const std::string body = wait_for_event();
  if (body.empty()) {
    return reject(Endpoint::Next, req, res, 500, "Runtime.Stopped", "the emulator is stopping");
  }
  // RIE: INVOKE is application/json with an event identifier; SHUTDOWN has no Content-Type
  // and Go sniffs it as text/plain ([RIE]).
  const bool is_shutdown = body.find(R"("eventType":"SHUTDOWN")") != std::string::npos;
  if (!is_shutdown) res.set_header("Lambda-Extension-Event-Identifier", random_uuid());
  finish(Endpoint::Next, req, res, 200, body,
         is_shutdown ? "text/plain; charset=utf-8" : "application/json");
}

void Emulator::note_next_arrival() {
  std::lock_guard<std::mutex> lock(mutex_);
  next_arrivals_.push_back(wall_clock_ms());
  last_next_arrival_ = std::chrono::steady_clock::now();
}

std::string Emulator::wait_for_event() {
  std::unique_lock<std::mutex> lock(mutex_);
  ++waiting_next_;
  changed_.notify_all();
  changed_.wait(lock, [&] { return stopping_ || !events_.empty(); });
  --waiting_next_;
  if (events_.empty()) return "";
  std::string body = std::move(events_.front());
  events_.pop_front();
  return body;
}

void Emulator::answer_error_report(Endpoint endpoint, const httplib::Request& req,
                                   httplib::Response& res) {
  auto id = check_identifier(endpoint, req, res);
  if (!id) return;
  if (answer_fault(endpoint, req, res)) return;
  if (req.get_header_value(kErrorTypeHeader).empty()) {
    return reject(endpoint, req, res, 403, "Extension.MissingHeader",
                  std::string(kErrorTypeHeader) + " not found");
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    extensions_[*id].errored = true;
  }
  finish(endpoint, req, res, 202, R"({"status":"OK"})", "application/json");
}

// The identifier checks of RIE's middleware ([RIE]): missing → 403, not a UUID → 403, unknown
// → 403, after an error report → 403.
std::optional<std::string> Emulator::check_identifier(Endpoint endpoint,
                                                      const httplib::Request& req,
                                                      httplib::Response& res) {
  const std::string id = req.get_header_value(kIdentifierHeader);
  std::optional<Refusal> refusal;
  if (id.empty()) {
    refusal = Refusal{"Extension.MissingExtensionIdentifier",
                      "Missing Lambda-Extension-Identifier header"};
  } else if (!is_uuid(id)) {
    refusal =
        Refusal{"Extension.InvalidExtensionIdentifier", "Invalid Lambda-Extension-Identifier"};
  } else {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = extensions_.find(id);
    if (it == extensions_.end()) {
      refusal = Refusal{"Extension.UnknownExtensionIdentifier", "Unknown extension " + id};
    } else if (it->second.errored) {
      refusal = Refusal{"Extension.InvalidExtensionState",
                        "the extension reported an error; no further calls succeed"};
    }
  }
  if (!refusal) return id;
  reject(endpoint, req, res, 403, refusal->type, refusal->message);
  return std::nullopt;
}

bool Emulator::answer_fault(Endpoint endpoint, const httplib::Request& req,
                            httplib::Response& res) {
  std::optional<Fault> fault;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    fault = take_next(faults_, endpoint);
  }
  if (!fault) return false;
  reject(endpoint, req, res, fault->status, fault->error_type, fault->error_message);
  return true;
}

void Emulator::reject(Endpoint endpoint, const httplib::Request& req, httplib::Response& res,
                      int status, const std::string& type, const std::string& message) {
  finish(endpoint, req, res, status, json_error_object(type, message), "application/json");
}

// Every route answers through here, so every answered call is recorded.
void Emulator::finish(Endpoint endpoint, const httplib::Request& req, httplib::Response& res,
                      int status, const std::string& body, const char* content_type) {
  res.status = status;
  res.set_content(body, content_type);
  record(recorded_call(endpoint, req, status, body));
}

}  // namespace extension_runner
