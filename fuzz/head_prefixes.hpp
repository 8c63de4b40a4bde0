#pragma once
/**
 * @file head_prefixes.hpp
 * The check the two head parsers' targets share: a head read in pieces gives what it gives whole.
 */
#include <algorithm>
#include <optional>
#include <string_view>

#include "extension_runner/proxy/http_message.hpp"
#include "fuzz_check.hpp"

namespace extension_runner::fuzz {

/**
 * The complete head parsed from a fuzz input (byte 0: how many bytes each read adds, 1-64; the
 * rest: the bytes), nullopt when there is none, after checking the parse against `parse` of
 * every prefix growing by that many bytes: NeedMore until the whole's head is complete, then the
 * same parse (`same`); never Complete when the whole is not; a Malformed whole says why.
 * `Parse` returns a HeadParse or a ResponseHeadParse.
 */
template <typename Parse, typename Same>
auto complete_head(const uint8_t* data, size_t size, Parse parse, Same same)
    -> std::optional<decltype(parse(std::string_view()))> {
  if (size == 0) return std::nullopt;
  const size_t piece = 1 + data[0] % 64;
  const std::string_view bytes = as_text(data + 1, size - 1);
  auto whole = parse(bytes);
  if (whole.status == HeadStatus::Malformed) FUZZ_CHECK(!whole.reason.empty());
  for (size_t have = 0; have < bytes.size(); have = std::min(bytes.size(), have + piece)) {
    const auto part = parse(bytes.substr(0, have));
    if (whole.status == HeadStatus::Complete) {
      if (have < whole.consumed) FUZZ_CHECK(part.status == HeadStatus::NeedMore);
      if (have >= whole.consumed) FUZZ_CHECK(same(part, whole));
    } else {
      FUZZ_CHECK(part.status != HeadStatus::Complete);
    }
  }
  if (whole.status != HeadStatus::Complete) return std::nullopt;
  FUZZ_CHECK(whole.consumed <= bytes.size());
  return whole;
}

}  // namespace extension_runner::fuzz
