#include "extension_runner/proxy/runtime_body_source.hpp"

#include <algorithm>
#include <cstring>

#include "extension_runner/proxy/base64.hpp"
#include "extension_runner/proxy/decision.hpp"
#include "extension_runner/proxy/header_mapping.hpp"

namespace extension_runner {

Result<size_t> RuntimeBodySource::read(char* out, size_t capacity) {
  size_t n = 0;
  if (prefix_sent_ < prefix_.size()) {
    n = std::min(capacity, prefix_.size() - prefix_sent_);
    std::memcpy(out, prefix_.data() + prefix_sent_, n);
    prefix_sent_ += n;
    if (prefix_sent_ == prefix_.size()) std::string().swap(prefix_);
  } else {
    auto got = connection_.read_body(out, capacity);
    if (!got.ok()) {
      failure_ = got.error();
      return got.error();
    }
    n = got.value();
  }
  if (start_.size() < keep_) start_.append(out, std::min(n, keep_ - start_.size()));
  bytes_ += n;
  return n;
}

HeaderList RuntimeBodySource::trailers() {
  if (!failure_) return end_to_end_headers(connection_.trailers());
  const std::string message = "the runtime's request to the proxy broke off after " +
                              std::to_string(bytes_) + " bytes of a streamed response (" +
                              failure_->message + ")";
  return {{runtime_header::kErrorType, kRuntimeDisconnectedErrorType},
          {runtime_header::kErrorBody,
           base64_encode(error_body_json(kRuntimeDisconnectedErrorType, message))}};
}

}  // namespace extension_runner
