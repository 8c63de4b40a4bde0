#include "extension_runner/proxy/http_message.hpp"

#include <algorithm>
#include <charconv>

namespace extension_runner {
namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// RFC 9110 §5.6.2 token characters: what a method and a field name may hold.
bool is_token(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
    return std::string_view("\"(),/:;<=>?@[\\]{}").find(c) == std::string_view::npos;
  });
}

// RFC 9110 §5.5: CR, LF and NUL in a field value are invalid and dangerous (a recipient must
// reject or replace them); LF never gets this far, it ends the line.
bool has_forbidden_value_byte(std::string_view value) {
  return value.find_first_of(std::string_view("\r\0", 2)) != std::string_view::npos;
}

// RFC 9112 §3.2: a request target holds no whitespace and no control character.
bool is_request_target(std::string_view s) {
  return !s.empty() && std::none_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
  });
}

HeadParse malformed(std::string reason) {
  HeadParse p;
  p.status = HeadStatus::Malformed;
  p.reason = std::move(reason);
  return p;
}

bool parse_request_line(std::string_view line, RequestHead& head) {
  const auto sp1 = line.find(' ');
  const auto sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return false;
  head.method = std::string(line.substr(0, sp1));
  head.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  head.version = std::string(line.substr(sp2 + 1));
  return is_token(head.method) && is_request_target(head.target) &&
         (head.version == "HTTP/1.1" || head.version == "HTTP/1.0");
}

/** One `name: value` field into `head`; the reason it is malformed otherwise. */
std::optional<std::string> parse_field(std::string_view line, RequestHead& head) {
  if (line.front() == ' ' || line.front() == '\t') return "obsolete line folding";
  auto field = parse_field_line(line);
  if (!field)
    return "a header field without a colon, with an invalid name, or a CR or NUL in its value";
  head.headers.push_back(std::move(*field));
  return std::nullopt;
}

std::optional<uint64_t> parse_decimal(std::string_view text) {
  uint64_t value = 0;
  if (text.empty() ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  const auto r = std::from_chars(text.data(), text.data() + text.size(), value);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

/** All Content-Length fields must agree (a list of equal values counts as one, RFC 9110 §8.6). */
Result<std::optional<uint64_t>> content_length(const HeaderList& headers) {
  std::optional<uint64_t> length;
  for (const auto& [name, value] : headers) {
    if (!iequals(name, "Content-Length")) continue;
    // An empty field is no length (1*DIGIT): taken as absent, it would let one beside a
    // Transfer-Encoding through, the shape request smuggling is made of.
    if (trim_ows(value).empty()) {
      return make_error(ErrorKind::InvalidInput, "invalid Content-Length: (empty)");
    }
    std::string_view rest = value;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      const auto item = parse_decimal(trim_ows(rest.substr(0, comma)));
      if (!item || (length && *length != *item)) {
        return make_error(ErrorKind::InvalidInput, "invalid Content-Length: " + value);
      }
      length = item;
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    }
  }
  return length;
}

}  // namespace

std::string_view trim_ows(std::string_view s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

std::optional<std::string_view> next_line(std::string_view bytes, size_t& pos) {
  const auto lf = bytes.find('\n', pos);
  if (lf == std::string_view::npos) return std::nullopt;
  size_t end = lf;
  if (end > pos && bytes[end - 1] == '\r') --end;
  const std::string_view line = bytes.substr(pos, end - pos);
  pos = lf + 1;
  return line;
}

std::optional<std::pair<std::string, std::string>> parse_field_line(std::string_view line) {
  const auto colon = line.find(':');
  if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) return std::nullopt;
  const std::string_view value = trim_ows(line.substr(colon + 1));
  if (has_forbidden_value_byte(value)) return std::nullopt;
  return std::make_pair(std::string(line.substr(0, colon)), std::string(value));
}

void append_field_lines(std::string& out, const HeaderList& fields) {
  for (const auto& [name, value] : fields) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

const std::string* find_header(const HeaderList& headers, std::string_view name) {
  for (const auto& field : headers) {
    if (iequals(field.first, name)) return &field.second;
  }
  return nullptr;
}

bool header_has_token(const HeaderList& headers, std::string_view name, std::string_view token) {
  for (const auto& [field, value] : headers) {
    if (!iequals(field, name)) continue;
    std::string_view rest = value;
    while (true) {
      const auto comma = rest.find(',');
      if (iequals(trim_ows(rest.substr(0, comma)), token)) return true;
      if (comma == std::string_view::npos) break;
      rest = rest.substr(comma + 1);
    }
  }
  return false;
}

HeadParse parse_request_head(std::string_view bytes, size_t max_bytes) {
  size_t pos = 0;
  // RFC 9112 §2.2: a server should ignore empty lines before the request line.
  while (pos < bytes.size() && (bytes[pos] == '\r' || bytes[pos] == '\n')) ++pos;
  HeadParse result;
  auto line = next_line(bytes, pos);
  while (line && !line->empty()) {
    if (result.head.method.empty()) {
      if (!parse_request_line(*line, result.head)) return malformed("an invalid request line");
    } else if (auto why = parse_field(*line, result.head)) {
      return malformed(*why);
    }
    line = next_line(bytes, pos);
  }
  if (!line) {
    result.status = bytes.size() > max_bytes ? HeadStatus::TooLarge : HeadStatus::NeedMore;
    return result;
  }
  if (pos > max_bytes) {
    result.status = HeadStatus::TooLarge;
    return result;
  }
  result.status = HeadStatus::Complete;
  result.consumed = pos;
  return result;
}

namespace {

ResponseHeadParse malformed_response(std::string reason) {
  ResponseHeadParse p;
  p.status = HeadStatus::Malformed;
  p.reason = std::move(reason);
  return p;
}

bool parse_status_line(std::string_view line, ResponseHead& head) {
  if (line.size() < 12 || line[8] != ' ' || (line.size() > 12 && line[12] != ' ')) return false;
  head.version = std::string(line.substr(0, 8));
  if (head.version != "HTTP/1.1" && head.version != "HTTP/1.0") return false;
  const auto code = parse_decimal(line.substr(9, 3));
  if (!code || *code < 100) return false;
  head.status = static_cast<int>(*code);
  return true;
}

}  // namespace

ResponseHeadParse parse_response_head(std::string_view bytes, size_t max_bytes) {
  size_t pos = 0;
  ResponseHeadParse result;
  auto line = next_line(bytes, pos);
  while (line && !line->empty()) {
    if (result.head.status == 0) {
      if (!parse_status_line(*line, result.head))
        return malformed_response("an invalid status line");
    } else if ((line->front() == ' ' || line->front() == '\t') && !result.head.headers.empty()) {
      const std::string_view more = trim_ows(*line);
      if (has_forbidden_value_byte(more)) {
        return malformed_response("a CR or NUL in a header field value");
      }
      // One space between non-empty parts: written out again and re-read, the value is the same.
      std::string& value = result.head.headers.back().second;
      if (!value.empty() && !more.empty()) value += ' ';
      value += more;
    } else if (auto field = parse_field_line(*line)) {
      result.head.headers.push_back(std::move(*field));
    } else {
      return malformed_response(
          "a header field without a colon, with an invalid name, or a CR or NUL in its value");
    }
    line = next_line(bytes, pos);
  }
  if (line && result.head.status == 0) return malformed_response("no status line");
  if (!line || pos > max_bytes) {
    result.status =
        !line && bytes.size() <= max_bytes ? HeadStatus::NeedMore : HeadStatus::TooLarge;
    return result;
  }
  result.status = HeadStatus::Complete;
  result.consumed = pos;
  return result;
}

bool keeps_alive(const ResponseHead& head) {
  if (header_has_token(head.headers, "Connection", "close")) return false;
  if (head.version == "HTTP/1.1") return true;
  return header_has_token(head.headers, "Connection", "keep-alive");
}

Result<BodyFraming> request_body_framing(const HeaderList& headers) {
  const auto length = content_length(headers);
  if (!length.ok()) return length.error();
  const std::string* coding = find_header(headers, "Transfer-Encoding");
  if (coding != nullptr) {
    if (length.value()) {
      return make_error(ErrorKind::InvalidInput,
                        "both Transfer-Encoding and Content-Length (RFC 9112 section 6.1)");
    }
    if (!iequals(trim_ows(*coding), "chunked")) {
      return make_error(ErrorKind::InvalidInput, "unsupported Transfer-Encoding: " + *coding);
    }
    return BodyFraming{BodyFraming::Kind::Chunked, 0};
  }
  if (!length.value() || *length.value() == 0) return BodyFraming{};
  return BodyFraming{BodyFraming::Kind::Length, *length.value()};
}

std::optional<BodyFraming> response_body_framing(int status, const HeaderList& headers) {
  if ((status >= 100 && status < 200) || status == 204 || status == 304) return BodyFraming{};
  if (header_has_token(headers, "Transfer-Encoding", "chunked")) {
    return BodyFraming{BodyFraming::Kind::Chunked, 0};
  }
  const auto length = content_length(headers);
  if (length.ok() && length.value()) {
    if (*length.value() == 0) return BodyFraming{};
    return BodyFraming{BodyFraming::Kind::Length, *length.value()};
  }
  return std::nullopt;
}

bool keeps_alive(const RequestHead& head) {
  if (header_has_token(head.headers, "Connection", "close")) return false;
  if (head.version == "HTTP/1.1") return true;
  return header_has_token(head.headers, "Connection", "keep-alive");
}

bool expects_continue(const RequestHead& head) {
  const std::string* expect = find_header(head.headers, "Expect");
  return expect != nullptr && iequals(trim_ows(*expect), "100-continue");
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 410:
      return "Gone";
    case 413:
      return "Payload Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

std::string format_response_head(int status, const HeaderList& headers) {
  std::string head = "HTTP/1.1 " + std::to_string(status) + " ";
  head += reason_phrase(status);
  head += "\r\n";
  append_field_lines(head, headers);
  head += "\r\n";
  return head;
}

}  // namespace extension_runner
