#pragma once
/**
 * @file invocation_events.hpp
 * The REQUEST and RESPONSE events the hooks receive, and their `context`, built from what passed
 * through the proxy (docs/runner-protocol.md, "Runtime API proxy"). Pure.
 */
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "extension_runner/proxy/hooks.hpp"
#include "extension_runner/proxy/http_message.hpp"

namespace extension_runner {

/**
 * The `context` of an invocation from the headers of its `/next` answer [RIE rendering.go]:
 * `aws_request_id` = `Lambda-Runtime-Aws-Request-Id`, `invoked_function_arn` =
 * `Lambda-Runtime-Invoked-Function-Arn` ("" when absent), `client_context` = the
 * `Lambda-Runtime-Client-Context` JSON object (also accepted base64-encoded, the form callers
 * give Invoke), `identity` = `{cognito_identity_id, cognito_identity_pool_id}` from the
 * `Lambda-Runtime-Cognito-Identity` JSON (`cognitoIdentityId`, `cognitoIdentityPoolId`). A
 * field absent or not decodable is null; the raw header still reaches the event's `headers`.
 */
HookContext context_from_headers(const HeaderList& headers);

/** `Lambda-Runtime-Deadline-Ms` (epoch ms [EXT]) when it is a decimal integer. */
std::optional<int64_t> deadline_from_headers(const HeaderList& headers);

/** A body held for the hooks: shared by the event that carries it and by whoever forwards it. */
using SharedBody = std::shared_ptr<const std::string>;

/**
 * `{"eventType":"REQUEST","requestId":…,"headers":{…},"payload":<body>|"payloadBase64":…}`:
 * `payload` when `body` is one JSON value (is_json_text), else `payloadBase64` (a null `body` is
 * empty); `headers` holds the `Lambda-Runtime-*` fields and `Content-Type` (repeated names joined
 * with ", "). Compact and on one line. A JSON body on one line is the event's `payload` piece,
 * `body` itself, uncopied; one spanning lines is compacted into `head`.
 */
HookEvent request_event(std::string_view request_id, const SharedBody& body,
                        const HeaderList& headers);

/** What the runtime answered for one invocation, as the RESPONSE event tells it. */
struct ResponseFacts {
  std::string request_id;
  bool error = false;      ///< `/error`, or a stream that ended with an error trailer.
  std::string error_type;  ///< `Lambda-Runtime-Function-Error-Type` (header or trailer).
  bool streamed = false;   ///< Streamed: the body went by, only its size is told.
  uint64_t bytes = 0;      ///< Streamed: body bytes forwarded.
  SharedBody body;         ///< Buffered: the whole body (null: empty).
  /**
   * Streamed with `Content-Type: application/vnd.awslambda.http-integration-response`: the JSON
   * prelude before the 8 NUL bytes (status code, headers, cookies of a Function URL answer).
   */
  std::optional<std::string> prelude_json;
  HeaderList headers;  ///< The runtime's request fields.
};

/**
 * `{"eventType":"RESPONSE","requestId":…,"status":"success"|"error","errorType"?:…,
 * "headers":{…}, "payload"|"payloadBase64":… | "streamed":true,"bytes":N,"prelude"?:{…}}`.
 * Compact and on one line; `facts.body` in it as request_event() puts its body.
 */
HookEvent response_event(const ResponseFacts& facts);

/** Content type of a Function URL's streamed answer: a JSON prelude, 8 NUL bytes, the body. */
inline constexpr const char* kHttpIntegrationContentType =
    "application/vnd.awslambda.http-integration-response";

/**
 * The JSON prelude at the start of an http-integration stream: the bytes before the first run
 * of 8 NUL bytes, if they are a JSON object. nullopt when `start` holds no separator yet.
 */
std::optional<std::string> http_integration_prelude(std::string_view start);

/**
 * Deepest nesting of a body the hooks get as `payload`; deeper ones come as `payloadBase64`.
 * The event and the runner protocol's request line add their own levels, and every reader of
 * that line must still take it: the host (kMaxJsonDepth) and the SDKs' (Python's json gives up
 * near 1000 levels, its recursion limit). No Lambda event comes near it.
 */
inline constexpr int kMaxPayloadDepth = 512;

/**
 * Is `body` exactly one JSON value by parse_json's rules, nested at most kMaxPayloadDepth
 * levels (no DOM is built)?
 */
bool is_json_text(std::string_view body);

}  // namespace extension_runner
