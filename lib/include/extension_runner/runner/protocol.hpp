#pragma once
/**
 * @file protocol.hpp
 * Runner protocol v1 messages between extension-runner (host) and a child runtime.
 * Field names follow the seed Go package exactly, typos included (`errortype`, `invokeid`,
 * `aws_request_id`); see docs/runner-protocol.md. Any-JSON payloads are carried as compact
 * JSON text so messages move between threads cheaply.
 */
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "extension_runner/core/json.hpp"
#include "extension_runner/core/result.hpp"

namespace extension_runner {

/** `identity` of a Context. */
struct Identity {
  std::string cognito_identity_id;
  std::string cognito_identity_pool_id;
};

/** `context` of an InvokeRequest. `client_context` is passed through as raw JSON. */
struct InvokeContext {
  std::string aws_request_id;
  std::optional<std::string> client_context_json;  ///< Raw JSON object, or absent (null).
  std::optional<Identity> identity;
  std::string invoked_function_arn;
};

/** Host → child, once: `{"handler","env","version","name","mode","function","platform"}`. */
struct StartupRequest {
  std::string handler;
  std::map<std::string, std::string> env;
  int version = 1;
  std::string name;
  std::string mode = "lambda";  ///< `lambda` | `invoke` | `emulate`.
  /**
   * `function`: the Register answer's body as received (`functionName`, `functionVersion`,
   * `handler`, `accountId` when present [EXT]), raw JSON object; `{}` without a registration.
   */
  std::string function_json = "{}";
  std::string platform = "lambda";  ///< `lambda` | `managed-instances` (platform_name()).
};

/** Child → host: `{"ok":true}` or `{"ok":false,"error":"…"}`. */
struct StartupResponse {
  bool ok = false;
  std::string error;
  /**
   * Optional `handles`: the event types the child has handlers for (the SDKs send it, e.g.
   * `["INVOKE","TELEMETRY"]`); empty when not sent. Lets the host say when a handler can never
   * run (docs/runner-protocol.md).
   */
  std::vector<std::string> handles;
  /**
   * `handles` was sent (an array, even empty): the child said what it handles, and the host
   * sends it no INVOKE event and (proxy on) asks no REQUEST / RESPONSE hook it lacks a handler
   * for (`*`: all).
   */
  bool says_handles = false;

  /**
   * Whether the child takes events of `type` ("INVOKE", "REQUEST", …): when it did not say
   * (no `handles`), or `handles` lists `type` or `*` (docs/runner-protocol.md).
   */
  bool takes(const std::string& type) const;
};

/** Host → child: `{"context","event","deadline"}`; deadline in ms since the Unix epoch. */
struct InvokeRequest {
  InvokeContext context;
  std::string event_json = "null";
  int64_t deadline_ms = 0;
  /**
   * True when `event_json` is known to be one valid JSON value without a line break (the host
   * wrote it, e.g. parse_event's `raw`, or assembled it from validated records): encoding then
   * copies it instead of parsing and re-writing it. False (the default) for text from
   * elsewhere, which is re-serialised compactly onto one line.
   */
  bool event_compact = false;
  /**
   * When set, the event's text goes on after `event_json` with `*event_payload`, then
   * `event_end`: a large piece shared with its owner instead of copied into the request (a
   * proxy hook's payload, up to a 6 MiB response). Null: `event_json` is the whole event.
   */
  std::shared_ptr<const std::string> event_payload;
  std::string event_end;
  /**
   * Host-side only, never encoded: whether the invoker measures the child's peak RSS for the
   * reply's `billing.used_mb` (a few /proc reads and getpgid calls per request). False for
   * requests whose billing nobody reads (the proxy's hook calls and observe copies): their
   * reply then carries used_mb 0.
   */
  bool measure_memory = true;
};

/** `billing` of an InvokeReply (seed type `ReqeustBilling`), measured by the host. */
struct Billing {
  double duration_ms = 0;  ///< `duration`: request written → reply read.
  std::string memory;      ///< `memory`: configured memory size (AWS_LAMBDA_FUNCTION_MEMORY_SIZE).
  int64_t used_mb = 0;     ///< `used`: the child's peak RSS in MB.
};

/** Child → host: `{"result","errortype","invokeid","errors"?,"billing"}`. */
struct InvokeReply {
  std::string result_json = "null";
  std::string errortype;
  std::string invokeid;
  bool errors = false;  ///< Omitted from JSON when false.
  Billing billing;
};

/** The seed's ProxyRequest, used by `extension-runner invoke --request`. */
struct ProxyRequest {
  InvokeContext context;
  int64_t remaining_ms = 0;
  std::map<std::string, std::string> env;
  std::string event_json = "null";
};

/** Protocol version this host speaks (`StartupRequest.version`). */
inline constexpr int kProtocolVersion = 1;

// Encoding. Every encoder returns one compact JSON object without the trailing newline.
// Raw-JSON payloads (`event_json`, `result_json`, `client_context_json`) are re-serialised
// compactly, so a payload holding newlines can never break the line framing.

/**
 * `{"handler":…,"env":{…},"version":1,"name":…,"mode":…,"function":{…},"platform":…}`.
 * A `function_json` that is not a JSON object is sent as `{}`.
 */
std::string encode_startup_request(const StartupRequest& request);

/**
 * A request line in the pieces written with one writev: the text before the event, the event
 * itself (views of the request's `event_json`, `*event_payload` and `event_end`, which must
 * outlive this value) and the text after it, newline included. Head and tail alone hold the
 * whole line when the event was re-encoded (the views are then empty).
 */
struct EncodedRequest {
  std::string head;
  std::string_view event;
  std::string_view event_payload;
  std::string_view event_end;
  std::string tail;

  size_t size() const {
    return head.size() + event.size() + event_payload.size() + event_end.size() + tail.size();
  }
};

/**
 * `{"context":{"aws_request_id":…,"client_context":<json>|null,"identity":{…}|null,
 * "invoked_function_arn":…},"event":<json>,"deadline":<ms>}` and its newline, in pieces.
 * InvalidInput when `event_json` or `client_context_json` is not valid JSON. An
 * `event_compact` event is not copied at all (a hook's event may be a 1 MiB or 6 MiB payload):
 * it stays where it is, as the middle piece.
 */
Result<EncodedRequest> encode_invoke_request_parts(const InvokeRequest& request);

/** encode_invoke_request_parts() joined, without the newline: one line of text. */
Result<std::string> encode_invoke_request(const InvokeRequest& request);

/**
 * `{"result":<json>,"errortype":…,"invokeid":…,"errors":true?,"billing":{"duration":<ms float>,
 * "memory":"<MB>","used":<MB>}}`; `errors` is omitted when false (seed: `omitempty`).
 * InvalidInput when `result_json` is not valid JSON.
 */
Result<std::string> encode_invoke_reply(const InvokeReply& reply);

// Decoding. All decoders return ProtocolError for text that is not JSON, not an object, or has
// a known field of the wrong type. Unknown fields are ignored.

/** `{"ok":bool,"error"?:string}`; `ok` is required. */
Result<StartupResponse> decode_startup_response(std::string_view line);

/**
 * An InvokeReply. `invokeid` is required (it pairs the reply with its request); `result`
 * (any JSON, kept as compact text; absent = `null`), `errortype`, `errors` and `billing`
 * are optional since the host fills billing itself.
 */
Result<InvokeReply> decode_invoke_reply(std::string_view line);
/** As above, from an already parsed JSON value (the line parsed once by its reader). */
Result<InvokeReply> decode_invoke_reply(const rapidjson::Value& object);

/** A ProxyRequest `{"context","remaining","env","event"}`; all fields optional. */
Result<ProxyRequest> decode_proxy_request(std::string_view text);

/**
 * A Context object. `client_context` and `identity` may be absent or null; `client_context` is
 * kept as compact JSON text (it must be an object).
 */
Result<InvokeContext> decode_invoke_context(std::string_view text);

}  // namespace extension_runner
