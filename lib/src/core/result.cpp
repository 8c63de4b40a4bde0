#include "extension_runner/core/result.hpp"

#include <cerrno>
#include <cstring>

namespace extension_runner {

std::string_view error_type(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::ConfigInvalid:
      return "Extension.ConfigInvalid";
    case ErrorKind::ApiUnreachable:
      return "Extension.ApiUnreachable";
    case ErrorKind::ApiRejected:
      return "Extension.ApiRejected";
    case ErrorKind::ApiFatal:
      return "Extension.ApiFatal";
    case ErrorKind::ProtocolError:
      return "Extension.ProtocolError";
    case ErrorKind::ChildStartupFailed:
      return "Extension.ChildStartupFailed";
    case ErrorKind::ChildCrashed:
      return "Extension.ChildCrashed";
    case ErrorKind::SubscribeFailed:
      return "Extension.SubscribeFailed";
    case ErrorKind::ListenerFailed:
      return "Extension.ListenerFailed";
    case ErrorKind::Io:
      return "Extension.IoError";
    case ErrorKind::InvalidInput:
      return "Extension.InvalidInput";
    case ErrorKind::Cancelled:
      return "Extension.Cancelled";
  }
  return "Extension.UnknownReason";
}

Error io_error(const std::string& what) {
  return make_error(ErrorKind::Io, what + ": " + std::strerror(errno));
}

}  // namespace extension_runner
