#include "extension_runner/proxy/routes.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace extension_runner;

TEST_CASE("proxy routes: which Runtime API call a request is", "[proxy]") {
  struct Case {
    std::string method, target;
    RouteKind kind;
    std::string version, id;
  };
  const std::vector<Case> cases = {
      {"GET", "/2018-06-01/runtime/invocation/next", RouteKind::Next, "2018-06-01", ""},
      {"GET", "/2018-06-01/runtime/invocation/next?x=1", RouteKind::Next, "2018-06-01", ""},
      {"GET", "/2099-01-01/runtime/invocation/next", RouteKind::Next, "2099-01-01", ""},
      {"POST", "/2018-06-01/runtime/invocation/abc-123/response", RouteKind::Response, "2018-06-01",
       "abc-123"},
      {"POST", "/2018-06-01/runtime/invocation/abc-123/error", RouteKind::Error, "2018-06-01",
       "abc-123"},
      // Everything else passes through unchanged.
      {"POST", "/2018-06-01/runtime/init/error", RouteKind::PassThrough, "", ""},
      {"GET", "/2018-06-01/runtime/restore/next", RouteKind::PassThrough, "", ""},
      {"POST", "/2018-06-01/runtime/restore/error", RouteKind::PassThrough, "", ""},
      {"POST", "/2020-01-01/extension/register", RouteKind::PassThrough, "", ""},
      {"POST", "/2018-06-01/runtime/invocation/next", RouteKind::PassThrough, "", ""},
      {"GET", "/2018-06-01/runtime/invocation/abc/response", RouteKind::PassThrough, "", ""},
      {"POST", "/2018-06-01/runtime/invocation//response", RouteKind::PassThrough, "", ""},
      {"POST", "/2018-06-01/runtime/invocation/a/b/response", RouteKind::PassThrough, "", ""},
      {"GET", "//runtime/invocation/next", RouteKind::PassThrough, "", ""},
      {"GET", "/ping", RouteKind::PassThrough, "", ""},
      {"GET", "*", RouteKind::PassThrough, "", ""},
  };
  for (const auto& c : cases) {
    INFO(c.method << " " << c.target);
    const Route route = classify_route(c.method, c.target);
    CHECK(route.kind == c.kind);
    CHECK(route.version == c.version);
    CHECK(route.request_id == c.id);
  }
  CHECK(next_path("2018-06-01") == "/2018-06-01/runtime/invocation/next");
  CHECK(response_path("v", "id") == "/v/runtime/invocation/id/response");
  CHECK(error_path("v", "id") == "/v/runtime/invocation/id/error");
}
