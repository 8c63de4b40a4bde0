#pragma once
/**
 * @file child_handler.hpp
 * The EventHandler that forwards Lambda events to the child runtime through a Dispatcher.
 */
#include <memory>
#include <string>

#include "extension_runner/host/lifecycle.hpp"
#include "extension_runner/host/settings.hpp"
#include "extension_runner/runner/dispatcher.hpp"

namespace extension_runner {

/**
 * The EventHandler that runs the user's logic in a child (EXTENSION_RUNNER_COMMAND):
 * init() starts the child (StartupRequest: handler = config.runner.handler, env = function metadata
 * from Register, name = extension name, mode = `mode`); each INVOKE becomes an InvokeRequest
 * (`event` = the raw event, `aws_request_id` = requestId, `deadline` = deadlineMs), paced by
 * config.runner.dispatch; SHUTDOWN is sent as the last request, then the child is ended, all before
 * the SHUTDOWN deadline [EXT].
 */
std::unique_ptr<EventHandler> make_runner_handler(const Config& config,
                                                  const std::string& mode = "lambda",
                                                  std::shared_ptr<Dispatcher> dispatcher = nullptr);

}  // namespace extension_runner
