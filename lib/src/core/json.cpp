#include "extension_runner/core/json.hpp"

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

namespace extension_runner::json_detail {

// Numbers arrive as text (kParseNumbersAsStringsFlag) and are converted with std::from_chars,
// which rounds correctly. RapidJSON 1.1.0's default conversion is off by an ulp for long
// numbers (a re-serialised payload changes), and its kParseFullPrecisionFlag path turns zero
// with an exponent ("0e52") into garbage (clz(0) in internal/diyfp.h).
bool convert_number(const char* text, size_t size, Number& out) {
  const char* end = text + size;
  // The reader has checked the grammar: only '.', 'e' or 'E' make a non-integer.
  if (std::find_if(text, end, [](char c) { return c == '.' || c == 'e' || c == 'E'; }) == end) {
    if (auto r = std::from_chars(text, end, out.i); r.ec == std::errc() && r.ptr == end) {
      out.kind = Number::Kind::Int64;
      return true;
    }
    if (auto r = std::from_chars(text, end, out.u); r.ec == std::errc() && r.ptr == end) {
      out.kind = Number::Kind::Uint64;
      return true;
    }
  }
  const auto r = std::from_chars(text, end, out.d);
  out.kind = Number::Kind::Double;
  return r.ec == std::errc() && r.ptr == end;
}

namespace {
Error json_error(const std::string& why, size_t offset) {
  return make_error(ErrorKind::ProtocolError,
                    "invalid JSON: " + why + " at offset " + std::to_string(offset));
}
}  // namespace

Result<void> checked_result(Failure failure, const rapidjson::ParseResult& result, size_t consumed,
                            size_t size, int max_depth) {
  switch (failure) {
    case Failure::TooDeep:
      return json_error("nested deeper than " + std::to_string(max_depth) + " levels",
                        result.Offset());
    case Failure::NumberOutOfRange:
      return json_error("number out of the range of a double", result.Offset());
    case Failure::None:
      break;
  }
  if (result.IsError()) {
    return json_error(rapidjson::GetParseError_En(result.Code()), result.Offset());
  }
  // The reader takes a NUL byte for the end of the text; anything after it would be ignored.
  if (consumed != size) {
    return json_error("NUL byte (text continues after the JSON value)", consumed);
  }
  return {};
}

/**
 * A read-only text that RapidJSON parses as if in situ: a string or number is handed to the
 * handler where it lies instead of being copied into the reader's stack first. The writes an
 * in-situ parse makes (unescaping over the text) are dropped, so the text is never changed;
 * strings reach the handler still escaped, which a handler that only validates never reads.
 * Peek and Take give NUL at the end, as MemoryStream does, so the end reads the same.
 */
class UncopiedText {
 public:
  using Ch = char;
  explicit UncopiedText(std::string_view text)
      : begin_(text.data()), at_(text.data()), end_(text.data() + text.size()) {}
  // NOLINTBEGIN(readability-identifier-naming): RapidJSON's stream concept names these.
  Ch Peek() const { return at_ == end_ ? '\0' : *at_; }
  Ch Take() { return at_ == end_ ? '\0' : *at_++; }
  size_t Tell() const { return static_cast<size_t>(at_ - begin_); }
  // The reader only reads through this pointer (the handler gets it as `const Ch*`).
  Ch* PutBegin() {
    written_ = 0;
    return const_cast<Ch*>(at_);  // NOLINT(cppcoreguidelines-pro-type-const-cast)
  }
  void Put(Ch /*dropped*/) { ++written_; }
  size_t PutEnd(Ch* /*begin*/) const { return written_; }
  void Flush() {}
  // NOLINTEND(readability-identifier-naming)

 private:
  const Ch* begin_;
  const Ch* at_;
  const Ch* end_;
  size_t written_ = 0;
};

}  // namespace extension_runner::json_detail

// The reader then copies the stream (three pointers) while reading a token and finds where an
// in-situ number began by asking the original, which a copy leaves unmoved until the token ends.
template <>
struct rapidjson::StreamTraits<extension_runner::json_detail::UncopiedText> {
  enum { copyOptimization = 1 };  // NOLINT(readability-identifier-naming): RapidJSON's name
};

namespace extension_runner {

Result<rapidjson::Document> parse_json(std::string_view text) {
  // A bare MemoryStream: Document::Parse(ptr, len) wraps it in an EncodedInputStream that
  // silently drops leading 0xEF/0xBB/0xBF bytes, which would shift every offset we derive.
  rapidjson::MemoryStream stream(text.data(), text.size());
  rapidjson::Document doc;
  Result<void> parsed;
  auto generate = [&](rapidjson::Document& handler) {
    parsed = parse_json_events(stream, handler);
    return parsed.ok();
  };
  doc.Populate(generate);
  if (!parsed) return parsed.error();
  return doc;
}

namespace {

// A fast, conservative recogniser for the common shape of a payload: it says "valid" only for
// text in a subset of JSON that parse_json surely accepts (no \u escape, no number with an
// exponent or over 20 characters, no NUL, nesting within kMaxJsonDepth), and "not sure" for
// everything else, which then goes through the reader. Its point is the strings: eight bytes
// at a time, where the reader takes a payload's string byte by byte.
class QuickJson {
 public:
  QuickJson(std::string_view text, int max_depth)
      : at_(text.data()), end_(text.data() + text.size()), max_depth_(max_depth) {}

  bool surely_valid() {
    skip_space();
    if (!value(0)) return false;
    skip_space();
    return at_ == end_;
  }

  /** After surely_valid(): whether the text holds a CR or LF (in valid JSON, whitespace). */
  bool spans_lines() const { return line_break_; }

 private:
  static constexpr uint64_t kOnes = 0x0101010101010101ULL;
  static constexpr uint64_t kHighs = 0x8080808080808080ULL;

  // Whether any byte of `w` is zero, or below `n` (n <= 128): exact for the word as a whole.
  static bool any_zero(uint64_t w) { return ((w - kOnes) & ~w & kHighs) != 0; }
  static bool any_below(uint64_t w, uint64_t n) { return ((w - kOnes * n) & ~w & kHighs) != 0; }
  static bool plain_word(const char* p) {
    uint64_t w = 0;
    std::memcpy(&w, p, sizeof w);
    return !any_below(w, 0x20) && !any_zero(w ^ (kOnes * '"')) && !any_zero(w ^ (kOnes * '\\'));
  }

  // Sixteen bytes at once where the word test takes eight: a payload's long strings are most of
  // what the proxy scans on an invocation's path. GCC/Clang vector types become SSE2 on x86-64
  // and NEON on arm64, the two Lambda architectures, with no target-specific code.
  using Bytes16 = unsigned char __attribute__((vector_size(16)));
  static bool plain_block(const char* p) {
    Bytes16 v;
    std::memcpy(&v, p, sizeof v);
    const Bytes16 space = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ',
                           ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
    // Each lane all ones where the byte ends a plain run: a control byte, a quote, a backslash.
    const auto special = (v < space) | (v == '"') | (v == '\\');
    uint64_t halves[2];
    std::memcpy(halves, &special, sizeof halves);
    return (halves[0] | halves[1]) == 0;
  }

  bool at(char c) const { return at_ != end_ && *at_ == c; }
  bool eat(char c) {
    if (!at(c)) return false;
    ++at_;
    return true;
  }
  void skip_space() {
    while (at_ != end_ && (*at_ == ' ' || *at_ == '\n' || *at_ == '\r' || *at_ == '\t')) {
      line_break_ |= *at_ == '\n' || *at_ == '\r';
      ++at_;
    }
  }
  bool literal(std::string_view word) {
    if (static_cast<size_t>(end_ - at_) < word.size() ||
        std::string_view(at_, word.size()) != word) {
      return false;
    }
    at_ += word.size();
    return true;
  }

  bool value(int depth) {
    if (at_ == end_) return false;
    switch (*at_) {
      case '{':
        return depth < max_depth_ && object(depth + 1);
      case '[':
        return depth < max_depth_ && array(depth + 1);
      case '"':
        return string();
      case 't':
        return literal("true");
      case 'f':
        return literal("false");
      case 'n':
        return literal("null");
      default:
        return number();
    }
  }

  bool object(int depth) {
    ++at_;
    skip_space();
    if (eat('}')) return true;
    for (;;) {
      if (!at('"') || !string()) return false;
      skip_space();
      if (!eat(':')) return false;
      skip_space();
      if (!value(depth)) return false;
      skip_space();
      if (eat('}')) return true;
      if (!eat(',')) return false;
      skip_space();
    }
  }

  bool array(int depth) {
    ++at_;
    skip_space();
    if (eat(']')) return true;
    for (;;) {
      if (!value(depth)) return false;
      skip_space();
      if (eat(']')) return true;
      if (!eat(',')) return false;
      skip_space();
    }
  }

  bool string() {
    ++at_;
    for (;;) {
      // A word first, so short strings (most keys) pay nothing for the blocks.
      while (end_ - at_ >= 8 && plain_word(at_)) {
        at_ += 8;
        while (end_ - at_ >= 16 && plain_block(at_)) at_ += 16;
      }
      if (at_ == end_) return false;
      const auto c = static_cast<unsigned char>(*at_++);
      if (c == '"') return true;
      if (c < 0x20) return false;
      if (c == '\\') {
        if (at_ == end_) return false;
        switch (*at_++) {
          case '"':
          case '\\':
          case '/':
          case 'b':
          case 'f':
          case 'n':
          case 'r':
          case 't':
            break;
          default:
            return false;  // \u (surrogates) and anything else: the reader decides
        }
      }
    }
  }

  static bool digit(char c) { return c >= '0' && c <= '9'; }

  bool number() {
    const char* begin = at_;
    eat('-');
    if (eat('0')) {
      if (at_ != end_ && digit(*at_)) return false;
    } else {
      if (at_ == end_ || !digit(*at_)) return false;
      while (at_ != end_ && digit(*at_)) ++at_;
    }
    if (eat('.')) {
      if (at_ == end_ || !digit(*at_)) return false;
      while (at_ != end_ && digit(*at_)) ++at_;
    }
    // Exponents and long numbers can leave a double's range: the reader decides.
    if (at('e') || at('E')) return false;
    return at_ - begin <= 20;
  }

  const char* at_;
  const char* end_;
  int max_depth_;
  bool line_break_ = false;
};

/** check_json's verdict from RapidJSON's reader, for text QuickJson was not sure of. */
Result<void> validate_json(std::string_view text, int max_depth) {
  // Numbers are still converted (parse_json rejects one out of a double's range).
  struct Validator {
    // NOLINTBEGIN(readability-identifier-naming): RapidJSON's SAX handler interface.
    bool Null() { return true; }
    bool Bool(bool) { return true; }
    bool Int64(int64_t) { return true; }
    bool Uint64(uint64_t) { return true; }
    bool Double(double) { return true; }
    bool String(const char*, rapidjson::SizeType, bool) { return true; }
    bool Key(const char*, rapidjson::SizeType, bool) { return true; }
    bool StartObject() { return true; }
    bool EndObject(rapidjson::SizeType) { return true; }
    bool StartArray() { return true; }
    bool EndArray(rapidjson::SizeType) { return true; }
    // NOLINTEND(readability-identifier-naming)
  };
  json_detail::UncopiedText stream(text);
  Validator validator;
  json_detail::CheckedHandler<Validator> checked(validator, max_depth);
  rapidjson::Reader reader;
  const rapidjson::ParseResult result =
      reader.Parse<rapidjson::kParseInsituFlag | rapidjson::kParseNumbersAsStringsFlag>(stream,
                                                                                        checked);
  return json_detail::checked_result(checked.failure(), result, stream.Tell(), text.size(),
                                     max_depth);
}

}  // namespace

Result<void> check_json(std::string_view text, int max_depth) {
  if (QuickJson(text, max_depth).surely_valid()) return {};
  return validate_json(text, max_depth);
}

Result<bool> check_json_spans_lines(std::string_view text, int max_depth) {
  QuickJson quick(text, max_depth);
  if (quick.surely_valid()) return quick.spans_lines();
  if (auto checked = validate_json(text, max_depth); !checked.ok()) return checked.error();
  // Two memchr scans: find_first_of tests each byte against the set, several times slower.
  return text.find('\n') != std::string_view::npos || text.find('\r') != std::string_view::npos;
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
  if (m->IsDouble()) return exact_int64(m->GetDouble());
  return std::nullopt;
}

std::optional<int64_t> exact_int64(double d) {
  if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.2e18) {
    return static_cast<int64_t>(d);
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

std::string json_error_object(std::string_view error_type, std::string_view message) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("errorType");
  writer.String(error_type.data(), static_cast<rapidjson::SizeType>(error_type.size()));
  writer.Key("errorMessage");
  writer.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace extension_runner
