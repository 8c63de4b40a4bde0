#pragma once
/**
 * @file json.hpp
 * Thin helpers over RapidJSON: checked parsing into a Result, compact serialisation,
 * and typed field lookups that tolerate missing or mistyped optional fields.
 */
#include <rapidjson/document.h>

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

/** Compact JSON text of a value. */
std::string to_json(const rapidjson::Value& value);

/** `value[key]` if value is an object holding a string there. */
std::optional<std::string> json_string(const rapidjson::Value& value, const char* key);
/** `value[key]` if value is an object holding an integer there (doubles with no fraction too). */
std::optional<int64_t> json_int64(const rapidjson::Value& value, const char* key);
/** `value[key]` if value is an object holding a bool there. */
std::optional<bool> json_bool(const rapidjson::Value& value, const char* key);
/** Pointer to `value[key]` if value is an object with that member, else nullptr. */
const rapidjson::Value* json_member(const rapidjson::Value& value, const char* key);

/** A JSON string literal (with quotes) for `text`, escaped. */
std::string json_quote(std::string_view text);

}  // namespace extension_runner
