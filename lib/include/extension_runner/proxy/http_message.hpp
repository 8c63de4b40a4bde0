#pragma once
/**
 * @file http_message.hpp
 * HTTP/1.1 message heads as the proxy reads them from the runtime (RFC 9112): pure parsing of a
 * request head, the body framing it announces, and the head of a response to write back.
 * No I/O here; proxy/runtime_connection.hpp does the reading and writing.
 */
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "extension_runner/core/result.hpp"

namespace extension_runner {

/** Header fields in the order received, names as spelled by the sender. */
using HeaderList = std::vector<std::pair<std::string, std::string>>;

/** ASCII case-insensitive comparison, as header names compare (RFC 9110 §5.1). */
bool iequals(std::string_view a, std::string_view b);

/** The value of the first field named `name` (any case), or nullptr. */
const std::string* find_header(const HeaderList& headers, std::string_view name);

/** Does the comma-separated value of every `name` field hold `token` (any case)? */
bool header_has_token(const HeaderList& headers, std::string_view name, std::string_view token);

/** `s` without leading and trailing spaces and tabs (optional whitespace, RFC 9110 §5.6.3). */
std::string_view trim_ows(std::string_view s);

/**
 * The line starting at `pos` of `bytes` without its LF or CRLF (bare LF accepted, RFC 9112
 * §2.2), moving `pos` past it; nullopt, `pos` unchanged, when no line end follows yet.
 */
std::optional<std::string_view> next_line(std::string_view bytes, size_t& pos);

/**
 * A `name: value` field line split, the value trimmed; nullopt without a colon, when the name
 * is not a token (RFC 9110 §5.1, §5.6.2), or when the value holds a CR or a NUL (RFC 9110 §5.5:
 * invalid and dangerous; a relay forwarding one could split the message for its next hop).
 */
std::optional<std::pair<std::string, std::string>> parse_field_line(std::string_view line);

/** Appends `name: value\r\n` for each field. */
void append_field_lines(std::string& out, const HeaderList& fields);

/** A request line plus its header fields. */
struct RequestHead {
  std::string method;
  std::string target;   ///< As sent: `/2018-06-01/runtime/invocation/next`, query included.
  std::string version;  ///< `HTTP/1.1` or `HTTP/1.0`.
  HeaderList headers;
};

/** How far parse_request_head got. */
enum class HeadStatus {
  Complete,   ///< `head` holds the request; `consumed` bytes were its head.
  NeedMore,   ///< No complete head yet (and still under the size limit).
  Malformed,  ///< Not an HTTP/1.x request head; `reason` says why (answered with 400).
  TooLarge,   ///< The head exceeds `max_bytes` (answered with 431).
};

struct HeadParse {
  HeadStatus status = HeadStatus::NeedMore;
  size_t consumed = 0;
  RequestHead head;
  std::string reason;
};

/**
 * Parses the request head at the start of `bytes`: request line, fields, empty line. Accepts
 * bare LF line ends (RFC 9112 §2.2) and optional whitespace around field values; rejects
 * obsolete line folding, a field name with whitespace, a CR or NUL in a field value, a target
 * with whitespace or a control character (RFC 9112 §3.2), and versions other than
 * HTTP/1.0/1.1.
 */
HeadParse parse_request_head(std::string_view bytes, size_t max_bytes);

/** A status line plus its header fields, as the proxy reads them from the Runtime API. */
struct ResponseHead {
  int status = 0;
  std::string version;  ///< `HTTP/1.1` or `HTTP/1.0`.
  HeaderList headers;
};

struct ResponseHeadParse {
  HeadStatus status = HeadStatus::NeedMore;
  size_t consumed = 0;
  ResponseHead head;
  std::string reason;
};

/**
 * Parses the response head at the start of `bytes`: status line, fields, empty line. Accepts
 * bare LF line ends, and replaces obsolete line folding by a space as a user agent must
 * (RFC 9112 §5.2); Malformed for a status line that is not `HTTP/1.x NNN[ reason]`, a field
 * without a colon, or a CR or NUL in a field value; TooLarge past `max_bytes`.
 */
ResponseHeadParse parse_response_head(std::string_view bytes, size_t max_bytes);

/** HTTP/1.1 keeps the connection unless `Connection: close`; HTTP/1.0 only with keep-alive. */
bool keeps_alive(const ResponseHead& head);

/** How a message body is delimited (RFC 9112 §6.3). */
struct BodyFraming {
  enum class Kind { None, Length, Chunked };
  Kind kind = Kind::None;
  uint64_t length = 0;  ///< Kind::Length only.
};

/**
 * The framing a request's fields announce: `Transfer-Encoding: chunked` → Chunked;
 * `Content-Length: N` → Length (N = 0 → None); neither → None. InvalidInput for any other
 * transfer coding, a malformed or conflicting Content-Length, or both fields at once (a
 * request-smuggling shape, RFC 9112 §6.1).
 */
Result<BodyFraming> request_body_framing(const HeaderList& headers);

/**
 * The framing of a response with these fields, for a relay: Chunked or Length as announced,
 * else None for statuses without a body (1xx, 204, 304), else nullopt (delimited by close).
 */
std::optional<BodyFraming> response_body_framing(int status, const HeaderList& headers);

/** HTTP/1.1 keeps the connection unless `Connection: close`; HTTP/1.0 only with keep-alive. */
bool keeps_alive(const RequestHead& head);

/** `Expect: 100-continue` was sent (RFC 9110 §10.1.1). */
bool expects_continue(const RequestHead& head);

/** The reason phrase for `status` ("OK", "Bad Gateway", …), "Unknown" when unlisted. */
std::string_view reason_phrase(int status);

/** `HTTP/1.1 <status> <reason>\r\n` + each field + `\r\n`. */
std::string format_response_head(int status, const HeaderList& headers);

}  // namespace extension_runner
