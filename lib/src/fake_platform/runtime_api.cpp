#include "extension_runner/fake_platform/runtime_api.hpp"

#include <httplib.h>

#include "extension_runner/core/json.hpp"

namespace extension_runner {
namespace {

constexpr const char* kBase = "/2018-06-01/runtime";
constexpr const char* kAccepted = R"({"status":"OK"})";
// The Extensions and Telemetry API calls in progress at once (an extension's `/next`, its
// subscription, init/exit error), with room to spare.
constexpr size_t kOtherWorkers = 8;

void answer_json(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "application/json");
}

std::string error_body(const std::string& type, const std::string& message) {
  return R"({"errorMessage":)" + json_quote(message) + R"(,"errorType":)" + json_quote(type) + "}";
}

}  // namespace

std::string runtime_error_type(const std::string& body) {
  auto doc = parse_json(body);
  if (!doc || !doc->IsObject()) return "";
  return json_string(*doc, "errorType").value_or("");
}

void RuntimeApiEmulator::install(httplib::Server& server, size_t runtimes) {
  using httplib::Request;
  using httplib::Response;
  // Each runtime connection (through a proxy: its upstream connection) keeps a worker while it
  // waits in `/next`; the rest serve the extension's calls and the runtimes' answers.
  const size_t workers = kOtherWorkers + 2 * runtimes;
  server.new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  const std::string base = kBase;
  server.Get(base + "/invocation/next",
             [this](const Request&, Response& res) { answer_next(res); });
  server.Post(base + R"(/invocation/([^/]+)/response)", [this](const Request& req, Response& res) {
    answer_invocation(req, res, RuntimeOutcome::Response);
  });
  server.Post(base + R"(/invocation/([^/]+)/error)", [this](const Request& req, Response& res) {
    answer_invocation(req, res, RuntimeOutcome::Error);
  });
  server.Post(base + "/init/error",
              [this](const Request& req, Response& res) { answer_init_error(req, res); });
}

void RuntimeApiEmulator::push(RuntimeEvent event) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queued_.push_back(std::move(event));
  }
  changed_.notify_all();
}

void RuntimeApiEmulator::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
}

void RuntimeApiEmulator::set_observers(std::function<void(const HandedOut&)> on_handed_out,
                                       std::function<void(const RuntimeAnswer&)> on_answer) {
  std::lock_guard<std::mutex> lock(mutex_);
  on_handed_out_ = std::move(on_handed_out);
  on_answer_ = std::move(on_answer);
}

std::optional<RuntimeAnswer> RuntimeApiEmulator::wait_for_answer(
    const std::string& request_id, std::chrono::steady_clock::time_point until) const {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait_until(lock, until, [&] { return answered_.count(request_id) > 0 || stopping_; });
  const auto found = answered_.find(request_id);
  if (found == answered_.end()) return std::nullopt;
  return answers_[found->second];
}

std::optional<std::chrono::steady_clock::time_point> RuntimeApiEmulator::handed_out_at(
    const std::string& request_id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto found = handed_out_.find(request_id);
  if (found == handed_out_.end()) return std::nullopt;
  return found->second;
}

std::vector<RuntimeAnswer> RuntimeApiEmulator::answers() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return answers_;
}

// The runtime waits here for as long as the function is idle: Lambda freezes the sandbox
// meanwhile, so there is no timeout to give, only the emulation's end.
void RuntimeApiEmulator::answer_next(httplib::Response& res) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [this] { return !queued_.empty() || stopping_; });
  if (queued_.empty()) {
    answer_json(res, 500, error_body("Runtime.Unavailable", "the platform is shutting down"));
    return;
  }
  RuntimeEvent event = std::move(queued_.front());
  queued_.pop_front();
  const auto at = std::chrono::steady_clock::now();
  handed_out_[event.request_id] = at;
  auto observer = on_handed_out_;
  lock.unlock();
  res.status = 200;
  res.set_header("Lambda-Runtime-Aws-Request-Id", event.request_id);
  res.set_header("Lambda-Runtime-Deadline-Ms", std::to_string(event.deadline_ms));
  res.set_header("Lambda-Runtime-Invoked-Function-Arn", event.invoked_function_arn);
  if (!event.trace_id.empty()) res.set_header("Lambda-Runtime-Trace-Id", event.trace_id);
  res.set_content(event.body, "application/json");
  if (observer) observer(HandedOut{event.request_id, at});
}

void RuntimeApiEmulator::answer_invocation(const httplib::Request& req, httplib::Response& res,
                                           RuntimeOutcome outcome) {
  RuntimeAnswer answer;
  answer.at = std::chrono::steady_clock::now();
  answer.outcome = outcome;
  answer.request_id = req.matches.size() > 1 ? req.matches[1].str() : "";
  answer.body = req.body;
  if (outcome == RuntimeOutcome::Error) {
    answer.error_type = req.get_header_value("Lambda-Runtime-Function-Error-Type");
    if (answer.error_type.empty()) answer.error_type = runtime_error_type(req.body);
  }
  bool known = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    known = handed_out_.count(answer.request_id) > 0 && answered_.count(answer.request_id) == 0;
  }
  if (!known) {
    // Not recorded as the invocation's answer: the id is not one in progress.
    answer_json(res, 400,
                error_body("InvalidRequestID",
                           "no invocation " + answer.request_id + " is waiting for an answer"));
    return;
  }
  if (req.body.size() > kRuntimeApiMaxPayloadBytes) {
    answer.status = 413;
    answer_json(res, 413,
                error_body("RequestEntityTooLarge", "Exceeded maximum allowed payload size (" +
                                                        std::to_string(kRuntimeApiMaxPayloadBytes) +
                                                        " bytes)."));
  } else {
    answer.status = 202;
    answer_json(res, 202, kAccepted);
  }
  record(answer);
}

void RuntimeApiEmulator::answer_init_error(const httplib::Request& req, httplib::Response& res) {
  RuntimeAnswer answer;
  answer.at = std::chrono::steady_clock::now();
  answer.outcome = RuntimeOutcome::InitError;
  answer.body = req.body;
  answer.error_type = req.get_header_value("Lambda-Runtime-Function-Error-Type");
  if (answer.error_type.empty()) answer.error_type = runtime_error_type(req.body);
  answer.status = 202;
  answer_json(res, 202, kAccepted);
  record(answer);
}

void RuntimeApiEmulator::record(const RuntimeAnswer& answer) {
  std::function<void(const RuntimeAnswer&)> observer;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!answer.request_id.empty()) answered_[answer.request_id] = answers_.size();
    answers_.push_back(answer);
    observer = on_answer_;
  }
  changed_.notify_all();
  if (observer) observer(answer);
}

}  // namespace extension_runner
