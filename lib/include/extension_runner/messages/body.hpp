#pragma once
/**
 * @file body.hpp
 * The body of a `POST /v1/messages` (docs/messages.md): `application/json` is one JSON value
 * (one message) or an array (one message per element); `application/x-ndjson` is one JSON value
 * per line, blank lines skipped. Pure functions.
 */
#include <string>
#include <string_view>
#include <vector>

#include "extension_runner/core/result.hpp"

namespace extension_runner {

enum class MessagesFormat { Json, NdJson };

/**
 * The format a Content-Type names (parameters such as `; charset=utf-8` ignored, case
 * insensitive; an empty type is JSON). InvalidInput naming the type for any other.
 */
Result<MessagesFormat> messages_format(std::string_view content_type);

/**
 * Each message of the body as compact JSON text, in order. InvalidInput (saying where) when any
 * part is not JSON: then no message of the body is taken. `[]` and an NDJSON body of blank lines
 * hold no message (an empty list); an empty JSON body is invalid.
 */
Result<std::vector<std::string>> parse_messages_body(std::string_view body, MessagesFormat format);

/**
 * One message as the child receives it: `{"requestId":…,"time":…,"message":…}`, requestId null
 * when untagged. `message_json` must be JSON (parse_messages_body's output).
 */
std::string message_record_json(const std::string& request_id, const std::string& time,
                                const std::string& message_json);

}  // namespace extension_runner
