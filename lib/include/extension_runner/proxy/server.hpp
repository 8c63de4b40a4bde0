#pragma once
/**
 * @file server.hpp
 * The Runtime API proxy [LRAP]: serves the Runtime API on loopback for a runtime whose
 * `AWS_LAMBDA_RUNTIME_API` points here, forwards every call to the real one, and lets the
 * InvocationHooks see (observe) or decide (intercept) each invocation's event and response
 * (docs/runner-protocol.md, "Runtime API proxy").
 *
 * Threads: one accepts connections; each runtime connection then has its own thread, which
 * serves that connection's requests one after another, hooks included (a runtime worker keeps
 * one connection; concurrent invocations are concurrent connections and never wait on each
 * other); one more hands observe copies to the hooks. Memory: a held body (an event, a buffered
 * response, up to ProxyOptions::body_limit_bytes) is kept once, plus what the hooks make of it;
 * a streamed body costs one 64 KiB buffer per direction, however long it runs.
 */
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "extension_runner/core/result.hpp"
#include "extension_runner/proxy/hooks.hpp"
#include "extension_runner/proxy/options.hpp"
#include "extension_runner/proxy/stats.hpp"

namespace extension_runner {

/** Owns the listening socket, every connection and the threads. Not copyable or movable. */
class ProxyServer {
 public:
  /** `hooks` must outlive the server. Nothing runs before start(). */
  ProxyServer(ProxyOptions options, InvocationHooks& hooks);
  /** stop(0). */
  ~ProxyServer();
  ProxyServer(const ProxyServer&) = delete;
  ProxyServer& operator=(const ProxyServer&) = delete;

  /**
   * Validates the options (validate_proxy_options), binds and listens, and starts serving.
   * Returns the bound address (the ephemeral port when ProxyOptions::listen asked for port 0):
   * the host binds before `/register`, since Lambda starts the runtime only after every
   * extension registered [EXT], and gives the address to the runtime (`wrap`). ConfigInvalid
   * for bad options, ListenerFailed when the address cannot be bound. Once only.
   */
  Result<HostPort> start();

  /**
   * Ends everything: stops accepting, shuts every runtime connection and every upstream request
   * in progress (a held `/next` included; its runtime sees its connection close), waits for the
   * connection threads (a hook call in progress is waited for: it ends by its deadline, or when
   * the host cancels it), then gives queued observe copies up to `drain_budget_ms` and drops
   * (counts) the rest. Idempotent; the counters stay readable.
   */
  void stop(int64_t drain_budget_ms = 0);

  /**
   * Waits until invocation `request_id` has ended through the proxy (answered, settled by a
   * hook, or its runtime's connection closed) and its observe copies are delivered
   * (ObserveQueue::await), or until `until`: on Lambda the host calls it before asking for the
   * next event, so the copies reach the child before the environment freezes [EXT]. Returns
   * false at once while no runtime has sent the proxy a request (one that does not use the
   * proxy leaves nothing to wait for; one that does asks for its first event before any
   * invocation starts), and when stopping.
   */
  bool await_invocation(const std::string& request_id, std::chrono::steady_clock::time_point until);

  /** The counters so far, observe drops included; for the summary line (describe_counters). */
  ProxyCounters counters() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace extension_runner
