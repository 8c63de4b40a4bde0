// parse_request_head, request_body_framing, keeps_alive, expects_continue (proxy/http_message.hpp):
// what the function's runtime sends the proxy, byte for byte [docs/proxy.md].
// Invariants: a head read in pieces gives what it gives whole (NeedMore until it is complete,
// never another verdict); a complete head is what the proxy may forward (method a token,
// HTTP/1.0 or 1.1, a target without whitespace or controls, field names tokens, values trimmed
// without CR or NUL), and written out again it parses back to itself; framing is refused only
// as InvalidInput, never both Content-Length and Transfer-Encoding, never a zero Length.
#include <algorithm>
#include <string>

#include "extension_runner/proxy/http_message.hpp"
#include "fuzz_check.hpp"
#include "head_prefixes.hpp"

using namespace extension_runner;

namespace {

constexpr size_t kMaxHead = 4096;

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f &&
           std::string_view("\"(),/:;<=>?@[\\]{}").find(c) == std::string_view::npos;
  });
}

bool same(const HeadParse& a, const HeadParse& b) {
  return a.status == b.status && a.consumed == b.consumed && a.head.method == b.head.method &&
         a.head.target == b.head.target && a.head.version == b.head.version &&
         a.head.headers == b.head.headers;
}

void check_complete(const RequestHead& head) {
  FUZZ_CHECK(is_token(head.method));
  FUZZ_CHECK(head.version == "HTTP/1.1" || head.version == "HTTP/1.0");
  FUZZ_CHECK(!head.target.empty());
  FUZZ_CHECK(std::none_of(head.target.begin(), head.target.end(), [](char c) {
    return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
  }));
  for (const auto& [name, value] : head.headers) {
    FUZZ_CHECK(is_token(name));
    FUZZ_CHECK(value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
    FUZZ_CHECK(trim_ows(value) == value);
  }
}

void check_written_again(const HeadParse& parse) {
  std::string text =
      parse.head.method + " " + parse.head.target + " " + parse.head.version + "\r\n";
  append_field_lines(text, parse.head.headers);
  text += "\r\n";
  const HeadParse again = parse_request_head(text, text.size());
  FUZZ_CHECK(again.status == HeadStatus::Complete);
  FUZZ_CHECK(again.consumed == text.size());
  FUZZ_CHECK(again.head.method == parse.head.method && again.head.target == parse.head.target &&
             again.head.version == parse.head.version && again.head.headers == parse.head.headers);
}

void check_framing(const RequestHead& head) {
  const auto framing = request_body_framing(head.headers);
  const bool has_length = find_header(head.headers, "Content-Length") != nullptr;
  const bool has_coding = find_header(head.headers, "Transfer-Encoding") != nullptr;
  if (!framing) {
    FUZZ_CHECK(framing.error().kind == ErrorKind::InvalidInput);
    FUZZ_CHECK(!framing.error().message.empty());
    return;
  }
  FUZZ_CHECK(!(has_length && has_coding));
  if (framing->kind == BodyFraming::Kind::Length) FUZZ_CHECK(framing->length > 0);
  if (framing->kind == BodyFraming::Kind::Chunked) FUZZ_CHECK(has_coding);
  (void)keeps_alive(head);
  (void)expects_continue(head);
}

}  // namespace

// Byte 0: how many bytes each read adds (1-64); the rest: what the runtime sent.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto whole = fuzz::complete_head(
      data, size, [](std::string_view b) { return parse_request_head(b, kMaxHead); }, same);
  if (!whole) return 0;
  FUZZ_CHECK(whole->consumed <= kMaxHead);
  check_complete(whole->head);
  check_written_again(*whole);
  check_framing(whole->head);
  return 0;
}
