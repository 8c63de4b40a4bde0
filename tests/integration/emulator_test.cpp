// The emulator behaves as AWS documents the Extensions API [EXT] and as RIE implements it
// ([EXT], [RIE]; docs/references.md): the tests and `emulate` are only as good as this fake.
#include <algorithm>
#include <catch2/catch.hpp>

#include "extension_runner/core/clock.hpp"
#include "extension_runner/core/json.hpp"
#include "extension_runner/fake_platform/extensions_api.hpp"
#include "extension_runner/lambda/extensions_api.hpp"
#include "extension_runner/lambda/http.hpp"

using namespace extension_runner;

namespace {

struct Api {
  Emulator emulator;
  HttpClient http{""};
  Api() {
    REQUIRE(emulator.start().ok());
    http = HttpClient(emulator.runtime_api());
  }
  HttpResponse send(const HttpRequest& r) {
    auto response = http.send(
        r, HttpTimeouts{std::chrono::milliseconds(1000), std::chrono::milliseconds(5000)});
    REQUIRE(response.ok());
    return *response;
  }
  std::string register_as(const std::string& name) {
    auto r = send(build_register_request(name));
    REQUIRE(r.status == 200);
    return r.header(kIdentifierHeader);
  }
};

std::string error_type_of(const HttpResponse& r) {
  auto doc = parse_json(r.body);
  return doc.ok() ? json_string(*doc, "errorType").value_or("") : "<not json: " + r.body + ">";
}

}  // namespace

TEST_CASE("emulator: identifier checks answer 403 with RIE's error types") {
  Api api;
  const std::string id = api.register_as("ext");
  struct Case {
    const char* what;
    std::string identifier;
    const char* error_type;
  };
  const std::vector<Case> cases = {
      {"missing", "", "Extension.MissingExtensionIdentifier"},
      {"not a UUID", "not-a-uuid", "Extension.InvalidExtensionIdentifier"},
      {"unknown", "00000000-0000-4000-8000-000000000000", "Extension.UnknownExtensionIdentifier"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    HttpRequest next = build_next_request(c.identifier);
    if (c.identifier.empty()) next.headers.clear();
    auto r = api.send(next);
    CHECK(r.status == 403);
    CHECK(error_type_of(r) == c.error_type);
    auto report =
        api.send(build_exit_error_request(c.identifier, ErrorReport{"Extension.X", "m", {}}));
    CHECK(report.status == 403);
  }
  CHECK_FALSE(id.empty());
}

TEST_CASE("emulator: register validation") {
  Api api;
  api.register_as("first");
  struct Case {
    const char* what;
    HttpRequest request;
    const char* error_type;
  };
  HttpRequest empty_name = build_register_request("");
  HttpRequest duplicate = build_register_request("first");
  HttpRequest bad_event = build_register_request("x1");
  bad_event.body = R"({"events":["INVOKE","RESTORE"]})";
  HttpRequest config_keys = build_register_request("x2");
  config_keys.body = R"({"events":["INVOKE"],"configurationKeys":["k"]})";
  HttpRequest not_json = build_register_request("x3");
  not_json.body = "";
  const std::vector<Case> cases = {
      {"empty name", empty_name, "Extension.InvalidExtensionName"},
      {"duplicate name", duplicate, "Extension.InvalidExtensionState"},
      {"unknown event type", bad_event, "Extension.InvalidEventType"},
      {"configurationKeys", config_keys, "InvalidRequestFormat"},
      {"empty body", not_json, "InvalidRequestFormat"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto r = api.send(c.request);
    CHECK(r.status == 403);
    CHECK(error_type_of(r) == c.error_type);
  }
}

TEST_CASE("emulator: at most 10 extensions register") {
  Api api;
  for (int i = 1; i <= 9; ++i) api.register_as("ext-" + std::to_string(i));
  api.register_as("ext-10");
  auto r = api.send(build_register_request("ext-11"));
  CHECK(r.status == 403);
  CHECK(error_type_of(r) == "Extension.TooManyExtensions");
}

TEST_CASE("emulator: accountId only when the feature is accepted") {
  Api api;
  auto with = api.send(build_register_request("with"));
  CHECK(json_string(*parse_json(with.body), "accountId") == "123456789012");
  HttpRequest plain = build_register_request("without");
  plain.headers.erase(std::remove_if(plain.headers.begin(), plain.headers.end(),
                                     [](const auto& h) { return h.first == kAcceptFeatureHeader; }),
                      plain.headers.end());
  auto without = api.send(plain);
  REQUIRE(without.status == 200);
  CHECK_FALSE(json_string(*parse_json(without.body), "accountId").has_value());
  CHECK(json_string(*parse_json(without.body), "functionName") == "emulated-function");
}

TEST_CASE("emulator: error reports need the error-type header, then no call succeeds") {
  Api api;
  const std::string id = api.register_as("ext");
  HttpRequest no_type = build_init_error_request(id, ErrorReport{"Extension.X", "m", {}});
  no_type.headers.erase(std::remove_if(no_type.headers.begin(), no_type.headers.end(),
                                       [](const auto& h) { return h.first == kErrorTypeHeader; }),
                        no_type.headers.end());
  auto missing = api.send(no_type);
  CHECK(missing.status == 403);
  CHECK(error_type_of(missing) == "Extension.MissingHeader");

  auto accepted = api.send(build_init_error_request(id, ErrorReport{"Extension.X", "m", {}}));
  CHECK(accepted.status == 202);
  CHECK(accepted.body == R"({"status":"OK"})");
  auto after = api.send(build_next_request(id));
  CHECK(after.status == 403);
  CHECK(api.emulator.calls_to(Endpoint::InitError).size() == 2);
}

TEST_CASE("emulator: INVOKE is JSON with an event identifier, SHUTDOWN is sniffed text (RIE)") {
  Api api;
  const std::string id = api.register_as("ext");
  api.emulator.push_invoke("r1", wall_clock_ms() + 1000);
  api.emulator.push_shutdown("spindown", wall_clock_ms() + 2000);
  auto invoke = api.send(build_next_request(id));
  CHECK(invoke.status == 200);
  CHECK(invoke.header("Content-Type") == "application/json");
  CHECK_FALSE(invoke.header("Lambda-Extension-Event-Identifier").empty());
  auto shutdown = api.send(build_next_request(id));
  CHECK(shutdown.header("Content-Type") == "text/plain; charset=utf-8");
  auto event = parse_event(shutdown.body);
  REQUIRE(event.ok());
  CHECK(std::get<ShutdownEvent>(*event).shutdown_reason == "spindown");
}
