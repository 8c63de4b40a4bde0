#pragma once
/**
 * @file telemetry.hpp
 * Subscribing to the Telemetry API (2022-07-01) [TEL] or the Logs API (2020-08-15) [LOGS]:
 * pure request building and answer classification (no I/O), see [LOGS], [TEL] (docs/references.md).
 */
#include <string>
#include <vector>

#include "extension_runner/core/result.hpp"
#include "extension_runner/lambda/http.hpp"
#include "extension_runner/telemetry/options.hpp"

namespace extension_runner {

inline constexpr const char* kTelemetryApiPath = "/2022-07-01/telemetry";
inline constexpr const char* kLogsApiPath = "/2020-08-15/logs";

/** `host:port` of EXTENSION_RUNNER_LISTEN, split. */
struct ListenAddress {
  std::string host;  ///< e.g. `0.0.0.0`, `127.0.0.1`, `sandbox.localdomain`.
  int port = 0;      ///< 0 = ephemeral.
};

/** Splits `host:port` (the last colon separates). ConfigInvalid on a bad port or empty host. */
Result<ListenAddress> parse_listen_address(const std::string& listen);

/**
 * The subscription's destination URI for a listener bound on `bound_host`:`bound_port`:
 * `http://sandbox.localdomain:<port>/` when bound to 0.0.0.0 (every interface, and the host
 * name the docs require [TEL]), else `http://<bound_host>:<port>/`. On Managed Instances always
 * `http://sandbox.localdomain:<port>/`: other hosts are answered 400 there and the platform
 * delivers to 127.0.0.1 [RIE] (the config admits only listen hosts it reaches).
 */
std::string destination_uri(const std::string& bound_host, int bound_port,
                            Platform platform = Platform::Lambda);

/** What to subscribe to: everything the PUT body carries. */
struct Subscription {
  TelemetryMode mode = TelemetryMode::Telemetry;  ///< Telemetry or Logs (never Off).
  std::string schema_version;                     ///< `schemaVersion`.
  std::vector<std::string> types;                 ///< `types`: platform, function, extension.
  int max_items = 1000;                           ///< `buffering.maxItems`.
  int max_bytes = 262144;                         ///< `buffering.maxBytes`.
  int timeout_ms = 25;                            ///< `buffering.timeoutMs`.
  std::string destination_uri;                    ///< `destination.URI` (protocol HTTP).
  /** TCP: `destination` is `{"protocol":"TCP","port":tcp_port}` (schema 2025-01-29) [TEL][RIE]. */
  TelemetryProtocol protocol = TelemetryProtocol::Http;
  int tcp_port = 0;
};

/**
 * The subscription a validated Config asks for, delivered to `destination`: its schema is
 * Config::effective_telemetry_schema() (2025-01-29 by default, the only one on Managed
 * Instances [TEL reference][LMI]).
 */
Subscription subscription_from_options(const TelemetryOptions& telemetry, std::string destination);

/** `PUT /2022-07-01/telemetry` or `PUT /2020-08-15/logs`, with Content-Type and identifier. */
HttpRequest build_subscribe_request(const std::string& identifier, const Subscription& sub);

/** The compact JSON body of a subscription request. */
std::string subscription_body(const Subscription& sub);

/** How a subscription answer is to be read. */
enum class SubscribeOutcome {
  Subscribed,   ///< 200 "OK" (or another 2xx without an error body).
  Unavailable,  ///< 202 / 2xx with `errorType` `*.NotSupported`: local emulator [RIE], keep going.
};

/** A classified answer; `message` explains an Unavailable outcome (for the one warning). */
struct SubscribeAnswer {
  SubscribeOutcome outcome = SubscribeOutcome::Subscribed;
  std::string message;
};

/**
 * Classifies the answer to a subscription: 200 → Subscribed; 2xx whose body has an
 * `errorType` ending in `.NotSupported`, or any 202 (the documented "local testing" answer) →
 * Unavailable; anything else (4xx, 5xx, 1xx/3xx) → Error{SubscribeFailed} whose message names
 * the API and carries its `errorType: errorMessage` (or the raw body).
 */
Result<SubscribeAnswer> classify_subscribe_response(TelemetryMode mode,
                                                    const HttpResponse& response);

/** `telemetry` or `logs`: the API's name, for messages. */
const char* telemetry_api_name(TelemetryMode mode);

}  // namespace extension_runner
