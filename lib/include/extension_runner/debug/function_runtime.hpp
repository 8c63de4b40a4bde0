#pragma once
/**
 * @file function_runtime.hpp
 * `emulate --proxy … --function CMD`: the function's runtime as a process, started as
 * `extension-runner wrap -- CMD` would leave it: `AWS_LAMBDA_RUNTIME_API` naming the proxy
 * (docs/proxy.md), behind the next exec wrapper when one is configured.
 */
#include <string>

#include "extension_runner/core/result.hpp"
#include "extension_runner/runner/process.hpp"

namespace extension_runner {

/**
 * The argv `wrap` would execute for `command` (run by `/bin/sh -c`): `<next_wrapper> <command>`
 * when a next wrapper is set. The runtime's stdout goes to stderr, as Lambda sends both to the
 * function's logs; the emulator's stdout stays the trace.
 */
std::vector<std::string> function_argv(const std::string& command, const std::string& next_wrapper);

/**
 * Starts the runtime with AWS_LAMBDA_RUNTIME_API=`runtime_api` (its stdin /dev/null, its
 * stderr the emulator's). ChildStartupFailed when it cannot be started.
 */
Result<ChildProcess> start_function_runtime(const std::string& command,
                                            const std::string& next_wrapper,
                                            const std::string& runtime_api);

}  // namespace extension_runner
