#pragma once
/**
 * @file options.hpp
 * The telemetry part's settings: which API, what to subscribe to, how Lambda buffers batches,
 * where the listener binds, when records reach the child, and the queue that bounds them.
 * Each default is the one the settings table shows; the bounds are the platform's [TEL][LOGS].
 */
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "extension_runner/lambda/platform.hpp"

namespace extension_runner {

/** Which log subscription API to use, if any [TEL][LOGS]. */
enum class TelemetryMode { Off, Telemetry, Logs };

/**
 * When the host waits, before the next `/next`, for an invocation's telemetry (README
 * "Telemetry: flush strategies"): Invoke = for its platform.runtimeDone; Periodic = never (records
 * reach the child as batches arrive, or every flush_period_ms, and at SHUTDOWN); Adaptive =
 * Invoke while invocations are infrequent, Periodic while they are frequent
 * (telemetry/flush_strategy.hpp).
 */
enum class FlushMode { Invoke, Periodic, Adaptive };
/** `invoke`, `periodic` or `adaptive`. */
const char* flush_mode_name(FlushMode mode);

/** How Lambda delivers telemetry to the listener [TEL]: HTTP POSTs, or JSON lines over TCP. */
enum class TelemetryProtocol { Http, Tcp };

/** The Telemetry API schema: required on Managed Instances, backward compatible elsewhere [TEL]. */
inline constexpr const char* kTelemetrySchema = "2025-01-29";
/** The Logs API schema [LOGS]. */
inline constexpr const char* kLogsSchema = "2021-03-18";

/** The subscription's `buffering` bounds, as the APIs document them [TEL][LOGS]. */
inline constexpr int64_t kMinBufferItems = 1000, kMaxBufferItems = 10000;
inline constexpr int64_t kMinBufferBytes = 262144, kMaxBufferBytes = 1048576;
inline constexpr int64_t kMinBufferTimeoutMs = 25, kMaxBufferTimeoutMs = 30000;

/**
 * What the subscription depends on besides the settings: facts of the platform and of the
 * registration, which the host knows.
 */
struct TelemetryContext {
  Platform platform = Platform::Lambda;  ///< Where Lambda delivers, which schema it takes.
  bool receives_invokes = true;          ///< INVOKE registered: the per-invoke flush can wait.
};

/** The telemetry settings, validated by the host's settings loader. */
struct TelemetryOptions {
  TelemetryMode mode = TelemetryMode::Off;
  std::string schema;  ///< "" = the mode's default (kTelemetrySchema / kLogsSchema).
  std::vector<std::string> types{"platform", "function"};
  /** Lambda's own buffering defaults, the smallest batches it allows [TEL]. */
  int buffer_max_items = 1000;
  int buffer_max_bytes = 262144;
  int buffer_timeout_ms = 25;
  /** Every interface, ephemeral port: the platform reaches the sandbox's address [TEL]. */
  std::string listen = "0.0.0.0:0";
  /** Adaptive: waits at `/next` only while invocations are infrequent (flush_strategy.hpp). */
  FlushMode flush = FlushMode::Adaptive;
  /** `periodic,MS`: hold records and deliver them every MS; 0 = as they come. */
  int64_t flush_period_ms = 0;
  TelemetryProtocol protocol = TelemetryProtocol::Http;
  /** Records and bytes held for the child before the listener pushes back (README, Memory). */
  size_t queue_max_records = 20000;
  size_t queue_max_bytes = 8 * 1024 * 1024;

  /** The schema version sent: `schema`, else the mode's default. */
  std::string effective_schema() const;
  /** Whether `types` names `type` (platform, function, extension). */
  bool subscribes_to(const std::string& type) const;
  /**
   * Whether the flush strategy may wait at `/next` for platform.runtimeDone: Invoke or
   * Adaptive, telemetry on, `platform` subscribed, and INVOKE registered (`receives_invokes`;
   * never on Managed Instances, which send no INVOKE).
   */
  bool flush_may_wait(bool receives_invokes) const;
};

}  // namespace extension_runner
