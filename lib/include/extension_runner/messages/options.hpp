#pragma once
/**
 * @file options.hpp
 * The messages part's settings (docs/messages.md): whether the function's local endpoint is on,
 * where it listens, and the bounds on a request body and on the queue that holds messages for
 * the child.
 */
#include <cstddef>
#include <string>

namespace extension_runner {

/**
 * The default port: no known extension's (Datadog 8124-8126, OpenTelemetry 4317/4318, the
 * Parameters and Secrets extension 2773, AppConfig 2772, Sentry's relay 3000/5333;
 * docs/messages.md lists them).
 */
inline constexpr int kMessagesDefaultPort = 8426;
/** The path the function posts to. */
inline constexpr const char* kMessagesPath = "/v1/messages";

/** The messages settings, validated by the host's settings loader. */
struct MessagesOptions {
  bool enabled = false;
  /** Loopback only: the function runs in the same sandbox. */
  std::string listen = "127.0.0.1:8426";
  /** A body larger than this is answered 413. */
  size_t max_body_bytes = 1024 * 1024;
  /** Messages and bytes held for the child before the endpoint answers 503. */
  size_t queue_max_records = 20000;
  size_t queue_max_bytes = 8 * 1024 * 1024;
};

/**
 * The URL the function posts to (`http://<listen>/v1/messages`, 0.0.0.0 shown as 127.0.0.1),
 * or "" when messages are off or listen on port 0 (ephemeral: unknown before the host binds
 * it): what `wrap` exports as EXTENSION_RUNNER_MESSAGES_URL (docs/messages.md).
 */
std::string messages_runtime_url(const MessagesOptions& options);

}  // namespace extension_runner
