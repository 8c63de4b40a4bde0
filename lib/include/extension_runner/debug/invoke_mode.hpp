#pragma once
/**
 * @file invoke_mode.hpp
 * `extension-runner invoke`: start a child runtime, hand it one event (or N), print each
 * InvokeReply (with host-measured billing) as a JSON line. No Lambda, no emulator.
 */
#include <cstdint>
#include <optional>
#include <string>

#include "extension_runner/host/settings.hpp"

namespace extension_runner {

struct InvokeModeOptions {
  std::string runtime;     ///< Child command (`/bin/sh -c`).
  std::string event_path;  ///< File with the event JSON; "-" = stdin. Exclusive with request_path.
  std::string request_path;   ///< File with a seed ProxyRequest `{context, remaining, env, event}`.
  std::string handler;        ///< StartupRequest.handler.
  int64_t timeout_ms = 3000;  ///< Deadline = now + this (a ProxyRequest's `remaining` wins).
  std::string memory_mb;      ///< billing.memory (default: AWS_LAMBDA_FUNCTION_MEMORY_SIZE).
  int repeat = 1;             ///< Send the event this many times, then print a summary line.
};

/** Exit codes: 0 all replies had `errors:false`; 1 some had `errors:true`; 2 usage/startup. */
inline constexpr int kInvokeOk = 0;
inline constexpr int kInvokeReplyErrors = 1;
inline constexpr int kInvokeUsage = 2;

/**
 * Runs the invoke subcommand. Replies go to stdout, one JSON line each; with repeat > 1 a last
 * line `{"summary":{"invokes","errors","duration_ms":{"min","median","max"},"max_used_mb"}}`.
 */
int run_invoke_mode(const Config& config, const std::string& name,
                    const InvokeModeOptions& options);

}  // namespace extension_runner
