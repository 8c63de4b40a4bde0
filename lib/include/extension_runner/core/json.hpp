#pragma once
/**
 * @file json.hpp
 * Thin helpers over RapidJSON: checked parsing into a Result, compact serialisation,
 * and typed field lookups that tolerate missing or mistyped optional fields.
 */
#include <rapidjson/document.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "extension_runner/core/result.hpp"

namespace extension_runner {

/**
 * Deepest array/object nesting parse_json accepts. Serialising a document recurses once per
 * level, so an unbounded depth lets a few MB of `[` (a child's reply, a telemetry POST)
 * overflow the stack; no Lambda event or log record comes near this.
 */
inline constexpr int kMaxJsonDepth = 1000;

/**
 * Parses `text` as exactly one JSON value (RFC 8259). Errors are ProtocolError with the reason
 * and byte offset. Stricter than RapidJSON's defaults, so that every text it accepts means the
 * same thing to every later reader: a byte-order mark or a NUL byte anywhere is an error (not
 * skipped / not the end of the text), nesting deeper than kMaxJsonDepth is an error, and
 * numbers are converted with correct rounding (a number whose magnitude is outside a double's
 * range, e.g. 1e400 or 1e-400, is an error), so to_json() of the result re-parses to the same
 * values and re-serialises to the same text.
 */
Result<rapidjson::Document> parse_json(std::string_view text);

/** Internals of parse_json_events (shared with parse_json); not for direct use. */
namespace json_detail {
enum class Failure { None, TooDeep, NumberOutOfRange };
struct Number {
  enum class Kind { Int64, Uint64, Double } kind = Kind::Int64;
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
};
bool convert_number(const char* text, size_t size, Number& out);
Result<void> checked_result(Failure failure, const rapidjson::ParseResult& result, size_t consumed,
                            size_t size, int max_depth = kMaxJsonDepth);

// Forwards RapidJSON's SAX events to `Handler` with two repairs (see parse_json): it refuses to
// open a level beyond kMaxJsonDepth, and numbers arrive as text and are converted here.
// NOLINTBEGIN(readability-identifier-naming): RapidJSON's SAX handler interface names these.
template <typename Handler>
class CheckedHandler {
 public:
  explicit CheckedHandler(Handler& handler, int max_depth = kMaxJsonDepth)
      : handler_(handler), max_depth_(max_depth) {}

  bool Null() { return handler_.Null(); }
  bool Bool(bool b) { return handler_.Bool(b); }
  // Only RawNumber is called under kParseNumbersAsStringsFlag; these four must still compile.
  bool Int(int i) { return handler_.Int64(i); }
  bool Uint(unsigned u) { return handler_.Uint64(u); }
  bool Int64(int64_t i) { return handler_.Int64(i); }
  bool Uint64(uint64_t u) { return handler_.Uint64(u); }
  bool Double(double d) { return handler_.Double(d); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool /*copy*/) {
    Number number;
    if (!convert_number(s, n, number)) {
      failure_ = Failure::NumberOutOfRange;
      return false;
    }
    switch (number.kind) {
      case Number::Kind::Int64:
        return handler_.Int64(number.i);
      case Number::Kind::Uint64:
        return handler_.Uint64(number.u);
      case Number::Kind::Double:
        break;
    }
    return handler_.Double(number.d);
  }
  bool String(const char* s, rapidjson::SizeType n, bool copy) {
    return handler_.String(s, n, copy);
  }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) { return handler_.Key(s, n, copy); }
  bool StartObject() { return enter() && handler_.StartObject(); }
  bool EndObject(rapidjson::SizeType members) {
    --depth_;
    return handler_.EndObject(members);
  }
  bool StartArray() { return enter() && handler_.StartArray(); }
  bool EndArray(rapidjson::SizeType elements) {
    --depth_;
    return handler_.EndArray(elements);
  }

  Failure failure() const { return failure_; }

 private:
  bool enter() {
    if (++depth_ <= max_depth_) return true;
    failure_ = Failure::TooDeep;
    return false;
  }

  Handler& handler_;
  int max_depth_;
  int depth_ = 0;
  Failure failure_ = Failure::None;
};
// NOLINTEND(readability-identifier-naming)
}  // namespace json_detail

/**
 * The checks of parse_json without its Document: parses the whole of `stream` as exactly one
 * JSON value and hands the SAX events to `handler` (RapidJSON's handler interface: Null, Bool,
 * Int64, Uint64, Double, String, Key, StartObject, EndObject, StartArray, EndArray; never Int,
 * Uint or RawNumber). Numbers arrive converted as parse_json converts them; the same depth
 * limit, NUL-byte and trailing-bytes checks apply and fail with the same ProtocolError messages.
 * `stream` must be a bare MemoryStream over the text (not Document::Parse's input stream, which
 * drops leading BOM bytes); during an event its Tell() is the offset just past the token
 * that raised it (a `{` for StartObject, a `}` for EndObject). A handler returning false stops
 * the parse with RapidJSON's "Terminate parsing due to Handler error".
 */
template <typename Handler>
Result<void> parse_json_events(rapidjson::MemoryStream& stream, Handler& handler) {
  rapidjson::Reader reader;
  json_detail::CheckedHandler<Handler> checked(handler);
  const rapidjson::ParseResult result =
      reader.Parse<rapidjson::kParseNumbersAsStringsFlag>(stream, checked);
  return json_detail::checked_result(checked.failure(), result, stream.Tell(), stream.size_);
}

/**
 * Is `text` what parse_json accepts? The same checks and the same ProtocolError messages, but
 * no Document is built and no string or number is copied out of `text` (RapidJSON's reader
 * otherwise copies every string byte into its stack): for validating a large payload that is
 * then passed on as it is. `max_depth` lowers the nesting limit for text that will be embedded
 * in more JSON (its levels add to the embedding's).
 */
Result<void> check_json(std::string_view text, int max_depth = kMaxJsonDepth);

/**
 * check_json, and whether `text` spans lines: true when it holds a CR or LF, which in valid JSON
 * can only be whitespace between tokens. In the common case one pass over the text does both
 * (the proxy checks each payload on an invocation's path, then must know whether it fits on the
 * runner protocol's line as it is).
 */
Result<bool> check_json_spans_lines(std::string_view text, int max_depth = kMaxJsonDepth);

/** Compact JSON text of a value. */
std::string to_json(const rapidjson::Value& value);

/** `value[key]` if value is an object holding a string there. */
std::optional<std::string> json_string(const rapidjson::Value& value, const char* key);
/** `d` as an int64 if it is finite, has no fraction and fits (what json_int64 accepts of a double).
 */
std::optional<int64_t> exact_int64(double d);

/** `value[key]` if value is an object holding an integer there (doubles with no fraction too). */
std::optional<int64_t> json_int64(const rapidjson::Value& value, const char* key);
/** `value[key]` if value is an object holding a bool there. */
std::optional<bool> json_bool(const rapidjson::Value& value, const char* key);
/** Pointer to `value[key]` if value is an object with that member, else nullptr. */
const rapidjson::Value* json_member(const rapidjson::Value& value, const char* key);

/** A JSON string literal (with quotes) for `text`, escaped. */
std::string json_quote(std::string_view text);

/**
 * `{"errorType":…,"errorMessage":…}`: the error object Lambda's APIs answer with and a function
 * error's result carries [EXT].
 */
std::string json_error_object(std::string_view error_type, std::string_view message);

}  // namespace extension_runner
