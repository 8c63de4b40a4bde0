#include "extension_runner/telemetry/records.hpp"

#include <catch2/catch.hpp>

#include "extension_runner/core/json.hpp"

using namespace extension_runner;

namespace {

TelemetryRecord one(const std::string& element) {
  auto batch = parse_telemetry_batch("[" + element + "]");
  REQUIRE(batch.ok());
  REQUIRE(batch->size() == 1);
  return (*batch)[0];
}

template <typename T>
T view_as(const Result<RecordView>& view) {
  REQUIRE(view.ok());
  REQUIRE(std::holds_alternative<T>(*view));
  return std::get<T>(*view);
}

}  // namespace

TEST_CASE("telemetry batch: elements keep their exact text, whitespace and escapes included") {
  const std::string a =
      R"({"time":"2022-10-12T00:00:00.000Z","type":"function","record":"a \"q\" ] } ,"})";
  const std::string b =
      "{ \"time\" : \"t\",\n \"type\":\"platform.start\", \"record\": {\"requestId\":\"r1\", "
      "\"x\":[1, {\"y\":[]}]} }";
  const std::string c = R"({"type":"function","record":{"message":"\u00e9\\","level":"INFO"}})";
  auto batch = parse_telemetry_batch(" [\n" + a + " ,\t" + b + "," + c + "\n] ");
  REQUIRE(batch.ok());
  REQUIRE(batch->size() == 3);
  CHECK((*batch)[0].raw == a);
  CHECK((*batch)[1].raw == b);
  CHECK((*batch)[2].raw == c);
  CHECK((*batch)[0].time == "2022-10-12T00:00:00.000Z");
  CHECK((*batch)[1].type == "platform.start");
  CHECK((*batch)[1].request_id == "r1");
  CHECK((*batch)[2].time.empty());
}

TEST_CASE("telemetry batch: an empty array is an empty batch") {
  auto batch = parse_telemetry_batch(" [ ] ");
  REQUIRE(batch.ok());
  CHECK(batch->empty());
}

TEST_CASE("telemetry batch: anything but an array of objects is rejected") {
  const std::vector<std::string> bodies = {"",
                                           "not json",
                                           "{\"time\":\"t\"}",
                                           "[{\"type\":\"function\"}",
                                           "[1,2]",
                                           "[{\"type\":\"function\",\"record\":\"x\"},\"str\"]",
                                           "null",
                                           "[{}] trailing"};
  for (const auto& body : bodies) {
    INFO(body);
    auto batch = parse_telemetry_batch(body);
    REQUIRE_FALSE(batch.ok());
    CHECK(batch.error().kind == ErrorKind::InvalidInput);
  }
}

TEST_CASE("telemetry batch: invocation-ending records and logsDropped counts are extracted") {
  struct Case {
    std::string element;
    std::string request_id;
    bool ends;
    int64_t dropped;
  };
  const std::vector<Case> cases = {
      {R"({"type":"platform.runtimeDone","record":{"requestId":"a","status":"success"}})", "a",
       true, 0},
      {R"({"type":"platform.report","record":{"requestId":"b","metrics":{}}})", "b", true, 0},
      {R"({"type":"platform.start","record":{"requestId":"c"}})", "c", false, 0},
      {R"({"type":"function","record":{"requestId":"d","message":"m"}})", "d", false, 0},
      {R"({"type":"function","record":"requestId d"})", "", false, 0},
      {R"({"type":"platform.logsDropped","record":{"reason":"r","droppedRecords":123,"droppedBytes":9}})",
       "", false, 123},
  };
  for (const auto& c : cases) {
    INFO(c.element);
    auto r = one(c.element);
    CHECK(r.request_id == c.request_id);
    CHECK(r.ends_invocation() == c.ends);
    CHECK(r.dropped_records == c.dropped);
  }
}

TEST_CASE("telemetry batch: the one-pass parse extracts the fields the DOM lookups gave") {
  struct Case {
    std::string name;
    std::string element;
    std::string time;
    std::string type;
    std::string request_id;
    int64_t dropped;
  };
  const std::vector<Case> cases = {
      {"fields in order", R"({"time":"t","type":"platform.start","record":{"requestId":"r"}})", "t",
       "platform.start", "r", 0},
      {"record before type and time",
       R"({"record":{"droppedRecords":7,"requestId":"r"},"type":"platform.logsDropped","time":"t"})",
       "t", "platform.logsDropped", "r", 7},
      {"droppedRecords of another type is not kept",
       R"({"type":"platform.start","record":{"droppedRecords":7}})", "", "platform.start", "", 0},
      {"droppedRecords as an integral double",
       R"({"type":"platform.logsDropped","record":{"droppedRecords":1.2e1}})", "",
       "platform.logsDropped", "", 12},
      {"droppedRecords with a fraction",
       R"({"type":"platform.logsDropped","record":{"droppedRecords":1.5}})", "",
       "platform.logsDropped", "", 0},
      {"droppedRecords beyond int64",
       R"({"type":"platform.logsDropped","record":{"droppedRecords":18446744073709551615}})", "",
       "platform.logsDropped", "", 0},
      {"droppedRecords as a string",
       R"({"type":"platform.logsDropped","record":{"droppedRecords":"5"}})", "",
       "platform.logsDropped", "", 0},
      {"record a string", R"({"type":"function","record":"requestId r"})", "", "function", "", 0},
      {"record an array", R"({"type":"function","record":[{"requestId":"r"}]})", "", "function", "",
       0},
      {"record null", R"({"type":"function","record":null,"requestId":"r"})", "", "function", "",
       0},
      {"requestId in a nested object is not the record's",
       R"({"type":"x","record":{"a":{"requestId":"deep"},"b":[{"requestId":"deeper"}]}})", "", "x",
       "", 0},
      {"nested before the record's own requestId",
       R"({"type":"x","record":{"a":{"requestId":"deep","record":{}},"requestId":"r"}})", "", "x",
       "r", 0},
      {"a requestId beside record is not the record's",
       R"({"requestId":"top","type":"x","record":{"requestId":"r"}})", "", "x", "r", 0},
      {"time and type inside the record are not the element's",
       R"({"record":{"time":"inner","type":"inner"}})", "", "", "", 0},
      {"time and type nested deeper are not the element's",
       R"({"x":{"time":"inner","type":"inner"},"time":"t"})", "t", "", "", 0},
      {"the first member of a name counts", R"({"time":"a","time":"b","type":1,"type":"c"})", "a",
       "", "", 0},
      {"only the first record counts",
       R"({"record":"s","record":{"requestId":"r"},"type":"function"})", "", "function", "", 0},
      {"the first requestId counts", R"({"record":{"requestId":2,"requestId":"r"}})", "", "", "",
       0},
      {"mistyped time and type", R"({"time":1,"type":{"a":"b"},"record":{"requestId":true}})", "",
       "", "", 0},
      {"escapes are decoded in the fields",
       R"({"time":"t\"1\\","type":"\u0066unction","record":{"requestId":"a\u00e9\n"}})", "t\"1\\",
       "function", "a\xC3\xA9\n", 0},
      {"an empty object", "{}", "", "", "", 0},
  };
  for (const auto& c : cases) {
    INFO(c.name << ": " << c.element);
    const auto r = one(c.element);
    CHECK(r.raw == c.element);
    CHECK(r.time == c.time);
    CHECK(r.type == c.type);
    CHECK(r.request_id == c.request_id);
    CHECK(r.dropped_records == c.dropped);
  }
}

TEST_CASE("telemetry batch: each element's raw text is its exact bytes, between any separators") {
  struct Case {
    std::string name;
    std::string before;
    std::vector<std::string> elements;
    std::string between;
    std::string after;
  };
  const std::vector<Case> cases = {
      {"no whitespace", "[", {"{}", R"({"a":1})"}, ",", "]"},
      {"whitespace everywhere",
       " \t\r\n[ \n",
       {R"({ "a" : [ 1 , 2 ] })", "{ }"},
       " \n,\t ",
       " \r\n] \n"},
      {"escapes and brackets in strings",
       "[",
       {R"({"record":"} ] , { [ \" \\"})", R"({"k\"}":"\u005d\/"})"},
       ",",
       "]"},
      {"raw UTF-8", "[", {"{\"m\":\"\xC3\xA9\xE2\x82\xAC\"}"}, ",", "]"},
      {"deep nesting inside an element",
       "[",
       {R"({"a":{"b":{"c":[[[{"d":{}}]]]}}})", R"({"requestId":{}})"},
       ",",
       "]"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    std::string body = c.before;
    for (size_t i = 0; i < c.elements.size(); ++i) body += (i ? c.between : "") + c.elements[i];
    body += c.after;
    const auto batch = parse_telemetry_batch(body);
    REQUIRE(batch.ok());
    REQUIRE(batch->size() == c.elements.size());
    for (size_t i = 0; i < c.elements.size(); ++i) CHECK((*batch)[i].raw == c.elements[i]);
  }
}

TEST_CASE("telemetry batch: errors keep parse_json's checks and their messages") {
  const auto nested = [](int depth) {
    // The batch array is level 1, the element level 2.
    return "[{\"a\":" + std::string(depth - 2, '[') + std::string(depth - 2, ']') + "}]";
  };
  struct Case {
    std::string name;
    std::string body;
    std::string message;  // a part of the error message
  };
  const std::vector<Case> cases = {
      {"empty body", "", "invalid JSON: The document is empty."},
      {"root an object", R"({"time":"t"})", "telemetry batch is not a JSON array"},
      {"root a string", R"("[{}]")", "telemetry batch is not a JSON array"},
      {"element 0 a number", "[1,{}]", "telemetry record 0 is not a JSON object"},
      {"element 2 an array", "[{},{},[{}]]", "telemetry record 2 is not a JSON object"},
      {"element 1 null", "[{},null]", "telemetry record 1 is not a JSON object"},
      {"a syntax error after a shape error is the error", "[1,{]", "invalid JSON"},
      {"a syntax error in a later element", R"([{"a":1},{"a":}])", "invalid JSON"},
      {"trailing bytes", "[{}] x", "invalid JSON: The document root must not be followed"},
      {"a second value", "[{}][{}]", "invalid JSON: The document root must not be followed"},
      {"NUL byte after the array", std::string("[{}]\0[1]", 8), "NUL byte"},
      {"NUL byte in a string", std::string("[{\"a\":\"x\0\"}]", 12), "invalid JSON"},
      {"a leading BOM", "\xEF\xBB\xBF[{}]", "invalid JSON"},
      {"nesting deeper than the limit", nested(kMaxJsonDepth + 1), "nested deeper than"},
      {"a number out of a double's range", R"([{"record":{"droppedRecords":1.8e308}}])",
       "number out of the range of a double"},
      {"a tiny number out of a double's range", R"([{"a":-1e-400}])",
       "number out of the range of a double"},
      {"unterminated", R"([{"type":"function"})", "invalid JSON"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    const auto batch = parse_telemetry_batch(c.body);
    REQUIRE_FALSE(batch.ok());
    CHECK(batch.error().kind == ErrorKind::InvalidInput);
    CHECK_THAT(batch.error().message, Catch::Contains(c.message));
  }
  SECTION("nesting at the limit is accepted") {
    const auto batch = parse_telemetry_batch(nested(kMaxJsonDepth));
    REQUIRE(batch.ok());
    CHECK(batch->size() == 1);
  }
}

// Shapes from the Telemetry API schema reference [TEL schema] and the Logs API page [LOGS].
TEST_CASE("telemetry records: typed views of every platform record") {
  SECTION("platform.initStart") {
    auto v = view_as<InitStartRecord>(view_record(one(
        R"({"time":"t","type":"platform.initStart","record":{"initializationType":"on-demand","phase":"init","runtimeVersion":"nodejs-14.v3","runtimeVersionArn":"arn","functionName":"f","functionVersion":"$LATEST"}})")));
    CHECK(v.initialization_type == "on-demand");
    CHECK(v.phase == "init");
    CHECK(v.runtime_version == "nodejs-14.v3");
    CHECK(v.runtime_version_arn == "arn");
    CHECK(v.function_name == "f");
    CHECK(v.function_version == "$LATEST");
  }
  SECTION("platform.initStart without optional fields") {
    auto v = view_as<InitStartRecord>(view_record(one(
        R"({"type":"platform.initStart","record":{"initializationType":"snap-start","phase":"invoke"}})")));
    CHECK(v.initialization_type == "snap-start");
    CHECK_FALSE(v.runtime_version.has_value());
  }
  SECTION("platform.initRuntimeDone") {
    auto v = view_as<InitRuntimeDoneRecord>(view_record(one(
        R"({"type":"platform.initRuntimeDone","record":{"initializationType":"on-demand","status":"error","errorType":"Runtime.ExitError","spans":[{"name":"s","start":"t","durationMs":1.5}]}})")));
    CHECK(v.status == "error");
    CHECK(v.error_type == "Runtime.ExitError");
    CHECK_FALSE(v.phase.has_value());
    REQUIRE(v.spans.size() == 1);
    CHECK(v.spans[0].duration_ms == Approx(1.5));
  }
  SECTION("platform.initReport") {
    auto v = view_as<InitReportRecord>(view_record(one(
        R"({"type":"platform.initReport","record":{"initializationType":"on-demand","phase":"init","status":"success","metrics":{"durationMs":125.33}}})")));
    CHECK(v.phase == "init");
    CHECK(v.status == "success");
    CHECK(v.duration_ms == Approx(125.33));
  }
  SECTION("platform.start with tracing") {
    auto v = view_as<StartRecord>(view_record(one(
        R"({"type":"platform.start","record":{"requestId":"6d68ca91","version":"$LATEST","tracing":{"spanId":"54565fb41ac79632","type":"X-Amzn-Trace-Id","value":"Root=1-62e900b2"}}})")));
    CHECK(v.request_id == "6d68ca91");
    CHECK(v.version == "$LATEST");
    REQUIRE(v.tracing.has_value());
    CHECK(v.tracing->span_id == "54565fb41ac79632");
    CHECK(v.tracing->type == "X-Amzn-Trace-Id");
    CHECK(v.tracing->value == "Root=1-62e900b2");
  }
  SECTION("platform.end (Logs API)") {
    auto v = view_as<StartRecord>(
        view_record(one(R"({"type":"platform.end","record":{"requestId":"r"}})")));
    CHECK(v.request_id == "r");
  }
  SECTION("platform.runtimeDone with metrics and spans") {
    auto v = view_as<RuntimeDoneRecord>(view_record(one(
        R"({"type":"platform.runtimeDone","record":{"requestId":"r2","status":"success","metrics":{"durationMs":140.0,"producedBytes":16},"spans":[{"name":"responseLatency","start":"t","durationMs":23.02},{"name":"responseDuration","start":"t","durationMs":0.03}]}})")));
    CHECK(v.request_id == "r2");
    CHECK(v.status == "success");
    REQUIRE(v.metrics.has_value());
    CHECK(v.metrics->duration_ms == Approx(140.0));
    CHECK(v.metrics->produced_bytes == 16);
    REQUIRE(v.spans.size() == 2);
    CHECK(v.spans[0].name == "responseLatency");
  }
  SECTION("platform.runtimeDone, Logs API 2021-03-18 (timeout, no metrics)") {
    auto v = view_as<RuntimeDoneRecord>(view_record(
        one(R"({"type":"platform.runtimeDone","record":{"requestId":"r3","status":"timeout"}})")));
    CHECK(v.status == "timeout");
    CHECK_FALSE(v.metrics.has_value());
  }
  SECTION("platform.report with metrics") {
    auto v = view_as<ReportRecord>(view_record(one(
        R"({"type":"platform.report","record":{"requestId":"r4","status":"failure","errorType":"Function.Unhandled","metrics":{"durationMs":1.23,"billedDurationMs":2,"memorySizeMB":128,"maxMemoryUsedMB":64,"initDurationMs":180.5}}})")));
    CHECK(v.request_id == "r4");
    CHECK(v.status == "failure");
    CHECK(v.error_type == "Function.Unhandled");
    CHECK(v.metrics.duration_ms == Approx(1.23));
    CHECK(v.metrics.billed_duration_ms == 2);
    CHECK(v.metrics.memory_size_mb == 128);
    CHECK(v.metrics.max_memory_used_mb == 64);
    CHECK(v.metrics.init_duration_ms == Approx(180.5));
    CHECK_FALSE(v.metrics.restore_duration_ms.has_value());
  }
  SECTION("platform.restoreStart") {
    auto v = view_as<RestoreStartRecord>(view_record(one(
        R"({"type":"platform.restoreStart","record":{"runtimeVersion":"java11.v15","functionName":"f","functionVersion":"3"}})")));
    CHECK(v.runtime_version == "java11.v15");
    CHECK(v.function_version == "3");
  }
  SECTION("platform.restoreRuntimeDone") {
    auto v = view_as<RestoreDoneRecord>(view_record(
        one(R"({"type":"platform.restoreRuntimeDone","record":{"status":"success"}})")));
    CHECK(v.status == "success");
    CHECK_FALSE(v.duration_ms.has_value());
  }
  SECTION("platform.restoreReport") {
    auto v = view_as<RestoreDoneRecord>(view_record(one(
        R"({"type":"platform.restoreReport","record":{"status":"success","metrics":{"durationMs":15.19}}})")));
    CHECK(v.duration_ms == Approx(15.19));
  }
  SECTION("platform.extension") {
    auto v = view_as<ExtensionStateRecord>(view_record(one(
        R"({"type":"platform.extension","record":{"name":"er","state":"Ready","events":["INVOKE","SHUTDOWN"]}})")));
    CHECK(v.name == "er");
    CHECK(v.state == "Ready");
    CHECK(v.events == std::vector<std::string>{"INVOKE", "SHUTDOWN"});
  }
  SECTION("platform.telemetrySubscription") {
    auto v = view_as<SubscriptionRecord>(view_record(one(
        R"({"type":"platform.telemetrySubscription","record":{"name":"er","state":"Subscribed","types":["platform","function"]}})")));
    CHECK(v.state == "Subscribed");
    CHECK(v.types == std::vector<std::string>{"platform", "function"});
  }
  SECTION("platform.logsSubscription") {
    auto v = view_as<SubscriptionRecord>(view_record(one(
        R"({"type":"platform.logsSubscription","record":{"name":"er","state":"Subscribed","types":["function"]}})")));
    CHECK(v.name == "er");
  }
  SECTION("platform.logsDropped") {
    auto v = view_as<LogsDroppedRecord>(view_record(one(
        R"({"type":"platform.logsDropped","record":{"reason":"Consumer seems to have fallen behind","droppedRecords":3,"droppedBytes":912}})")));
    CHECK(v.reason == "Consumer seems to have fallen behind");
    CHECK(v.dropped_records == 3);
    CHECK(v.dropped_bytes == 912);
  }
  SECTION("platform.fault") {
    auto v = view_as<FaultRecord>(view_record(
        one(R"({"type":"platform.fault","record":"RequestId: d783b35e Process exited"})")));
    CHECK(v.text == "RequestId: d783b35e Process exited");
  }
  SECTION("unknown types pass through") {
    view_as<UnknownRecord>(view_record(one(R"({"type":"platform.future","record":[1]})")));
    view_as<UnknownRecord>(view_record(one(R"({"record":{}})")));
  }
}

TEST_CASE("telemetry records: function and extension records are a string or an object") {
  struct Case {
    std::string element;
    bool is_object;
    std::string text;
    std::optional<std::string> message, level, request_id;
  };
  const std::vector<Case> cases = {
      {R"({"type":"function","record":"2022-10-12T00:03:50.000Z\tr1\tINFO\thello\n"})",
       false,
       "2022-10-12T00:03:50.000Z\tr1\tINFO\thello\n",
       {},
       {},
       {}},
      {R"({"type":"extension","record":"[er] started"})", false, "[er] started", {}, {}, {}},
      {R"({"type":"function","record":{"timestamp":"t","level":"INFO","requestId":"r1","message":"hi"}})",
       true, R"({"timestamp":"t","level":"INFO","requestId":"r1","message":"hi"})", "hi", "INFO",
       "r1"},
      {R"({"type":"extension","record":{"level":"WARN","message":"x"}})",
       true,
       R"({"level":"WARN","message":"x"})",
       "x",
       "WARN",
       {}},
  };
  for (const auto& c : cases) {
    INFO(c.element);
    auto v = view_as<LogLineRecord>(view_record(one(c.element)));
    CHECK(v.is_object == c.is_object);
    CHECK(v.text == c.text);
    CHECK(v.message == c.message);
    CHECK(v.level == c.level);
    CHECK(v.request_id == c.request_id);
  }
}

TEST_CASE("telemetry records: a record of the wrong JSON kind is an error, not a crash") {
  const std::vector<std::string> elements = {
      R"({"type":"platform.report","record":"text"})",
      R"({"type":"platform.runtimeDone"})",
      R"({"type":"function","record":42})",
      R"({"type":"platform.fault","record":{"a":1}})",
  };
  for (const auto& e : elements) {
    INFO(e);
    auto v = view_record(one(e));
    REQUIRE_FALSE(v.ok());
    CHECK(v.error().kind == ErrorKind::InvalidInput);
  }
}

TEST_CASE("telemetry records: count_batch_elements counts without parsing, on any input") {
  struct Case {
    std::string body;
    size_t count;
  };
  const std::vector<Case> cases = {
      {"[]", 0},
      {" [ ] ", 0},
      {R"([{"a":1},{"b":[1,2,{"c":"]"}]}])", 2},
      {R"([{"s":"a,b\"}"},{}])", 2},
      {"[1,2,3]", 3},
      {R"({"type":"function","record":"x"})", 0},  // not an array
      {"not json", 0},
      {"", 0},
      {"[:", 1},
      {"[{", 1},
      {"[\"\\", 1},
      {"}}}]]]", 0},
  };
  for (const auto& c : cases) {
    INFO(c.body);
    CHECK(count_batch_elements(c.body) == c.count);
    // BatchElementCounter: the same count however the body is cut into pieces.
    for (size_t cut = 0; cut <= c.body.size(); ++cut) {
      BatchElementCounter two;
      two.feed(std::string_view(c.body).substr(0, cut)).feed(std::string_view(c.body).substr(cut));
      CHECK(two.count() == c.count);
    }
    BatchElementCounter bytes;
    for (const char ch : c.body) bytes.feed(std::string_view(&ch, 1));
    CHECK(bytes.count() == c.count);
  }
}
