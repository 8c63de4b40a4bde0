#pragma once
/**
 * @file runtime_body_source.hpp
 * A runtime's request body, pulled by the upstream client while it uploads: whatever was already
 * read (a prefix), then the rest straight off the runtime's connection, piece by piece. Memory
 * stays at one upload buffer however long the body is.
 */
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "extension_runner/proxy/runtime_connection.hpp"
#include "extension_runner/proxy/upstream.hpp"

namespace extension_runner {

/** Error type a streamed response is ended with when its runtime disconnected mid-body. */
inline constexpr const char* kRuntimeDisconnectedErrorType = "Extension.ProxyRuntimeDisconnected";

class RuntimeBodySource : public BodySource {
 public:
  /** `prefix`: body bytes already read from `connection`, sent first. */
  explicit RuntimeBodySource(RuntimeConnection& connection, std::string prefix = {})
      : connection_(connection), prefix_(std::move(prefix)) {}

  /** Keeps a copy of the first `bytes` bytes sent (for an http-integration prelude). */
  void keep_start(size_t bytes) { keep_ = bytes; }

  Result<size_t> read(char* out, size_t capacity) override;

  /**
   * The runtime's own trailer fields (end-to-end ones) once its body ended; when it broke off
   * instead, `Lambda-Runtime-Function-Error-Type: Extension.ProxyRuntimeDisconnected` and a
   * base64 `-Error-Body`, so the platform ends the streamed response as failed, the way a
   * runtime reports a mid-stream error itself.
   */
  HeaderList trailers() override;

  uint64_t bytes() const { return bytes_; }
  /** Why the body broke off (the runtime disconnected, or sent a broken chunked coding). */
  const std::optional<Error>& failure() const { return failure_; }
  const std::string& start() const { return start_; }

 private:
  RuntimeConnection& connection_;
  std::string prefix_;
  size_t prefix_sent_ = 0;
  size_t keep_ = 0;
  std::string start_;
  uint64_t bytes_ = 0;
  std::optional<Error> failure_;
};

}  // namespace extension_runner
