#pragma once
/**
 * @file function_messages.hpp
 * The emulated function's side of the messages endpoint (docs/messages.md): what `emulate`'s
 * scenario field `messages` makes the function post during each invocation.
 */
#include <string>
#include <vector>

#include "extension_runner/core/result.hpp"

namespace extension_runner {

/**
 * POSTs `messages_json` (each one JSON value) as one application/json array to `url`
 * (`http://host:port/path`), tagged with `request_id` (header Extension-Runner-Request-Id; ""
 * = untagged). Returns the status the endpoint answered; Io when it could not be reached.
 */
Result<int> post_function_messages(const std::string& url, const std::string& request_id,
                                   const std::vector<std::string>& messages_json);

/** A loopback port nothing listened on a moment ago (for a `:0` messages listen address). */
Result<int> free_loopback_port();

}  // namespace extension_runner
