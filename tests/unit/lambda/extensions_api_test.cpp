#include "extension_runner/lambda/extensions_api.hpp"

#include <catch2/catch.hpp>

#include "extension_runner/core/json.hpp"
#include "extension_runner/host/settings.hpp"
#include "test_env.hpp"

using namespace extension_runner;

namespace {
std::string header(const HttpRequest& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "<absent>";
}
}  // namespace

TEST_CASE("extensions api: register request") {
  const auto r = build_register_request("extension-runner");
  CHECK(r.method == "POST");
  CHECK(r.path == "/2020-01-01/extension/register");
  CHECK(header(r, "Lambda-Extension-Name") == "extension-runner");
  CHECK(header(r, "Lambda-Extension-Accept-Feature") == "accountId");
  CHECK(r.body == R"({"events":["INVOKE","SHUTDOWN"]})");
}

TEST_CASE("extensions api: the register body per platform and EXTENSION_RUNNER_EVENTS [LMI]") {
  struct Case {
    std::map<std::string, std::string> env;
    std::string body;
  };
  const std::string lmi = "lambda-managed-instances";
  const std::vector<Case> cases = {
      {{}, R"({"events":["INVOKE","SHUTDOWN"]})"},
      {{{"AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"}}, R"({"events":["INVOKE","SHUTDOWN"]})"},
      {{{"EXTENSION_RUNNER_EVENTS", "INVOKE,SHUTDOWN"}}, R"({"events":["INVOKE","SHUTDOWN"]})"},
      {{{"EXTENSION_RUNNER_EVENTS", "SHUTDOWN,INVOKE"}}, R"({"events":["INVOKE","SHUTDOWN"]})"},
      {{{"EXTENSION_RUNNER_EVENTS", "SHUTDOWN"}}, R"({"events":["SHUTDOWN"]})"},
      {{{"AWS_LAMBDA_INITIALIZATION_TYPE", lmi}}, R"({"events":["SHUTDOWN"]})"},
      {{{"AWS_LAMBDA_INITIALIZATION_TYPE", lmi}, {"EXTENSION_RUNNER_EVENTS", "SHUTDOWN"}},
       R"({"events":["SHUTDOWN"]})"},
  };
  for (const auto& c : cases) {
    auto config = load_config({}, test_support::env_of(c.env));
    REQUIRE(config.ok());
    const auto r = build_register_request("extension-runner", config->events);
    INFO(c.body);
    CHECK(r.body == c.body);
    CHECK(header(r, "Lambda-Extension-Accept-Feature") == "accountId");
  }
}

TEST_CASE("extensions api: next request carries the identifier and no body") {
  const auto r = build_next_request("0d6b2e4c-1111-4222-8333-444455556666");
  CHECK(r.method == "GET");
  CHECK(r.path == "/2020-01-01/extension/event/next");
  CHECK(header(r, "Lambda-Extension-Identifier") == "0d6b2e4c-1111-4222-8333-444455556666");
  CHECK(r.body.empty());
}

TEST_CASE("extensions api: init/exit error requests") {
  const ErrorReport report{"Extension.ConfigInvalid", "bad \"value\"", {"frame 1"}};
  for (const auto& [r, path] :
       {std::pair{build_init_error_request("id", report), "/2020-01-01/extension/init/error"},
        std::pair{build_exit_error_request("id", report), "/2020-01-01/extension/exit/error"}}) {
    INFO(path);
    CHECK(r.method == "POST");
    CHECK(r.path == path);
    CHECK(header(r, "Lambda-Extension-Identifier") == "id");
    CHECK(header(r, "Lambda-Extension-Function-Error-Type") == "Extension.ConfigInvalid");
    auto body = parse_json(r.body);
    REQUIRE(body.ok());
    CHECK(json_string(*body, "errorMessage") == "bad \"value\"");
    CHECK(json_string(*body, "errorType") == "Extension.ConfigInvalid");
    REQUIRE((*body)["stackTrace"].IsArray());
    CHECK((*body)["stackTrace"].Size() == 1);
  }
}

TEST_CASE("extensions api: register responses") {
  HttpResponse ok;
  ok.status = 200;
  ok.headers = {{"lambda-extension-identifier", "abc"}};  // header names are case-insensitive
  ok.body =
      R"({"functionName":"helloWorld","functionVersion":"$LATEST","handler":"lambda_function.lambda_handler","accountId":"123456789012"})";
  auto r = parse_register_response(ok);
  REQUIRE(r.ok());
  CHECK(r->identifier == "abc");
  CHECK(r->function_name == "helloWorld");
  CHECK(r->function_version == "$LATEST");
  CHECK(r->handler == "lambda_function.lambda_handler");
  CHECK(r->account_id == "123456789012");
  CHECK(r->body_json == ok.body);  // as received (already compact)

  ok.body = R"({ "functionName": "f", "extra": {"x": 1} })";
  auto extra = parse_register_response(ok);
  REQUIRE(extra.ok());
  CHECK(extra->body_json == R"({"functionName":"f","extra":{"x":1}})");

  ok.body = R"({"functionName":"f"})";  // accountId omitted (feature not accepted)
  auto no_account = parse_register_response(ok);
  REQUIRE(no_account.ok());
  CHECK_FALSE(no_account->account_id.has_value());

  ok.body = "not json";  // informative only: tolerated
  auto not_json = parse_register_response(ok);
  REQUIRE(not_json.ok());
  CHECK(not_json->body_json == "{}");

  HttpResponse no_id;
  no_id.status = 200;
  auto missing = parse_register_response(no_id);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().kind == ErrorKind::ProtocolError);
}

TEST_CASE("extensions api: error statuses map to kinds with the API's words verbatim") {
  struct Case {
    long status;
    std::string body;
    ErrorKind kind;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {403,
       R"({"errorType":"Extension.InvalidExtensionName","errorMessage":"Empty extension name"})",
       ErrorKind::ApiRejected, "HTTP 403: Extension.InvalidExtensionName: Empty extension name"},
      {400, R"({"errorType":"InvalidRequestFormat","errorMessage":"x"})", ErrorKind::ApiRejected,
       "InvalidRequestFormat: x"},
      {500, R"({"errorType":"Runtime.Unknown","errorMessage":"boom"})", ErrorKind::ApiFatal,
       "HTTP 500: Runtime.Unknown: boom"},
      {502, "gateway said no", ErrorKind::ApiFatal, "gateway said no"},
      {404, "", ErrorKind::ApiRejected, "(empty body)"},
  };
  for (const auto& c : cases) {
    INFO(c.status << " " << c.body);
    HttpResponse resp;
    resp.status = c.status;
    resp.body = c.body;
    const Error e = api_error("register", resp);
    CHECK(e.kind == c.kind);
    CHECK_THAT(e.message, Catch::Contains(c.expect));
    CHECK_THAT(e.message, Catch::StartsWith("register failed"));
  }
  CHECK(error_type(ErrorKind::ApiFatal) == "Extension.ApiFatal");
}
