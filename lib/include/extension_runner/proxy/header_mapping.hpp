#pragma once
/**
 * @file header_mapping.hpp
 * Which header fields the proxy passes between the runtime and the Runtime API, both ways.
 * Every end-to-end field goes through unchanged and complete, in order and as spelled: all
 * `Lambda-Runtime-*` fields (including ones Lambda adds later), `Content-Type`, `User-Agent`,
 * `Lambda-Runtime-Features`, anything else. Hop-by-hop fields (RFC 9110 §7.6.1) are dropped, and
 * the framing fields (`Content-Length`, `Transfer-Encoding`, `Trailer`) are always written anew
 * by the side that sends the body, from how it actually sends it: a body held whole and sent
 * with `Transfer-Encoding: chunked` was a known failure of other proxies [LRAP].
 */
#include <cstdint>
#include <string>
#include <string_view>

#include "extension_runner/proxy/http_message.hpp"

namespace extension_runner {

/**
 * `headers` without hop-by-hop fields (`Connection` and every field it names, `Keep-Alive`,
 * `Proxy-Connection`, `TE`, `Upgrade`, `Proxy-Authenticate`, `Proxy-Authorization`), without
 * framing (`Content-Length`, `Transfer-Encoding`, `Trailer`), and without `Host` and `Expect`,
 * which belong to one connection (the upstream client sets its own `Host`; the proxy answers
 * `100-continue` itself).
 */
HeaderList end_to_end_headers(const HeaderList& headers);

/**
 * The fields a hook event's `headers` object shows: every `Lambda-Runtime-*` field and
 * `Content-Type` (any case), in order of first appearance, repeated names joined with ", "
 * under the first spelling (RFC 9110 §5.3).
 */
HeaderList event_headers(const HeaderList& headers);

/** Appends `Content-Length: <length>`. */
void add_length_framing(HeaderList& headers, uint64_t length);

/**
 * Appends `Transfer-Encoding: chunked`, plus `Trailer: <announced>` when the sender announced
 * trailer fields (Lambda's streaming contract names them there).
 */
void add_chunked_framing(HeaderList& headers, const std::string* announced_trailers);

/** Field names of Lambda's Runtime API [RIE internal/lambda/rapi]. */
namespace runtime_header {
inline constexpr const char* kRequestId = "Lambda-Runtime-Aws-Request-Id";
inline constexpr const char* kDeadlineMs = "Lambda-Runtime-Deadline-Ms";
inline constexpr const char* kFunctionArn = "Lambda-Runtime-Invoked-Function-Arn";
inline constexpr const char* kClientContext = "Lambda-Runtime-Client-Context";
inline constexpr const char* kCognitoIdentity = "Lambda-Runtime-Cognito-Identity";
inline constexpr const char* kResponseMode = "Lambda-Runtime-Function-Response-Mode";
inline constexpr const char* kErrorType = "Lambda-Runtime-Function-Error-Type";
inline constexpr const char* kErrorBody = "Lambda-Runtime-Function-Error-Body";
}  // namespace runtime_header

}  // namespace extension_runner
