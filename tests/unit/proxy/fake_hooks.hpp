#pragma once
// Test hooks for the proxy: scripted answers, and a gate that holds observe() until opened.
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "extension_runner/proxy/hooks.hpp"

namespace proxy_test {

class ScriptedHooks : public extension_runner::InvocationHooks {
 public:
  using Answer = std::function<extension_runner::Result<extension_runner::HookReply>(
      const extension_runner::HookCall&)>;
  explicit ScriptedHooks(Answer answer = {}) : answer_(std::move(answer)) {}

  extension_runner::Result<extension_runner::HookReply> on_request(
      extension_runner::HookCall call) override {
    return answer(call);
  }
  extension_runner::Result<extension_runner::HookReply> on_response(
      extension_runner::HookCall call) override {
    return answer(call);
  }
  void observe(extension_runner::HookCall call) override {
    std::unique_lock<std::mutex> lock(mutex_);
    observed_.push_back(call.event.text());
    ++entered_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return open_; });
  }

  /** The held observe() returns, as the host's does at once; counted. */
  void abandon_observe() override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++abandoned_;
    open_ = true;
    cv_.notify_all();
  }

  /** Lets observe() return (it blocks until then). */
  void open_gate() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }
  /** Waits until observe() was entered `n` times. */
  void wait_observed(size_t n) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return entered_ >= n; });
  }
  std::vector<std::string> observed() {
    std::lock_guard<std::mutex> lock(mutex_);
    return observed_;
  }
  size_t abandoned() {
    std::lock_guard<std::mutex> lock(mutex_);
    return abandoned_;
  }
  size_t asked() {
    std::lock_guard<std::mutex> lock(mutex_);
    return asked_;
  }

 private:
  extension_runner::Result<extension_runner::HookReply> answer(
      const extension_runner::HookCall& call) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++asked_;
    }
    return answer_(call);
  }

  Answer answer_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
  size_t entered_ = 0;
  size_t asked_ = 0;
  size_t abandoned_ = 0;
  std::vector<std::string> observed_;
};

}  // namespace proxy_test
