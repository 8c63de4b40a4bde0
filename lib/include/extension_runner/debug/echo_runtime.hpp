#pragma once
/**
 * @file echo_runtime.hpp
 * `emulate --proxy`'s built-in function: a thread speaking the Runtime API [RAPI] as a runtime
 * does, `/next` then `/{id}/response` with the event as the response, noting when it had each
 * event and when it began answering (the two ends the proxy's added latency is measured
 * between).
 */
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace httplib {
class Client;
}  // namespace httplib

namespace extension_runner {

/** The runtime's side of one invocation. */
struct RuntimeStamps {
  std::chrono::steady_clock::time_point got_event;    ///< `/next` returned the event.
  std::chrono::steady_clock::time_point sent_answer;  ///< The response POST began.
};

class EchoRuntime {
 public:
  /**
   * Starts the runtime's thread against `address` (`host:port`, what AWS_LAMBDA_RUNTIME_API
   * holds). Each event is answered `work_ms` after it arrived (the function's emulated run
   * time). The thread ends when `/next` fails (the API or the proxy went away) or after
   * `max_events` events (0: no bound).
   */
  EchoRuntime(const std::string& address, int64_t work_ms, size_t max_events = 0);
  /** Aborts a `/next` in progress and joins the thread. */
  ~EchoRuntime();
  EchoRuntime(const EchoRuntime&) = delete;
  EchoRuntime& operator=(const EchoRuntime&) = delete;

  /** The stamps of `request_id` once its answer is being sent; nullopt before (or never). */
  std::optional<RuntimeStamps> stamps(const std::string& request_id) const;

  /** Waits until the thread ended (its `/next` failed or its events are done) or `until`. */
  bool wait_ended(std::chrono::steady_clock::time_point until) const;

  /** Why the loop ended ("" while it runs). */
  std::string end_reason() const;

 private:
  void loop(size_t max_events, int64_t work_ms);
  void end(std::string reason);

  std::unique_ptr<httplib::Client> client_;
  mutable std::mutex mutex_;
  mutable std::condition_variable ended_cv_;
  std::map<std::string, RuntimeStamps> stamps_;
  std::string end_reason_;
  bool ended_ = false;
  std::thread thread_;  ///< Last: started once everything it uses exists.
};

}  // namespace extension_runner
