#include "extension_runner/core/log.hpp"

#include <catch2/catch.hpp>

#include "extension_runner/core/json.hpp"

using namespace extension_runner;

namespace {
/** Captures log lines for the duration of a test and restores the defaults after. */
struct CapturedLog {
  std::vector<std::string> lines;
  CapturedLog() {
    set_log_sink([this](const std::string& l) { lines.push_back(l); });
  }
  ~CapturedLog() {
    set_log_sink(nullptr);
    set_log_level(LogLevel::Info);
    set_log_format(LogFormat::Text);
    set_log_name("extension-runner");
  }
};
}  // namespace

TEST_CASE("log: levels parse as AWS_LAMBDA_LOG_LEVEL spells them") {
  CHECK(parse_log_level("TRACE") == LogLevel::Trace);
  CHECK(parse_log_level("debug") == LogLevel::Debug);
  CHECK(parse_log_level("Warn") == LogLevel::Warn);
  CHECK(parse_log_level("FATAL") == LogLevel::Fatal);
  CHECK_FALSE(parse_log_level("verbose").has_value());
  CHECK(parse_log_format("json") == LogFormat::JSON);
  CHECK(parse_log_format("Text") == LogFormat::Text);
  CHECK_FALSE(parse_log_format("yaml").has_value());
}

TEST_CASE("log: messages below the level are dropped") {
  CapturedLog capture;
  set_log_level(LogLevel::Warn);
  log_info("hidden");
  log_warn("shown");
  log_error("also shown");
  REQUIRE(capture.lines.size() == 2);
  CHECK_THAT(capture.lines[0], Catch::Contains("WARN") && Catch::Contains("shown"));
}

TEST_CASE("log: JSON format writes one object per line with level, message, timestamp") {
  CapturedLog capture;
  set_log_format(LogFormat::JSON);
  set_log_name("my-ext");
  log_from(LogLevel::Error, "child", "a \"quoted\"\nmessage");
  REQUIRE(capture.lines.size() == 1);
  CHECK(capture.lines[0].find('\n') == std::string::npos);
  auto doc = parse_json(capture.lines[0]);
  REQUIRE(doc.ok());
  CHECK(json_string(*doc, "level") == "ERROR");
  CHECK(json_string(*doc, "message") == "a \"quoted\"\nmessage");
  CHECK(json_string(*doc, "extension") == "my-ext");
  CHECK(json_string(*doc, "source") == "child");
  const auto ts = json_string(*doc, "timestamp");
  REQUIRE(ts.has_value());
  CHECK(ts->size() == 24);  // 2020-08-20T12:31:32.123Z
  CHECK(ts->back() == 'Z');
}

TEST_CASE("log: text format names the level and the extension") {
  CapturedLog capture;
  log_from(LogLevel::Info, "child", "hello");
  REQUIRE(capture.lines.size() == 1);
  CHECK_THAT(capture.lines[0], Catch::EndsWith("INFO extension-runner: [child] hello"));
}
