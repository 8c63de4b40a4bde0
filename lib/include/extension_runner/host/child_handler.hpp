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
 * from Register, name = extension name, mode = `mode`: `lambda` or `emulate`); each INVOKE
 * becomes an InvokeRequest (`event` = the raw event, `aws_request_id` = requestId, `deadline` =
 * deadlineMs), paced by config.runner.dispatch; SHUTDOWN is sent as the last request by the
 * budget's child_request_until, then the child is ended by its child_exit_until [EXT].
 */
std::unique_ptr<EventHandler> make_child_handler(const Config& config, const std::string& mode,
                                                 std::shared_ptr<Dispatcher> dispatcher);

class ChildSlot;  // proxy_service.hpp

/** As make_child_handler(), also handing its factory to `slot` at init. */
std::unique_ptr<EventHandler> make_child_handler(const Config& config, const std::string& mode,
                                                 std::shared_ptr<Dispatcher> dispatcher,
                                                 std::shared_ptr<ChildSlot> slot);

}  // namespace extension_runner
