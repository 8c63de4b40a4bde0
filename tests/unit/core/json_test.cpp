// parse_json is the one door every untrusted JSON text goes through (events, child replies,
// telemetry batches, scenarios). These cases were found by fuzzing (docs/fuzzing.md).
#include "extension_runner/core/json.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "extension_runner/lambda/events.hpp"
#include "extension_runner/runner/protocol.hpp"
#include "extension_runner/telemetry/records.hpp"

using namespace extension_runner;

namespace {
std::string nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }
}  // namespace

TEST_CASE("json: text that is not exactly one JSON value is rejected, whatever its bytes") {
  struct Case {
    const char* what;
    std::string text;
    const char* reason;
  };
  const std::vector<Case> cases = {
      {"NUL then garbage after the value", std::string("{\"a\":1}\0garbage", 15), "NUL"},
      {"NUL then a second value", std::string("[1]\0[2]", 7), "NUL"},
      {"NUL in the middle of the value", std::string("[1,\0 2]", 7), "offset 3"},
      {"a stray UTF-8 BOM byte before the value", "\xBB[{}]", "offset 0"},
      {"a whole UTF-8 BOM before the value", "\xEF\xBB\xBF{}", "offset 0"},
      {"nesting deeper than the limit", nested(kMaxJsonDepth + 1), "nested deeper than"},
      {"a number too big for a double", "[1.8e308]", "out of the range"},
      {"a number too small for a double", "[1e-400]", "out of the range"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    const auto parsed = parse_json(c.text);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().kind == ErrorKind::ProtocolError);
    CHECK_THAT(parsed.error().message, Catch::Contains(c.reason));
  }
}

TEST_CASE("json: check_json accepts and rejects exactly what parse_json does, with its message") {
  const std::vector<std::pair<const char*, std::string>> cases = {
      {"an object", R"({"a":[1,-2.5e3,true,false,null],"b":{"c":"d"}})"},
      {"escapes and surrogate pairs", R"(["\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"])"},
      {"a lone high surrogate", R"(["\ud83d"])"},
      {"a bad escape", R"(["\x"])"},
      {"a raw control byte in a string", "[\"a\x01\"]"},
      {"raw UTF-8 and invalid bytes are passed (not validated)", "[\"\xc3\xa9\xff\"]"},
      {"an unterminated string", R"(["abc)"},
      {"NUL inside a string", std::string("[\"a\0b\"]", 7)},
      {"NUL after the value", std::string("{\"a\":1}\0x", 9)},
      {"two values", "1 2"},
      {"trailing comma", "[1,]"},
      {"empty text", ""},
      {"only whitespace", " \n\t "},
      {"a BOM", "\xEF\xBB\xBF{}"},
      {"numbers at the edges of int64, uint64 and double",
       "[-9223372036854775808,18446744073709551615,18446744073709551616,1.7976931348623157e308]"},
      {"a number too big for a double", "[1.8e308]"},
      {"a number too small for a double", "1e-400"},
      {"a number missing its fraction", "[1.]"},
      {"a leading zero", "[01]"},
      {"nesting at the limit", nested(kMaxJsonDepth)},
      {"nesting beyond the limit", nested(kMaxJsonDepth + 1)},
      {"a long string", "\"" + std::string(1 << 20, 'x') + "\""},
  };
  for (const auto& [what, text] : cases) {
    INFO(what);
    const auto parsed = parse_json(text);
    const auto checked = check_json(text);
    REQUIRE(checked.ok() == parsed.ok());
    if (!parsed.ok()) {
      CHECK(checked.error().kind == parsed.error().kind);
      CHECK(checked.error().message == parsed.error().message);
    }
  }
}

TEST_CASE("json: check_json_spans_lines says whether valid JSON holds a line break") {
  enum class Expect { Invalid, OneLine, SpansLines };
  const std::vector<std::tuple<const char*, std::string, Expect>> cases = {
      {"one line", R"({"a":[1,2],"b":"c"})", Expect::OneLine},
      {"an LF between tokens", "{\"a\":\n1}", Expect::SpansLines},
      {"a CR between tokens", "{\"a\":1\r}", Expect::SpansLines},
      {"CRLF after the value", "[1]\r\n", Expect::SpansLines},
      {"escaped line breaks stay on one line", R"(["a\nb\r"])", Expect::OneLine},
      {"a line break beside a \\u escape (the reader's path)", "[\"\\u00e9\",\n1]",
       Expect::SpansLines},
      {"a \\u escape on one line (the reader's path)", R"(["\u00e9"])", Expect::OneLine},
      {"an exponent beside a line break (the reader's path)", "[1e5\n]", Expect::SpansLines},
      {"a raw line break inside a string", "[\"a\nb\"]", Expect::Invalid},
      {"a line break after invalid text", "[1,]\n", Expect::Invalid},
      {"a long string, then a line break", "[\"" + std::string(1 << 16, 'x') + "\"\n]",
       Expect::SpansLines},
  };
  for (const auto& [what, text, expect] : cases) {
    INFO(what);
    const Result<bool> spans = check_json_spans_lines(text);
    REQUIRE(spans.ok() == check_json(text).ok());
    REQUIRE(spans.ok() == (expect != Expect::Invalid));
    if (spans.ok()) CHECK(*spans == (expect == Expect::SpansLines));
  }
}

namespace {
// A random JSON-like text: valid documents from a small grammar, and their one-byte mutations.
class JsonishGenerator {
 public:
  explicit JsonishGenerator(uint32_t seed) : random_(seed) {}

  std::string next() {
    std::string text = value(0);
    if (pick(2) == 0) mutate(text);
    return text;
  }

 private:
  size_t pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(random_); }

  std::string value(int depth) {
    static const std::vector<std::string> kScalars = {
        "0",     "-0",   "12", "1.5", "-0.25", "18446744073709551616",     "1e5",   "2E-3", "true",
        "false", "null", "01", "1.",  "-",     "123456789012345678901234", "1e400", "0e999"};
    switch (depth < 3 ? pick(4) : 3) {
      case 0: {
        std::string out = "[";
        for (size_t i = 0, n = pick(4); i < n; ++i)
          out += (i ? "," : "") + space() + value(depth + 1);
        return out + space() + "]";
      }
      case 1: {
        std::string out = "{";
        for (size_t i = 0, n = pick(4); i < n; ++i) {
          out += (i ? "," : "") + space() + string() + ":" + space() + value(depth + 1);
        }
        return out + "}";
      }
      case 2:
        return string();
      default:
        return kScalars[pick(kScalars.size())];
    }
  }

  std::string space() {
    static const std::vector<std::string> kSpaces = {"", "", " ", "\n\t", "\r "};
    return kSpaces[pick(kSpaces.size())];
  }

  std::string string() {
    static const std::vector<std::string> kPieces = {"abcdefgh",
                                                     "x",
                                                     "\xc3\xa9",
                                                     "\xff",
                                                     "\\n",
                                                     "\\\"",
                                                     "\\/",
                                                     "\\u00e9",
                                                     "\\ud83d",
                                                     "\\ude00",
                                                     "\\q",
                                                     "\x01",
                                                     std::string(1, '\0'),
                                                     "12345678",
                                                     "\\",
                                                     "\t"};
    std::string out = "\"";
    for (size_t i = 0, n = pick(6); i < n; ++i) out += kPieces[pick(kPieces.size())];
    return out + "\"";
  }

  void mutate(std::string& text) {
    static const std::string kBytes = std::string("{}[]\":,\\ -.0e1tnu\x01\xff") + '\0';
    const size_t at = pick(text.size() + 1);
    const char byte = kBytes[pick(kBytes.size())];
    switch (pick(3)) {
      case 0:
        text.insert(at, 1, byte);
        break;
      case 1:
        if (at < text.size()) text.erase(at, 1);
        break;
      default:
        if (at < text.size()) text[at] = byte;
    }
  }

  std::mt19937 random_;
};
}  // namespace

TEST_CASE("json: check_json agrees with parse_json on generated and mutated texts") {
  JsonishGenerator generator(20261204);
  size_t valid = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string text = generator.next();
    INFO(text);
    const auto parsed = parse_json(text);
    const auto checked = check_json(text);
    REQUIRE(checked.ok() == parsed.ok());
    if (parsed.ok()) {
      ++valid;
    } else {
      REQUIRE(checked.error().message == parsed.error().message);
    }
  }
  // Both outcomes are exercised in quantity, or the comparison says little.
  CHECK(valid > 2000);
  CHECK(valid < 18000);
}

TEST_CASE("json: check_json finds a string's special byte wherever it falls in a scanned block") {
  // The string scan takes 8 and 16 bytes at a time: every byte that ends or breaks a plain run,
  // at every offset across several blocks, in strings of every length around the block sizes.
  const std::vector<std::pair<const char*, std::string>> specials = {
      {"a quote (ends the string early)", "\""},
      {"an escaped quote", "\\\""},
      {"a backslash escape", "\\n"},
      {"a bad escape", "\\x"},
      {"a control byte", "\x1f"},
      {"a tab", "\t"},
      {"NUL", std::string(1, '\0')},
      {"a DEL byte (plain)", "\x7f"},
      {"a byte above 0x7f (plain)", "\xe9"}};
  size_t valid = 0;
  size_t invalid = 0;
  for (const auto& [what, special] : specials) {
    for (size_t length = 0; length <= 48; ++length) {
      for (size_t at = 0; at <= length; ++at) {
        const std::string text =
            "[\"" + std::string(at, 'a') + special + std::string(length - at, 'b') + "\",1]";
        INFO(what << " at " << at << " of " << length);
        const auto parsed = parse_json(text);
        const auto checked = check_json(text);
        REQUIRE(checked.ok() == parsed.ok());
        ++(parsed.ok() ? valid : invalid);
      }
    }
  }
  CHECK(valid > 1000);
  CHECK(invalid > 1000);
}

TEST_CASE("json: check_json leaves the text as it was") {
  constexpr const char* kOriginal = R"(["a\nb\u00e9",12.5,{"k\"":"v"}])";
  std::string text = kOriginal;  // writable, as the in-situ reader would want it
  REQUIRE(check_json(text).ok());
  CHECK(text == kOriginal);
}

TEST_CASE("json: nesting up to the limit is accepted and serialises back") {
  const std::string text = nested(kMaxJsonDepth);
  const auto parsed = parse_json(text);
  REQUIRE(parsed.ok());
  CHECK(to_json(*parsed) == text);
}

TEST_CASE("json: a child reply nested millions deep is an error, not a stack overflow") {
  // A reply line may be up to EXTENSION_RUNNER_MAX_MESSAGE_BYTES (6 MiB by default).
  const std::string line = R"({"invokeid":"a","result":)" + nested(3'000'000) + "}";
  const auto reply = decode_invoke_reply(line);
  REQUIRE_FALSE(reply.ok());
  CHECK_THAT(reply.error().message, Catch::Contains("nested deeper than"));
}

TEST_CASE("json: numbers re-serialise to the same text every time (payloads pass unaltered)") {
  const std::vector<std::string> numbers = {
      "1670510000016705000000",
      "111111111111111111111111111111111111111",
      "0.1",
      "1.7976931348623157e308",
      "4.9406564584124654e-324",
      "2.2250738585072011e-308",
      "9007199254740993",
      "-0.0",
  };
  for (const auto& n : numbers) {
    INFO(n);
    const auto once = parse_json(n);
    REQUIRE(once.ok());
    const std::string text = to_json(*once);
    const auto twice = parse_json(text);
    REQUIRE(twice.ok());
    CHECK(to_json(*twice) == text);
    CHECK(twice->GetDouble() == once->GetDouble());
  }
}

TEST_CASE("json: numbers keep their value and JSON kind") {
  struct Case {
    const char* text;
    const char* json;
    bool is_int64;
    double value;
  };
  const std::vector<Case> cases = {
      {"0e52", "0.0", false, 0.0},  // RapidJSON's full-precision path made this 7.7e25
      {"-0E77", "-0.0", false, -0.0},
      {"0.000000000000000000000000000000000000000", "0.0", false, 0.0},
      {"00e-55", "", false, 0.0},  // leading zeros are not JSON
      {"42", "42", true, 42},
      {"-9223372036854775808", "-9223372036854775808", true, -9223372036854775808.0},
      {"18446744073709551615", "18446744073709551615", false, 18446744073709551615.0},
      {"18446744073709551616", "18446744073709553000.0", false, 18446744073709551616.0},
      {"1.5", "1.5", false, 1.5},
      {"4.9406564584124654e-324", "5e-324", false, 4.9406564584124654e-324},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    const auto parsed = parse_json(c.text);
    if (std::string(c.json).empty()) {
      CHECK_FALSE(parsed.ok());
      continue;
    }
    REQUIRE(parsed.ok());
    CHECK(to_json(*parsed) == c.json);
    CHECK(parsed->IsInt64() == c.is_int64);
    CHECK(parsed->GetDouble() == c.value);
  }
}

TEST_CASE("json: an event's raw text re-parses to the same raw text") {
  const std::string body =
      R"({"eventType":"SHUTDOWN","deadlineMs":160543,"reqlineMs":1670510000016705000000})";
  const auto event = parse_event(body);
  REQUIRE(event.ok());
  const std::string& raw = std::get<ShutdownEvent>(*event).raw;
  const auto again = parse_event(raw);
  REQUIRE(again.ok());
  CHECK(std::get<ShutdownEvent>(*again).raw == raw);
}

TEST_CASE("json: a telemetry batch behind a stray BOM byte is rejected, not mis-split") {
  const auto batch = parse_telemetry_batch("\xBB[{\"type\":\"function\",\"record\":\"x\"}]");
  CHECK_FALSE(batch.ok());
}
