#pragma once
/**
 * @file decision.hpp
 * The decision table of intercept mode: what a hook's answer (`result`, `errors`, `errortype`
 * of its InvokeReply) tells the proxy to do with the invocation (docs/runner-protocol.md,
 * "Runtime API proxy"). Pure.
 */
#include <string>

#include "extension_runner/proxy/hooks.hpp"

namespace extension_runner {

struct Decision {
  enum class Kind {
    Forward,  ///< `result: null`: pass the original on unchanged.
    Replace,  ///< `result: {"payload": X}` (or `payloadBase64`): pass `body` instead.
    Respond,  ///< REQUEST only, `result: {"respond": X}`: the platform gets `body` as the
              ///< response; the runtime never sees the invocation.
    Fail,     ///< `errors: true` + `errortype`: the invocation fails with `error_type`.
    Invalid,  ///< Anything else: the hook failed; the FailPolicy applies. `reason` says why.
  };
  Kind kind = Kind::Forward;
  /** Replace / Respond: the bytes to send. Fail: the error body (a JSON object). */
  std::string body;
  /** Replace / Respond: `body` came from `payload` (JSON) rather than `payloadBase64`. */
  bool body_is_json = false;
  std::string error_type;  ///< Fail.
  std::string reason;      ///< Invalid.
};

/**
 * Applies the table:
 * - `errors: true` with a non-empty `errortype` → Fail; the body is `result` when it is an
 *   object (with `errorType` added when missing), `{"errorType","errorMessage": result}` when it
 *   is a string, else `{"errorType","errorMessage":"rejected by the extension"}`;
 * - `errors: true` without `errortype`, or with control characters in it (it becomes the
 *   `Lambda-Runtime-Function-Error-Type` field) → Invalid;
 * - `result` null → Forward;
 * - `result` an object with exactly one of `payload` (any JSON, sent as its compact text),
 *   `payloadBase64` (a base64 string, sent as its bytes) or, REQUEST only, `respond` /
 *   `respondBase64` → Replace / Respond (other members are ignored);
 * - anything else (another type, `{}`, two of those keys, `respond` on RESPONSE, bad base64)
 *   → Invalid. A non-empty `errortype` without `errors` is ignored, as in the runner protocol.
 */
Decision decide(const HookReply& reply, HookPhase phase);

/** `{"errorType":…,"errorMessage":…}`, compact. */
std::string error_body_json(std::string_view error_type, std::string_view message);

}  // namespace extension_runner
