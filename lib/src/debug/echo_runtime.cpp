#include "extension_runner/debug/echo_runtime.hpp"

#include <httplib.h>

namespace extension_runner {
namespace {

constexpr const char* kNextPath = "/2018-06-01/runtime/invocation/next";

std::string response_path(const std::string& request_id) {
  return "/2018-06-01/runtime/invocation/" + request_id + "/response";
}

}  // namespace

EchoRuntime::EchoRuntime(const std::string& address, int64_t work_ms, size_t max_events)
    : client_(std::make_unique<httplib::Client>("http://" + address)) {
  // A runtime waits in `/next` for as long as the function is idle; the emulation's end (or the
  // destructor's stop()) is what ends that wait, not a timeout.
  client_->set_read_timeout(std::chrono::hours(1));
  // One connection for every call, as the runtimes keep theirs.
  client_->set_keep_alive(true);
  // Headers and body go out in separate writes; with Nagle on, the server's delayed ACK adds
  // ~40 ms to every response POST, which would swamp what the proxy adds.
  client_->set_tcp_nodelay(true);
  thread_ = std::thread([this, max_events, work_ms] { loop(max_events, work_ms); });
}

EchoRuntime::~EchoRuntime() {
  client_->stop();
  // stop() only aborts a call in progress; one begun just after it would wait for its answer.
  while (!wait_ended(std::chrono::steady_clock::now() + std::chrono::milliseconds(100))) {
    client_->stop();
  }
  thread_.join();
}

std::optional<RuntimeStamps> EchoRuntime::stamps(const std::string& request_id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto found = stamps_.find(request_id);
  if (found == stamps_.end()) return std::nullopt;
  return found->second;
}

bool EchoRuntime::wait_ended(std::chrono::steady_clock::time_point until) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return ended_cv_.wait_until(lock, until, [this] { return ended_; });
}

std::string EchoRuntime::end_reason() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return end_reason_;
}

void EchoRuntime::loop(size_t max_events, int64_t work_ms) {
  for (size_t n = 0; max_events == 0 || n < max_events; ++n) {
    auto next = client_->Get(kNextPath);
    if (!next) return end("/next failed: " + httplib::to_string(next.error()));
    if (next->status != 200) return end("/next answered " + std::to_string(next->status));
    RuntimeStamps stamps;
    stamps.got_event = std::chrono::steady_clock::now();
    const std::string request_id = next->get_header_value("Lambda-Runtime-Aws-Request-Id");
    if (request_id.empty()) return end("/next gave no Lambda-Runtime-Aws-Request-Id");
    // The function's emulated run time.
    if (work_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(work_ms));
    stamps.sent_answer = std::chrono::steady_clock::now();
    {
      // Before the POST: the platform may look as soon as the answer reached it.
      std::lock_guard<std::mutex> lock(mutex_);
      stamps_[request_id] = stamps;
    }
    auto answer = client_->Post(response_path(request_id), next->body, "application/json");
    if (!answer) return end("/response failed: " + httplib::to_string(answer.error()));
  }
  end("done");
}

void EchoRuntime::end(std::string reason) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ended_ = true;
    end_reason_ = std::move(reason);
  }
  ended_cv_.notify_all();
}

}  // namespace extension_runner
