#pragma once
/**
 * @file result.hpp
 * Errors that cross module boundaries are values: a kind plus a message.
 * Modeled on aws-lambda-cpp's `outcome` and cpp-httplib's `Result`.
 */
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace extension_runner {

/** What went wrong, coarse enough to pick an exit code and a Lambda error type. */
enum class ErrorKind {
  ConfigInvalid,       ///< A setting has a bad value. Reported as `Extension.ConfigInvalid`.
  ApiUnreachable,      ///< Could not connect to / talk HTTP with the Runtime API.
  ApiRejected,         ///< The API answered 4xx (message holds its errorType/errorMessage).
  ApiFatal,            ///< The API answered 500: "non-recoverable state, exit promptly" [EXT].
  ProtocolError,       ///< A peer sent something that breaks its protocol (bad JSON, wrong id).
  ChildStartupFailed,  ///< The child runtime failed its handshake.
  ChildCrashed,        ///< The child runtime exited or crashed, repeatedly.
  SubscribeFailed,     ///< Telemetry/Logs API subscription was refused.
  ListenerFailed,      ///< The local telemetry listener could not bind or serve.
  Io,                  ///< A local system call failed (spawn, pipe, file).
  InvalidInput,        ///< Caller-supplied data (event file, scenario) is malformed.
  Cancelled,           ///< The operation was stopped (shutdown, signal).
};

/** The Lambda `Lambda-Extension-Function-Error-Type` for a kind, `Extension.<Reason>` [EXT]. */
std::string_view error_type(ErrorKind kind);

/** A failure: what kind, and a message for humans (and for the init/exit error body). */
struct Error {
  ErrorKind kind;
  std::string message;
};

/** Either a T or an Error. `Result<void>` carries only success or an Error. */
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : data_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(data_); }
  explicit operator bool() const { return ok(); }

  /** The value; only valid when ok(). */
  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  /** The error; only valid when !ok(). */
  const Error& error() const { return std::get<Error>(data_); }

 private:
  std::variant<T, Error> data_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return *error_; }

 private:
  std::optional<Error> error_;
};

/** Shorthand for building an Error value. */
inline Error make_error(ErrorKind kind, std::string message) {
  return Error{kind, std::move(message)};
}

/** The Io error for the system call `what` that just failed: `what: <strerror(errno)>`. */
Error io_error(const std::string& what);

}  // namespace extension_runner
