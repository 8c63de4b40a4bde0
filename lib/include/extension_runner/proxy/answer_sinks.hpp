#pragma once
/**
 * @file answer_sinks.hpp
 * Where the Runtime API's answers go: straight on to the runtime as they arrive (RelaySink), or
 * held whole up to a limit for the hooks and relayed from there on past it (HoldingSink). Also
 * the proxy's own answers to the runtime (a held body, a 502).
 */
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "extension_runner/proxy/runtime_connection.hpp"
#include "extension_runner/proxy/upstream.hpp"

namespace extension_runner {

/**
 * Relays an answer to the runtime as it arrives: the head at once, the body piece by piece.
 * The framing towards the runtime follows the upstream's: the same Content-Length, or chunked
 * (close-delimited for an HTTP/1.0 runtime, which then loses its connection).
 */
class RelaySink : public ResponseSink {
 public:
  RelaySink(RuntimeConnection& connection, bool runtime_http11)
      : connection_(connection), http11_(runtime_http11) {}

  bool on_head(int status, HeaderList headers) override;
  bool on_body(std::string_view data) override;

  /** Ends the relayed answer (its head if no body came, the last chunk) once the exchange
   *  succeeded. */
  Result<void> finish();

  /** The answer to the runtime has begun: a failure now can only close the connection. */
  bool started() const { return started_; }
  /** The answer is delimited by closing the connection. */
  bool must_close() const { return close_delimited_; }
  int status() const { return status_; }

 private:
  RuntimeConnection& connection_;
  bool http11_;
  bool started_ = false;
  bool chunked_ = false;
  bool close_delimited_ = false;
  int status_ = 0;
  std::string pending_head_;  ///< The head, until the first body bytes or finish() go with it.
};

/**
 * Holds an answer whole while its body stays within `limit` bytes; past that, relays the head,
 * what it held and the rest through a RelaySink (overflowed()).
 */
class HoldingSink : public ResponseSink {
 public:
  HoldingSink(RuntimeConnection& connection, bool runtime_http11, size_t limit)
      : relay_(connection, runtime_http11), limit_(limit) {}

  bool on_head(int status, HeaderList headers) override;
  bool on_body(std::string_view data) override;

  bool overflowed() const { return overflowed_; }
  RelaySink& relay() { return relay_; }
  int status() const { return status_; }
  const HeaderList& headers() const { return headers_; }
  const std::string& body() const { return body_; }
  /** The body held, moved into shared ownership (no copy); body() is empty from then on. */
  std::shared_ptr<const std::string> take_body() {
    auto taken = std::make_shared<const std::string>(std::move(body_));
    body_.clear();
    return taken;
  }

 private:
  RelaySink relay_;
  size_t limit_;
  bool overflowed_ = false;
  int status_ = 0;
  HeaderList headers_;
  std::string body_;
};

/**
 * Writes a whole answer: `status`, the end-to-end fields of `headers`, `Content-Length` and
 * `body`, in one system call where the kernel takes it.
 */
Result<void> write_held_answer(RuntimeConnection& connection, int status, const HeaderList& headers,
                               std::string_view body);

/** Writes `status` with `{"errorType":…,"errorMessage":…}` (the Runtime API's error shape [RIE]).
 */
Result<void> write_error_answer(RuntimeConnection& connection, int status,
                                std::string_view error_type, std::string_view message);

}  // namespace extension_runner
