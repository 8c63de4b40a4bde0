#pragma once
/**
 * @file extensions_api.hpp
 * The Extensions API (2020-01-01) [EXT]: pure request builders and response parsers, plus a
 * small client that sends them over an HttpClient.
 */
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "extension_runner/core/result.hpp"
#include "extension_runner/lambda/events.hpp"
#include "extension_runner/lambda/http.hpp"

namespace extension_runner {

inline constexpr const char* kExtensionsApiBase = "/2020-01-01/extension";
inline constexpr const char* kIdentifierHeader = "Lambda-Extension-Identifier";
inline constexpr const char* kNameHeader = "Lambda-Extension-Name";
inline constexpr const char* kAcceptFeatureHeader = "Lambda-Extension-Accept-Feature";
inline constexpr const char* kErrorTypeHeader = "Lambda-Extension-Function-Error-Type";

/** The 200 answer to Register: identifier header plus function metadata [EXT]. */
struct RegisterResponse {
  std::string identifier;  ///< `Lambda-Extension-Identifier`, sent on every later call.
  std::string function_name;
  std::string function_version;
  std::string handler;
  std::optional<std::string> account_id;  ///< Only when the `accountId` feature was accepted.
  /**
   * The 200 body as received, re-serialised compactly (every field, also ones this host does
   * not know); `{}` when the body is not a JSON object. Passed to the child as
   * StartupRequest `function`.
   */
  std::string body_json = "{}";
};

/** Body of init/error and exit/error: `{"errorMessage","errorType","stackTrace":[]}` [EXT]. */
struct ErrorReport {
  std::string error_type;  ///< Also the `Lambda-Extension-Function-Error-Type` header.
  std::string message;
  std::vector<std::string> stack_trace;
};

/**
 * The events of an ordinary external extension: INVOKE and SHUTDOWN. Built at the first call,
 * not at startup in every file that includes this header.
 */
const std::vector<std::string>& default_events();

/**
 * `POST /register` for `name` with body `{"events":[…]}` (e.g. `["SHUTDOWN"]` on Managed
 * Instances, where INVOKE is refused [LMI][RIE]), accepting feature `accountId`.
 */
HttpRequest build_register_request(const std::string& name,
                                   const std::vector<std::string>& events = default_events());
/** `GET /event/next` with the identifier. */
HttpRequest build_next_request(const std::string& identifier);
/** `POST /init/error` with the error-type header and JSON body. */
HttpRequest build_init_error_request(const std::string& identifier, const ErrorReport& report);
/** `POST /exit/error` with the error-type header and JSON body. */
HttpRequest build_exit_error_request(const std::string& identifier, const ErrorReport& report);

/**
 * Maps a non-success status to an Error: 500 → ApiFatal ("exit promptly" [EXT]); 4xx →
 * ApiRejected whose message carries the body's errorType/errorMessage verbatim.
 * `what` names the call, e.g. "register".
 */
Error api_error(const std::string& what, const HttpResponse& response);

/** Parses a Register answer (status must be 200, identifier header present). */
Result<RegisterResponse> parse_register_response(const HttpResponse& response);

/** Default of EXTENSION_RUNNER_API_TIMEOUT_MS: total limit of every call but `/event/next`. */
inline constexpr int64_t kDefaultApiTimeoutMs = 2000;

/**
 * The limits of register, subscribe, init/error and exit/error: a 1 s connect timeout and a
 * total of `total_ms`. A Runtime API that accepts the connection but never answers would
 * otherwise hold the extension until Lambda's 10 s init limit kills it [EXT].
 */
HttpTimeouts bounded_call_timeouts(int64_t total_ms);

/**
 * A client bound to one Runtime API address. Not thread-safe: use from one thread.
 * Every call but next_event() is bounded by `call_timeouts`; a failure names the call, the
 * address and, on a timeout, EXTENSION_RUNNER_API_TIMEOUT_MS.
 */
class ExtensionsClient {
 public:
  explicit ExtensionsClient(
      std::string runtime_api,
      HttpTimeouts call_timeouts = bounded_call_timeouts(kDefaultApiTimeoutMs));

  /** Registers for `events`; keeps the identifier for later calls. */
  Result<RegisterResponse> register_extension(
      const std::string& name, const std::vector<std::string>& events = default_events());
  /** Blocks until the next event. No request timeout: the sandbox may freeze in between [EXT]. */
  Result<Event> next_event();
  /** Reports an init failure; Lambda accepts no further calls afterwards [EXT]. */
  Result<void> init_error(const ErrorReport& report);
  /** Reports a failure after init; the extension exits afterwards [EXT]. */
  Result<void> exit_error(const ErrorReport& report);

  /**
   * Sends any other request (e.g. a Telemetry/Logs subscription) to the same API, bounded by
   * the call timeouts. A transport failure's message adds the setting when it timed out.
   */
  Result<HttpResponse> send(const HttpRequest& request);
  /** The same with explicit timeouts. */
  Result<HttpResponse> send(const HttpRequest& request, const HttpTimeouts& timeouts);

  const std::string& identifier() const { return identifier_; }
  const std::string& runtime_api() const { return runtime_api_; }
  const HttpTimeouts& call_timeouts() const { return call_timeouts_; }

 private:
  Result<HttpResponse> send_bounded(const HttpRequest& request);

  std::string runtime_api_;
  HttpTimeouts call_timeouts_;
  HttpClient http_;
  std::string identifier_;
};

}  // namespace extension_runner
