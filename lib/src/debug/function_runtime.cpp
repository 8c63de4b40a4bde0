#include "extension_runner/debug/function_runtime.hpp"

namespace extension_runner {

std::vector<std::string> function_argv(const std::string& command,
                                       const std::string& next_wrapper) {
  const std::string wrapped = next_wrapper.empty() ? command : next_wrapper + " " + command;
  return shell_argv("exec 1>&2; " + wrapped);
}

Result<ChildProcess> start_function_runtime(const std::string& command,
                                            const std::string& next_wrapper,
                                            const std::string& runtime_api) {
  SpawnOptions options;
  options.argv = function_argv(command, next_wrapper);
  options.set_env["AWS_LAMBDA_RUNTIME_API"] = runtime_api;
  options.pipe_stdin = false;
  options.pipe_stdout = false;
  options.pipe_stderr = false;
  auto child = ChildProcess::spawn(options);
  if (!child) {
    return make_error(ErrorKind::ChildStartupFailed,
                      "cannot start the function '" + command + "': " + child.error().message);
  }
  return child;
}

}  // namespace extension_runner
