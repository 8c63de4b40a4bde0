#include "extension_runner/proxy/header_mapping.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace extension_runner;

TEST_CASE("proxy headers: end-to-end fields pass complete, hop-by-hop and framing go", "[proxy]") {
  struct Case {
    const char* what;
    HeaderList in;
    HeaderList out;
  };
  // Every Lambda-Runtime-* field of an event [RIE rendering.go], one Lambda adds later, and the
  // runtime's own fields, in order and as spelled.
  const HeaderList lambda = {
      {"Lambda-Runtime-Aws-Request-Id", "8476a536-e9f4-11e8-9739-2dfe598c3fcd"},
      {"Lambda-Runtime-Deadline-Ms", "1542409706888"},
      {"Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-2:123456789012:function:f"},
      {"Lambda-Runtime-Trace-Id", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1"},
      {"Lambda-Runtime-Client-Context", "{\"custom\":{\"a\":\"b\"}}"},
      {"Lambda-Runtime-Cognito-Identity", "{\"cognitoIdentityId\":\"i\"}"},
      {"Lambda-Runtime-Aws-Tenant-Id", "tenant-7"},
      {"Lambda-Runtime-Invocation-Id", "inv-1"},
      {"Lambda-Runtime-Some-Future-Field", "kept"},
      {"Content-Type", "application/json"},
  };
  const std::vector<Case> cases = {
      {"an event's fields", lambda, lambda},
      {"a response's fields",
       {{"User-Agent", "aws-lambda-python/3.12"},
        {"Lambda-Runtime-Function-Response-Mode", "streaming"},
        {"Lambda-Runtime-Function-Error-Type", "Runtime.Unhandled"},
        {"Lambda-Runtime-Function-XRay-Error-Cause", "{}"},
        {"Lambda-Runtime-Features", "a,b"},
        {"Content-Type", "text/plain"}},
       {{"User-Agent", "aws-lambda-python/3.12"},
        {"Lambda-Runtime-Function-Response-Mode", "streaming"},
        {"Lambda-Runtime-Function-Error-Type", "Runtime.Unhandled"},
        {"Lambda-Runtime-Function-XRay-Error-Cause", "{}"},
        {"Lambda-Runtime-Features", "a,b"},
        {"Content-Type", "text/plain"}}},
      {"framing is rewritten by the sender",
       {{"Content-Length", "12"},
        {"Transfer-Encoding", "chunked"},
        {"Trailer", "Lambda-Runtime-Function-Error-Type"},
        {"X", "1"}},
       {{"X", "1"}}},
      {"hop-by-hop and per-connection fields",
       {{"Connection", "keep-alive, X-Private"},
        {"Keep-Alive", "timeout=5"},
        {"X-Private", "p"},
        {"TE", "trailers"},
        {"Upgrade", "h2c"},
        {"Proxy-Connection", "x"},
        {"Proxy-Authorization", "x"},
        {"Proxy-Authenticate", "x"},
        {"Host", "127.0.0.1:9001"},
        {"Expect", "100-continue"},
        {"X-Public", "q"}},
       {{"X-Public", "q"}}},
      {"any case",
       {{"cOnTeNt-LeNgTh", "1"}, {"lambda-runtime-aws-request-id", "r"}},
       {{"lambda-runtime-aws-request-id", "r"}}},
      {"repeated and empty fields stay",
       {{"X-A", "1"}, {"X-A", "2"}, {"X-E", ""}},
       {{"X-A", "1"}, {"X-A", "2"}, {"X-E", ""}}},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    CHECK(end_to_end_headers(c.in) == c.out);
  }
}

TEST_CASE("proxy headers: an event's fields, framing", "[proxy]") {
  const HeaderList in = {{"lambda-runtime-aws-request-id", "r"},
                         {"content-type", "x"},
                         {"Lambda-Runtime-Deadline-Ms", "5"},
                         {"Lambda-Runtimes", "no"},
                         {"User-Agent", "no"},
                         {"Lambda-Runtime-Deadline-ms", "6"}};
  CHECK(event_headers(in) == HeaderList{{"lambda-runtime-aws-request-id", "r"},
                                        {"content-type", "x"},
                                        {"Lambda-Runtime-Deadline-Ms", "5, 6"}});

  HeaderList framed;
  add_length_framing(framed, 6291556);
  CHECK(framed == HeaderList{{"Content-Length", "6291556"}});
  HeaderList chunked;
  const std::string announced =
      "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body";
  add_chunked_framing(chunked, &announced);
  CHECK(chunked == HeaderList{{"Transfer-Encoding", "chunked"}, {"Trailer", announced}});
  HeaderList plain;
  add_chunked_framing(plain, nullptr);
  CHECK(plain == HeaderList{{"Transfer-Encoding", "chunked"}});
}
