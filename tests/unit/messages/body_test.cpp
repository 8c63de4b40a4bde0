#include "extension_runner/messages/body.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "extension_runner/messages/invocation_tag.hpp"
#include "extension_runner/messages/options.hpp"

using namespace extension_runner;

TEST_CASE("messages body: formats and bodies -> messages or error") {
  struct Case {
    const char* what;
    MessagesFormat format;
    std::string body;
    bool ok;
    std::vector<std::string> messages;  // when ok
    std::string error_mentions;         // when not ok
  };
  const std::vector<Case> cases = {
      {"one object", MessagesFormat::Json, R"({"a": 1})", true, {R"({"a":1})"}, ""},
      {"one string", MessagesFormat::Json, R"("hello")", true, {R"("hello")"}, ""},
      {"one number", MessagesFormat::Json, "42", true, {"42"}, ""},
      {"array is several",
       MessagesFormat::Json,
       R"([1, {"b":true}, "x"])",
       true,
       {"1", R"({"b":true})", R"("x")"},
       ""},
      {"nested array is one message", MessagesFormat::Json, "[[1,2]]", true, {"[1,2]"}, ""},
      {"empty array: none", MessagesFormat::Json, "[]", true, {}, ""},
      {"empty body", MessagesFormat::Json, "", false, {}, "body"},
      {"truncated", MessagesFormat::Json, R"([{"a":1},)", false, {}, "body"},
      {"two values", MessagesFormat::Json, "1 2", false, {}, "body"},
      {"ndjson lines",
       MessagesFormat::NdJson,
       "{\"a\":1}\n\"s\"\n3\n",
       true,
       {R"({"a":1})", R"("s")", "3"},
       ""},
      {"ndjson CRLF, blank lines, no final newline",
       MessagesFormat::NdJson,
       "1\r\n\r\n  \n[2]",
       true,
       {"1", "[2]"},
       ""},
      {"ndjson only blank lines: none", MessagesFormat::NdJson, "\n\n", true, {}, ""},
      {"ndjson bad line rejects all", MessagesFormat::NdJson, "1\n{oops\n3\n", false, {}, "line 2"},
      {"ndjson two values on a line", MessagesFormat::NdJson, "1 2\n", false, {}, "line 1"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto parsed = parse_messages_body(c.body, c.format);
    REQUIRE(bool(parsed) == c.ok);
    if (c.ok) {
      CHECK(*parsed == c.messages);
    } else {
      CHECK(parsed.error().kind == ErrorKind::InvalidInput);
      CHECK(parsed.error().message.find(c.error_mentions) != std::string::npos);
    }
  }
}

TEST_CASE("messages body: content types -> format") {
  struct Case {
    const char* type;
    bool ok;
    MessagesFormat format;
  };
  const std::vector<Case> cases = {
      {"application/json", true, MessagesFormat::Json},
      {"Application/JSON; charset=utf-8", true, MessagesFormat::Json},
      {"", true, MessagesFormat::Json},
      {"application/x-ndjson", true, MessagesFormat::NdJson},
      {"application/jsonl", true, MessagesFormat::NdJson},
      {"text/plain", false, MessagesFormat::Json},
      {"application/x-www-form-urlencoded", false, MessagesFormat::Json},
  };
  for (const auto& c : cases) {
    INFO(c.type);
    auto format = messages_format(c.type);
    REQUIRE(bool(format) == c.ok);
    if (c.ok) CHECK(*format == c.format);
  }
}

TEST_CASE("messages body: the record the child receives") {
  CHECK(message_record_json("req-1", "2024-01-01T00:00:00.000Z", R"({"n":1})") ==
        R"({"requestId":"req-1","time":"2024-01-01T00:00:00.000Z","message":{"n":1}})");
  CHECK(message_record_json("", "t", "2") == R"({"requestId":null,"time":"t","message":2})");
}

TEST_CASE("messages: invocation tag by platform and header") {
  struct Case {
    const char* what;
    bool one_at_a_time;
    const char* in_flight;  // nullptr: no INVOKE yet
    const char* header;
    const char* tag;
  };
  const std::vector<Case> cases = {
      {"standard, header wins", true, "inv-1", "hdr", "hdr"},
      {"standard, in flight", true, "inv-1", "", "inv-1"},
      {"standard, before any INVOKE", true, nullptr, "", ""},
      {"managed instances, header", false, "inv-1", "hdr", "hdr"},
      {"managed instances, untagged", false, "inv-1", "", ""},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    InvocationTag tag(c.one_at_a_time);
    if (c.in_flight) tag.begin(c.in_flight);
    CHECK(tag.tag(c.header) == c.tag);
  }
}

TEST_CASE("messages: runtime URL from options") {
  MessagesOptions options;
  CHECK(messages_runtime_url(options).empty());
  options.enabled = true;
  CHECK(messages_runtime_url(options) == "http://127.0.0.1:8426/v1/messages");
  options.listen = "0.0.0.0:9000";
  CHECK(messages_runtime_url(options) == "http://127.0.0.1:9000/v1/messages");
  options.listen = "127.0.0.1:0";
  CHECK(messages_runtime_url(options).empty());
}
