#include "extension_runner/core/json.hpp"

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace extension_runner {

namespace {

// Forwards RapidJSON's SAX events into the Document, with two repairs:
// - it refuses to open a level beyond kMaxJsonDepth, so the depth never costs stack;
// - numbers arrive as text (kParseNumbersAsStringsFlag) and are converted here with
//   std::from_chars, which rounds correctly. RapidJSON 1.1.0's default conversion is off by an
//   ulp for long numbers (a re-serialised payload changes), and its kParseFullPrecisionFlag
//   path turns zero with an exponent ("0e52") into garbage (clz(0) in internal/diyfp.h).
// NOLINTBEGIN(readability-identifier-naming): RapidJSON's SAX handler interface names these.
class CheckedHandler {
 public:
  enum class Failure { None, TooDeep, NumberOutOfRange };

  explicit CheckedHandler(rapidjson::Document& doc) : doc_(doc) {}

  bool Null() { return doc_.Null(); }
  bool Bool(bool b) { return doc_.Bool(b); }
  bool Int(int i) { return doc_.Int(i); }
  bool Uint(unsigned u) { return doc_.Uint(u); }
  bool Int64(int64_t i) { return doc_.Int64(i); }
  bool Uint64(uint64_t u) { return doc_.Uint64(u); }
  bool Double(double d) { return doc_.Double(d); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool /*copy*/) {
    const char* end = s + n;
    // The reader has checked the grammar: only '.', 'e' or 'E' make a non-integer.
    if (std::find_if(s, end, [](char c) { return c == '.' || c == 'e' || c == 'E'; }) == end) {
      int64_t i = 0;
      if (auto r = std::from_chars(s, end, i); r.ec == std::errc() && r.ptr == end) {
        return doc_.Int64(i);
      }
      uint64_t u = 0;
      if (auto r = std::from_chars(s, end, u); r.ec == std::errc() && r.ptr == end) {
        return doc_.Uint64(u);
      }
    }
    double d = 0;
    const auto r = std::from_chars(s, end, d);
    if (r.ec != std::errc() || r.ptr != end) {
      failure_ = Failure::NumberOutOfRange;
      return false;
    }
    return doc_.Double(d);
  }
  bool String(const char* s, rapidjson::SizeType n, bool copy) { return doc_.String(s, n, copy); }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) { return doc_.Key(s, n, copy); }
  bool StartObject() { return enter() && doc_.StartObject(); }
  bool EndObject(rapidjson::SizeType members) {
    --depth_;
    return doc_.EndObject(members);
  }
  bool StartArray() { return enter() && doc_.StartArray(); }
  bool EndArray(rapidjson::SizeType elements) {
    --depth_;
    return doc_.EndArray(elements);
  }

  Failure failure() const { return failure_; }

 private:
  bool enter() {
    if (++depth_ <= kMaxJsonDepth) return true;
    failure_ = Failure::TooDeep;
    return false;
  }

  rapidjson::Document& doc_;
  int depth_ = 0;
  Failure failure_ = Failure::None;
};
// NOLINTEND(readability-identifier-naming)

Error json_error(const std::string& why, size_t offset) {
  return make_error(ErrorKind::ProtocolError,
                    "invalid JSON: " + why + " at offset " + std::to_string(offset));
}

}  // namespace

Result<rapidjson::Document> parse_json(std::string_view text) {
  // A bare MemoryStream: Document::Parse(ptr, len) wraps it in an EncodedInputStream that
  // silently drops leading 0xEF/0xBB/0xBF bytes, which would shift every offset we derive.
  rapidjson::MemoryStream stream(text.data(), text.size());
  rapidjson::Reader reader;
  rapidjson::Document doc;
  CheckedHandler handler(doc);
  rapidjson::ParseResult result;
  auto generate = [&](rapidjson::Document&) {
    result = reader.Parse<rapidjson::kParseNumbersAsStringsFlag>(stream, handler);
    return !result.IsError();
  };
  doc.Populate(generate);
  switch (handler.failure()) {
    case CheckedHandler::Failure::TooDeep:
      return json_error("nested deeper than " + std::to_string(kMaxJsonDepth) + " levels",
                        result.Offset());
    case CheckedHandler::Failure::NumberOutOfRange:
      return json_error("number out of the range of a double", result.Offset());
    case CheckedHandler::Failure::None:
      break;
  }
  if (result.IsError()) {
    return json_error(rapidjson::GetParseError_En(result.Code()), result.Offset());
  }
  // The reader takes a NUL byte for the end of the text; anything after it would be ignored.
  if (stream.Tell() != text.size()) {
    return json_error("NUL byte (text continues after the JSON value)", stream.Tell());
  }
  return doc;
}

std::string to_json(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

const rapidjson::Value* json_member(const rapidjson::Value& value, const char* key) {
  if (!value.IsObject()) return nullptr;
  auto it = value.FindMember(key);
  return it == value.MemberEnd() ? nullptr : &it->value;
}

std::optional<std::string> json_string(const rapidjson::Value& value, const char* key) {
  const auto* m = json_member(value, key);
  if (m == nullptr || !m->IsString()) return std::nullopt;
  return std::string(m->GetString(), m->GetStringLength());
}

std::optional<int64_t> json_int64(const rapidjson::Value& value, const char* key) {
  const auto* m = json_member(value, key);
  if (m == nullptr) return std::nullopt;
  if (m->IsInt64()) return m->GetInt64();
  if (m->IsUint64()) return std::nullopt;  // beyond int64: not a plausible ms value
  if (m->IsDouble()) {
    const double d = m->GetDouble();
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.2e18) {
      return static_cast<int64_t>(d);
    }
  }
  return std::nullopt;
}

std::optional<bool> json_bool(const rapidjson::Value& value, const char* key) {
  const auto* m = json_member(value, key);
  if (m == nullptr || !m->IsBool()) return std::nullopt;
  return m->GetBool();
}

std::string json_quote(std::string_view text) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace extension_runner
