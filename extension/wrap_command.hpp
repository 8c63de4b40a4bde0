#pragma once
/**
 * @file wrap_command.hpp
 * `extension-runner wrap -- CMD ARGS…`: what the layer's exec wrapper `/opt/<name>/wrapper`
 * runs (AWS_LAMBDA_EXEC_WRAPPER [WRAPPER]) to point the function's runtime at the Runtime API
 * proxy (docs/proxy.md). A wrapper left in place must never break the function: whatever goes
 * wrong, one line on stderr and CMD runs as Lambda would have run it.
 */
#include <map>
#include <string>
#include <vector>

#include "extension_runner/host/settings.hpp"

namespace extension_runner::cli {

/** How long `wrap` waits for the proxy's address file before running CMD without the proxy. */
inline constexpr int64_t kWrapAddressWaitMs = 1000;

/**
 * The variables `wrap` sets for the runtime: `AWS_LAMBDA_RUNTIME_API` = `proxy_address` (the
 * proxy's `host:port`). Empty when `proxy_address` is "" (no proxy: nothing changes).
 */
std::map<std::string, std::string> runtime_exports(const Config& config,
                                                   const std::string& proxy_address);

/**
 * The program `wrap` executes: `command` itself, or `config.proxy.next_wrapper` followed by
 * `command` when one is set (Lambda runs one exec wrapper; this keeps the function's own).
 */
std::vector<std::string> wrapped_argv(const Config& config,
                                      const std::vector<std::string>& command);

/**
 * Loads the configuration as Lambda mode does (environment and the layer's file; no flags),
 * and with the proxy on waits up to kWrapAddressWaitMs for its address file, exports
 * runtime_exports() and executes wrapped_argv(). Returns only when nothing can be executed:
 * 2 without a command, 127 when exec fails.
 */
int run_wrap(const std::string& argv0, const std::vector<std::string>& command);

}  // namespace extension_runner::cli
