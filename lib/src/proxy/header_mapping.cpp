#include "extension_runner/proxy/header_mapping.hpp"

#include <algorithm>
#include <array>

namespace extension_runner {
namespace {

constexpr std::array<std::string_view, 12> kDropped = {
    "Connection",
    "Keep-Alive",
    "Proxy-Connection",
    "TE",
    "Upgrade",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Content-Length",
    "Transfer-Encoding",
    "Trailer",
    "Host",
    "Expect",
};

bool starts_with_icase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool named_by_connection(const HeaderList& headers, std::string_view name) {
  return header_has_token(headers, "Connection", name);
}

}  // namespace

HeaderList end_to_end_headers(const HeaderList& headers) {
  HeaderList out;
  out.reserve(headers.size());
  for (const auto& field : headers) {
    const bool dropped = std::any_of(kDropped.begin(), kDropped.end(),
                                     [&](std::string_view d) { return iequals(field.first, d); });
    if (!dropped && !named_by_connection(headers, field.first)) out.push_back(field);
  }
  return out;
}

HeaderList event_headers(const HeaderList& headers) {
  HeaderList out;
  for (const auto& header : headers) {
    const std::string& name = header.first;
    const std::string& value = header.second;
    if (!iequals(name, "Content-Type") && !starts_with_icase(name, "Lambda-Runtime-")) continue;
    auto same = std::find_if(out.begin(), out.end(),
                             [&](const auto& field) { return iequals(field.first, name); });
    if (same == out.end()) {
      out.emplace_back(name, value);
    } else {
      same->second += ", " + value;
    }
  }
  return out;
}

void add_length_framing(HeaderList& headers, uint64_t length) {
  headers.emplace_back("Content-Length", std::to_string(length));
}

void add_chunked_framing(HeaderList& headers, const std::string* announced_trailers) {
  headers.emplace_back("Transfer-Encoding", "chunked");
  if (announced_trailers != nullptr && !announced_trailers->empty()) {
    headers.emplace_back("Trailer", *announced_trailers);
  }
}

}  // namespace extension_runner
