#pragma once
/**
 * @file events.hpp
 * Typed Extensions API events, parsed from `GET /2020-01-01/extension/event/next` [EXT].
 * Unknown fields are ignored; optional fields (`tracing`) may be absent.
 */
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "extension_runner/core/result.hpp"

namespace extension_runner {

/** `tracing` of an INVOKE event: `{"type":"X-Amzn-Trace-Id","value":"Root=…"}`. */
struct Tracing {
  std::string type;
  std::string value;
};

/** An INVOKE event. The function's payload is never included [EXT]. */
struct InvokeEvent {
  int64_t deadline_ms = 0;  ///< Unix epoch milliseconds [EXT].
  std::string request_id;
  std::string invoked_function_arn;
  std::optional<Tracing> tracing;
  std::string raw;  ///< The event object exactly as received (compact JSON).
};

/** A SHUTDOWN event: the extension must finish before `deadline_ms` or be SIGKILLed [EXT]. */
struct ShutdownEvent {
  /**
   * As sent, passed on unchanged: any string is accepted (Lambda sends `spindown`, `timeout`,
   * `failure` in lower case [NR]; RIE also `SandboxTerminated` and others [RIE]).
   */
  std::string shutdown_reason;
  int64_t deadline_ms = 0;  ///< Unix epoch milliseconds.
  std::string raw;          ///< The event object exactly as received (compact JSON).
};

using Event = std::variant<InvokeEvent, ShutdownEvent>;

/**
 * Parses one `/event/next` body. ProtocolError when it is not a JSON object, when
 * `eventType` is missing or unknown, or when a required field (`deadlineMs`; INVOKE's
 * `requestId`) is missing or of the wrong type.
 */
Result<Event> parse_event(std::string_view body);

/** `eventType` of an event, `INVOKE` / `SHUTDOWN`. */
std::string_view event_type(const Event& event);

}  // namespace extension_runner
