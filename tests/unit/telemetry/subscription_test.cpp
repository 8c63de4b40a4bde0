#include "extension_runner/telemetry/subscription.hpp"

#include <catch2/catch.hpp>

#include "extension_runner/core/json.hpp"
#include "test_env.hpp"

using namespace extension_runner;

using test_support::env_of;

TEST_CASE("telemetry subscribe: destination URI from the bound address") {
  struct Case {
    std::string host;
    int port;
    std::string uri;
  };
  const std::vector<Case> cases = {
      {"0.0.0.0", 4243, "http://sandbox.localdomain:4243/"},
      {"127.0.0.1", 80, "http://127.0.0.1:80/"},
      {"sandbox.localdomain", 1234, "http://sandbox.localdomain:1234/"},
  };
  for (const auto& c : cases) CHECK(destination_uri(c.host, c.port) == c.uri);
  // Managed Instances answer 400 to any host but sandbox(.localdomain) and post to 127.0.0.1.
  for (const auto& c : cases) {
    CHECK(destination_uri(c.host, c.port, Platform::ManagedInstances) ==
          "http://sandbox.localdomain:" + std::to_string(c.port) + "/");
  }
}

TEST_CASE("telemetry subscribe: the body per platform and setting [TEL][LMI]") {
  struct Case {
    std::map<std::string, std::string> env;
    std::string bound_host;
    std::string body;
  };
  const std::string lmi = "lambda-managed-instances";
  const std::string tail =
      R"("buffering":{"maxItems":1000,"maxBytes":262144,"timeoutMs":25},"destination":{"protocol":"HTTP","URI":"http://)";
  const std::vector<Case> cases = {
      // Standard platform: 2025-01-29 by default (backward compatible), any chosen schema kept.
      {{},
       "0.0.0.0",
       R"({"schemaVersion":"2025-01-29","types":["platform","function"],)" + tail +
           R"(sandbox.localdomain:4243/"}})"},
      {{{"EXTENSION_RUNNER_TELEMETRY_SCHEMA", "2022-12-13"}},
       "127.0.0.1",
       R"({"schemaVersion":"2022-12-13","types":["platform","function"],)" + tail +
           R"(127.0.0.1:4243/"}})"},
      {{{"EXTENSION_RUNNER_EVENTS", "SHUTDOWN"}, {"EXTENSION_RUNNER_TELEMETRY_TYPES", "function"}},
       "0.0.0.0",
       R"({"schemaVersion":"2025-01-29","types":["function"],)" + tail +
           R"(sandbox.localdomain:4243/"}})"},
      // Managed Instances: 2025-01-29, host sandbox.localdomain whatever the bind address.
      {{{"AWS_LAMBDA_INITIALIZATION_TYPE", lmi}},
       "0.0.0.0",
       R"({"schemaVersion":"2025-01-29","types":["platform","function"],)" + tail +
           R"(sandbox.localdomain:4243/"}})"},
      {{{"AWS_LAMBDA_INITIALIZATION_TYPE", lmi},
        {"EXTENSION_RUNNER_TELEMETRY_SCHEMA", "2025-01-29"},
        {"EXTENSION_RUNNER_LISTEN", "127.0.0.1:0"}},
       "127.0.0.1",
       R"({"schemaVersion":"2025-01-29","types":["platform","function"],)" + tail +
           R"(sandbox.localdomain:4243/"}})"},
  };
  for (const auto& c : cases) {
    auto env = c.env;
    env["EXTENSION_RUNNER_TELEMETRY"] = "telemetry";
    auto config = load_config({}, env_of(env));
    REQUIRE(config.ok());
    const auto sub = subscription_from_options(
        config->telemetry, destination_uri(c.bound_host, 4243, config->platform));
    INFO(c.body);
    CHECK(subscription_body(sub) == c.body);
  }
}

TEST_CASE("telemetry subscribe: listen address parsing") {
  auto a = parse_listen_address("0.0.0.0:0");
  REQUIRE(a.ok());
  CHECK(a->host == "0.0.0.0");
  CHECK(a->port == 0);
  auto b = parse_listen_address("sandbox.localdomain:8080");
  REQUIRE(b.ok());
  CHECK(b->host == "sandbox.localdomain");
  CHECK(b->port == 8080);
  for (const std::string bad : {"8080", ":80", "h:", "h:x", "h:70000"}) {
    INFO(bad);
    auto r = parse_listen_address(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::ConfigInvalid);
  }
}

TEST_CASE("telemetry subscribe: Telemetry API request [TEL]") {
  auto config = load_config({}, env_of({{"EXTENSION_RUNNER_TELEMETRY", "telemetry"},
                                        {"EXTENSION_RUNNER_BUFFER_MAX_ITEMS", "2000"},
                                        {"EXTENSION_RUNNER_BUFFER_TIMEOUT_MS", "25"}}));
  REQUIRE(config.ok());
  auto sub = subscription_from_options(config->telemetry, "http://sandbox.localdomain:4243/");
  auto req = build_subscribe_request("ext-id", sub);
  CHECK(req.method == "PUT");
  CHECK(req.path == "/2022-07-01/telemetry");
  CHECK(req.headers ==
        std::vector<std::pair<std::string, std::string>>{
            {"Content-Type", "application/json"}, {"Lambda-Extension-Identifier", "ext-id"}});
  CHECK(
      req.body ==
      R"({"schemaVersion":"2025-01-29","types":["platform","function"],"buffering":{"maxItems":2000,"maxBytes":262144,"timeoutMs":25},"destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:4243/"}})");
  CHECK(parse_json(req.body).ok());
}

TEST_CASE("telemetry subscribe: Logs API request [LOGS]") {
  auto config = load_config(
      {}, env_of({{"EXTENSION_RUNNER_TELEMETRY", "logs"},
                  {"EXTENSION_RUNNER_TELEMETRY_TYPES", "platform, function,extension"}}));
  REQUIRE(config.ok());
  auto req =
      build_subscribe_request("id2", subscription_from_options(config->telemetry, "http://h:1/"));
  CHECK(req.path == "/2020-08-15/logs");
  auto doc = parse_json(req.body);
  REQUIRE(doc.ok());
  CHECK(json_string(*doc, "schemaVersion") == "2021-03-18");
  CHECK((*doc)["types"].Size() == 3);
  CHECK(std::string((*doc)["types"][2].GetString()) == "extension");
  CHECK(json_int64((*doc)["buffering"], "maxItems") == 1000);
  CHECK(json_string((*doc)["destination"], "protocol") == "HTTP");
}

TEST_CASE("telemetry subscribe: answers are classified") {
  struct Case {
    TelemetryMode mode;
    long status;
    std::string body;
    std::optional<SubscribeOutcome> outcome;  // nullopt: SubscribeFailed
    std::string message_part;
  };
  const std::vector<Case> cases = {
      {TelemetryMode::Telemetry, 200, "OK", SubscribeOutcome::Subscribed, ""},
      {TelemetryMode::Logs, 200, "\"OK\"", SubscribeOutcome::Subscribed, ""},
      {TelemetryMode::Telemetry, 202,
       R"({"errorType":"Telemetry.NotSupported","errorMessage":"Telemetry API is not supported"})",
       SubscribeOutcome::Unavailable, "Telemetry.NotSupported"},
      {TelemetryMode::Logs, 202,
       R"({"errorType":"Logs.NotSupported","errorMessage":"Logs API is not supported"})",
       SubscribeOutcome::Unavailable, "Logs API"},
      {TelemetryMode::Telemetry, 200, R"({"errorType":"X.NotSupported","errorMessage":"m"})",
       SubscribeOutcome::Unavailable, "X.NotSupported"},
      {TelemetryMode::Telemetry, 202, "", SubscribeOutcome::Unavailable, "202"},
      {TelemetryMode::Telemetry, 400,
       R"({"errorType":"ValidationError","errorMessage":"URI port is not provided; types should not be empty"})",
       std::nullopt, "ValidationError: URI port is not provided"},
      {TelemetryMode::Logs, 400, R"({"errorType":"Logs.ValidationError","errorMessage":"bad"})",
       std::nullopt, "Logs API subscription failed: HTTP 400 Logs.ValidationError: bad"},
      {TelemetryMode::Telemetry, 403, "forbidden", std::nullopt, "HTTP 403 forbidden"},
      {TelemetryMode::Telemetry, 500, "", std::nullopt, "HTTP 500 (empty body)"},
      {TelemetryMode::Telemetry, 302, "", std::nullopt, "HTTP 302"},
  };
  for (const auto& c : cases) {
    INFO(c.status << " " << c.body);
    HttpResponse response;
    response.status = c.status;
    response.body = c.body;
    auto answer = classify_subscribe_response(c.mode, response);
    if (c.outcome) {
      REQUIRE(answer.ok());
      CHECK(answer->outcome == *c.outcome);
      CHECK_THAT(answer->message, Catch::Contains(c.message_part));
    } else {
      REQUIRE_FALSE(answer.ok());
      CHECK(answer.error().kind == ErrorKind::SubscribeFailed);
      CHECK_THAT(answer.error().message, Catch::Contains(c.message_part));
    }
  }
}

TEST_CASE("telemetry subscribe: the TCP destination form (schema 2025-01-29) [TEL][RIE]") {
  Subscription sub;
  sub.schema_version = "2025-01-29";
  sub.types = {"platform"};
  sub.protocol = TelemetryProtocol::Tcp;
  sub.tcp_port = 4243;
  CHECK(subscription_body(sub) ==
        R"({"schemaVersion":"2025-01-29","types":["platform"],"buffering":{"maxItems":1000,)"
        R"("maxBytes":262144,"timeoutMs":25},"destination":{"protocol":"TCP","port":4243}})");
}
