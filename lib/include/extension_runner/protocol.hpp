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
#include <optional>
#include <string>

#include "extension_runner/result.hpp"

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

/** Host → child, once: `{"handler","env","version","name","mode"}`. */
struct StartupRequest {
  std::string handler;
  std::map<std::string, std::string> env;
  int version = 1;
  std::string name;
  std::string mode = "lambda";  ///< `lambda` | `invoke` | `emulate`.
};

/** Child → host: `{"ok":true}` or `{"ok":false,"error":"…"}`. */
struct StartupResponse {
  bool ok = false;
  std::string error;
};

/** Host → child: `{"context","event","deadline"}`; deadline in ms since the Unix epoch. */
struct InvokeRequest {
  InvokeContext context;
  std::string event_json = "null";
  int64_t deadline_ms = 0;
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

}  // namespace extension_runner
