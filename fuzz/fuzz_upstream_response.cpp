// parse_response_head, response_body_framing, keeps_alive, format_response_head
// (proxy/http_message.hpp): what the Runtime API answers the proxy, relayed to the runtime.
// Invariants: a head read in pieces gives what it gives whole (NeedMore until complete, never
// another verdict); a complete head has a status 100-999, HTTP/1.0 or 1.1, field names tokens
// and values trimmed without CR, LF or NUL (folded lines joined by one space); the head the
// proxy writes from it parses back to the same status and fields; a Length framing is never 0.
#include <algorithm>
#include <string>

#include "extension_runner/proxy/http_message.hpp"
#include "fuzz_check.hpp"
#include "head_prefixes.hpp"

using namespace extension_runner;

namespace {

constexpr size_t kMaxHead = 4096;

bool same(const ResponseHeadParse& a, const ResponseHeadParse& b) {
  return a.status == b.status && a.consumed == b.consumed && a.head.status == b.head.status &&
         a.head.version == b.head.version && a.head.headers == b.head.headers;
}

void check_complete(const ResponseHead& head) {
  FUZZ_CHECK(head.status >= 100 && head.status <= 999);
  FUZZ_CHECK(head.version == "HTTP/1.1" || head.version == "HTTP/1.0");
  for (const auto& [name, value] : head.headers) {
    FUZZ_CHECK(!name.empty() && name.find_first_of(" \t:\r\n") == std::string::npos);
    FUZZ_CHECK(value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
  }
}

void check_written_again(const ResponseHead& head) {
  const std::string text = format_response_head(head.status, head.headers);
  const ResponseHeadParse again = parse_response_head(text, text.size());
  FUZZ_CHECK(again.status == HeadStatus::Complete);
  FUZZ_CHECK(again.consumed == text.size());
  FUZZ_CHECK(again.head.status == head.status);
  FUZZ_CHECK(again.head.headers == head.headers);
}

void check_framing(const ResponseHead& head) {
  const auto framing = response_body_framing(head.status, head.headers);
  if (framing && framing->kind == BodyFraming::Kind::Length) FUZZ_CHECK(framing->length > 0);
  if (head.status < 200 || head.status == 204 || head.status == 304) {
    FUZZ_CHECK(framing && framing->kind == BodyFraming::Kind::None);
  }
  (void)keeps_alive(head);
}

}  // namespace

// Byte 0: how many bytes each read adds (1-64); the rest: what the Runtime API answered.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto whole = fuzz::complete_head(
      data, size, [](std::string_view b) { return parse_response_head(b, kMaxHead); }, same);
  if (!whole) return 0;
  FUZZ_CHECK(whole->consumed <= kMaxHead);
  check_complete(whole->head);
  check_written_again(whole->head);
  check_framing(whole->head);
  return 0;
}
