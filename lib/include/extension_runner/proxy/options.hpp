#pragma once
/**
 * @file options.hpp
 * The Runtime API proxy's options: each with its default and the reason for it, in one place,
 * plus pure parsers for their text forms (environment variables, flags, config-file values).
 * The host maps its settings (`EXTENSION_RUNNER_PROXY`, `…_PROXY_HOOK_TIMEOUT_MS`,
 * `…_PROXY_FAIL`, `…_PROXY_NEXT_WRAPPER`) onto this struct; nothing here reads the environment.
 */
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "extension_runner/core/result.hpp"

namespace extension_runner {

/** What the proxy does with each invocation (docs/runner-protocol.md, "Runtime API proxy"). */
enum class ProxyMode {
  Off,        ///< No proxy: the runtime talks to Lambda directly. (A ProxyServer started in
              ///< this mode passes everything through: no hooks, no copies.)
  Observe,    ///< Copies of each event and response go to the hooks after they were forwarded.
  Intercept,  ///< The event and the response are forwarded only after the hooks decided.
};

/** What a failed hook (timeout, crash, malformed answer) does to the invocation. */
enum class FailPolicy {
  Open,    ///< Forward the original unchanged (one WARN, a counter).
  Closed,  ///< Fail the invocation with kHookFailedErrorType instead.
};

/** A `host:port` pair (AWS_LAMBDA_RUNTIME_API form [VARS]). */
struct HostPort {
  std::string host;
  uint16_t port = 0;
  /** `host:port`. */
  std::string to_string() const;
};

/**
 * Lambda's largest synchronous payload, 6 MB [LIMITS]: its 413 `RequestEntityTooLarge` answer
 * names "6291556 bytes", 6 MiB + 100.
 */
inline constexpr size_t kLambdaMaxPayloadBytes = 6 * 1024 * 1024 + 100;

struct ProxyOptions {
  /**
   * Off by default: the proxy helps only when the runtime is pointed at it (through the exec
   * wrapper [WRAPPER]), so it must be asked for.
   */
  ProxyMode mode = ProxyMode::Off;

  /**
   * A hook's budget per call, further bounded by the invocation's deadline. 1 s: hooks sit on
   * the billed path of every invocation, so a stuck hook must cost little, while a Python hook
   * parsing and validating a 6 MiB event (~100 ms here) still has ten times its need.
   */
  int64_t hook_timeout_ms = 1000;

  /**
   * Open by default: a broken hook must not take the function down with it. Security hooks
   * that must never be skipped ask for Closed.
   */
  FailPolicy fail = FailPolicy::Open;

  /**
   * Where the proxy listens. Loopback, port 0 = an ephemeral port chosen at bind: no fixed port
   * can collide with another vendor's proxy, and the host binds before `/register` (the runtime
   * starts only after every extension registered [EXT]) and hands the address to `wrap`.
   */
  HostPort listen{"127.0.0.1", 0};

  /** The real Runtime API (`AWS_LAMBDA_RUNTIME_API` as the extension sees it [VARS]). Required. */
  HostPort upstream;

  /**
   * The largest body the proxy holds whole (an event for the REQUEST hook, a response for the
   * RESPONSE hook): Lambda's own limit plus 64 KiB, so every body Lambda accepts can be
   * inspected, while a larger one (or a streamed response) passes through chunk by chunk
   * unseen by the hooks and Lambda answers it as it would without the proxy (413).
   */
  size_t body_limit_bytes = kLambdaMaxPayloadBytes + 64 * 1024;

  /**
   * Observe copies waiting for the hooks, at most this many and this many body bytes; beyond
   * either, new copies are dropped and counted. 256 small events ride out a burst; 8 MiB holds
   * one largest payload, and bounds what a slow child can make the proxy keep.
   */
  size_t observe_queue_items = 256;
  size_t observe_queue_bytes = 8 * 1024 * 1024;

  /**
   * Runtime connections served at once (each has one thread). Runtimes keep one connection per
   * worker (`AWS_LAMBDA_MAX_CONCURRENCY` on Managed Instances [LMI]); 256 is far above that and
   * stops a connection leak from exhausting threads. Connections beyond it get 503.
   */
  size_t max_connections = 256;

  /**
   * Connect timeout towards the upstream Runtime API. It is local: a connect slower than 1 s
   * means it is gone (aws-lambda-cpp uses the same [CPP]). Requests themselves have no timeout:
   * `/next` blocks across sandbox freezes [EXT].
   */
  int64_t upstream_connect_timeout_ms = 1000;

  /**
   * Another exec wrapper `wrap` hands the runtime's command to instead of executing it
   * ("" = none): Lambda runs one AWS_LAMBDA_EXEC_WRAPPER [WRAPPER], so a function that already
   * had one keeps it by naming it here.
   */
  std::string next_wrapper;
};

/** Bounds of ProxyOptions::hook_timeout_ms: 1 ms up to Lambda's 15 min function timeout. */
inline constexpr int64_t kMinHookTimeoutMs = 1;
inline constexpr int64_t kMaxHookTimeoutMs = 900000;

/** Error type of an invocation failed closed by the proxy (FailPolicy::Closed). */
inline constexpr const char* kHookFailedErrorType = "Extension.ProxyHookFailed";

/** `off`, `observe` or `intercept`. */
const char* proxy_mode_name(ProxyMode mode);
/** `open` or `closed`. */
const char* fail_policy_name(FailPolicy policy);

/** Parses `off` | `observe` | `intercept` (exactly). ConfigInvalid naming the choices otherwise. */
Result<ProxyMode> parse_proxy_mode(std::string_view text);
/** Parses `open` | `closed` (exactly). ConfigInvalid naming the choices otherwise. */
Result<FailPolicy> parse_fail_policy(std::string_view text);
/** Parses a decimal integer in [kMinHookTimeoutMs, kMaxHookTimeoutMs]. */
Result<int64_t> parse_hook_timeout_ms(std::string_view text);
/**
 * Parses `host:port` (port 0-65535; host non-empty, without `/` or spaces). `what` names the
 * setting in the error message.
 */
Result<HostPort> parse_host_port(std::string_view text, std::string_view what);

/**
 * Checks a whole ProxyOptions before a server starts: the upstream is set with a port, the
 * listen host is an IPv4 loopback address (the proxy serves the Runtime API, which must never
 * be reachable from outside the sandbox), the listen address is not the upstream's, and the
 * limits are positive. ConfigInvalid with the offending value otherwise.
 */
Result<void> validate_proxy_options(const ProxyOptions& options);

}  // namespace extension_runner
