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

#include "extension_runner/result.hpp"

namespace extension_runner {

/** Parses `text` as one JSON value. Errors are ProtocolError with RapidJSON's reason and offset. */
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
