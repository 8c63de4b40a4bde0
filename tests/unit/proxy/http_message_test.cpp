#include "extension_runner/proxy/http_message.hpp"

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

using namespace extension_runner;

TEST_CASE("proxy http: request heads", "[proxy]") {
  struct Case {
    std::string bytes;
    HeadStatus status;
    size_t consumed;
    std::string method, target, version;
    HeaderList headers;
  };
  const std::string next = "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n";
  const std::vector<Case> cases = {
      {next + "Host: x\r\nUser-Agent: rt/1\r\n\r\n",
       HeadStatus::Complete,
       next.size() + 29,
       "GET",
       "/2018-06-01/runtime/invocation/next",
       "HTTP/1.1",
       {{"Host", "x"}, {"User-Agent", "rt/1"}}},
      // The body (or the next request) after the head is not consumed.
      {next + "\r\nBODY",
       HeadStatus::Complete,
       next.size() + 2,
       "GET",
       "/2018-06-01/runtime/invocation/next",
       "HTTP/1.1",
       {}},
      // Bare LF line ends, surrounding whitespace, empty values, leading empty lines.
      {"\r\nPOST /a HTTP/1.0\nX-A:  1 \nX-Empty:\n\n",
       HeadStatus::Complete,
       38,
       "POST",
       "/a",
       "HTTP/1.0",
       {{"X-A", "1"}, {"X-Empty", ""}}},
      {next + "Host: x\r\n", HeadStatus::NeedMore, 0, "", "", "", {}},
      {"GE", HeadStatus::NeedMore, 0, "", "", "", {}},
      {"", HeadStatus::NeedMore, 0, "", "", "", {}},
      {"GET /a HTTP/2.0\r\n\r\n", HeadStatus::Malformed, 0, "", "", "", {}},
      {"GET  HTTP/1.1\r\n\r\n", HeadStatus::Malformed, 0, "", "", "", {}},
      {"GET /a b HTTP/1.1\r\n\r\n", HeadStatus::Malformed, 0, "", "", "", {}},
      {"G(T /a HTTP/1.1\r\n\r\n", HeadStatus::Malformed, 0, "", "", "", {}},
      {next + "NoColon\r\n\r\n", HeadStatus::Malformed, 0, "", "", "", {}},
      {next + "Bad Name: 1\r\n\r\n", HeadStatus::Malformed, 0, "", "", "", {}},
      {next + "A: 1\r\n folded\r\n\r\n", HeadStatus::Malformed, 0, "", "", "", {}},
      // CR or NUL inside a value could split the message at the next hop (RFC 9110 section 5.5).
      {next + "A: 1\r2\r\n\r\n", HeadStatus::Malformed, 0, "", "", "", {}},
      {next + std::string("A: 1\0"
                          "2\r\n\r\n",
                          10),
       HeadStatus::Malformed,
       0,
       "",
       "",
       "",
       {}},
      // No control character or tab in the target (RFC 9112 section 3.2).
      {"GET /a\tb HTTP/1.1\r\n\r\n", HeadStatus::Malformed, 0, "", "", "", {}},
      {"GET /a\rb HTTP/1.1\r\n\r\n", HeadStatus::Malformed, 0, "", "", "", {}},
      {"GET /a\x7f HTTP/1.1\r\n\r\n", HeadStatus::Malformed, 0, "", "", "", {}},
      {next + "A: " + std::string(200, 'x') + "\r\n\r\n", HeadStatus::TooLarge, 0, "", "", "", {}},
      {next + "A: " + std::string(200, 'x'), HeadStatus::TooLarge, 0, "", "", "", {}},
  };
  for (const auto& c : cases) {
    INFO(c.bytes);
    const HeadParse parse = parse_request_head(c.bytes, 128);
    REQUIRE(parse.status == c.status);
    if (c.status == HeadStatus::Malformed) CHECK_FALSE(parse.reason.empty());
    if (c.status != HeadStatus::Complete) continue;
    CHECK(parse.consumed == c.consumed);
    CHECK(parse.head.method == c.method);
    CHECK(parse.head.target == c.target);
    CHECK(parse.head.version == c.version);
    CHECK(parse.head.headers == c.headers);
  }
}

TEST_CASE("proxy http: response heads from the Runtime API", "[proxy]") {
  struct Case {
    std::string bytes;
    HeadStatus status;
    size_t consumed;
    int code;
    std::string version;
    HeaderList headers;
  };
  const std::string ok = "HTTP/1.1 200 OK\r\n";
  const std::vector<Case> cases = {
      {ok + "Content-Length: 2\r\nLambda-Runtime-Aws-Request-Id: r1\r\n\r\n{}",
       HeadStatus::Complete,
       ok.size() + 56,
       200,
       "HTTP/1.1",
       {{"Content-Length", "2"}, {"Lambda-Runtime-Aws-Request-Id", "r1"}}},
      // No reason phrase, bare LF, HTTP/1.0.
      {"HTTP/1.0 202\nA:1\n\n", HeadStatus::Complete, 18, 202, "HTTP/1.0", {{"A", "1"}}},
      {"HTTP/1.1 100 Continue\r\n\r\n", HeadStatus::Complete, 25, 100, "HTTP/1.1", {}},
      // Obsolete line folding becomes one space (RFC 9112 section 5.2).
      {ok + "A: x\r\n \ty\r\n\r\n",
       HeadStatus::Complete,
       ok.size() + 13,
       200,
       "HTTP/1.1",
       {{"A", "x y"}}},
      // Written out again and re-read, a joined value must stay the same: no stray space.
      {ok + "A: x\r\n \r\nB:\r\n y\r\n\r\n",
       HeadStatus::Complete,
       ok.size() + 19,
       200,
       "HTTP/1.1",
       {{"A", "x"}, {"B", "y"}}},
      {ok + "A: 1\r\n", HeadStatus::NeedMore, 0, 0, "", {}},
      {"HTTP/1.1 20", HeadStatus::NeedMore, 0, 0, "", {}},
      {"", HeadStatus::NeedMore, 0, 0, "", {}},
      {"\r\n", HeadStatus::Malformed, 0, 0, "", {}},
      {"HTTP/2 200 OK\r\n\r\n", HeadStatus::Malformed, 0, 0, "", {}},
      {"HTTP/1.1 2x0 OK\r\n\r\n", HeadStatus::Malformed, 0, 0, "", {}},
      {"HTTP/1.1 099 Low\r\n\r\n", HeadStatus::Malformed, 0, 0, "", {}},
      {"HTTP/1.1 2000 OK\r\n\r\n", HeadStatus::Malformed, 0, 0, "", {}},
      {"SSH-2.0-OpenSSH_9.2\r\n\r\n", HeadStatus::Malformed, 0, 0, "", {}},
      {ok + "NoColon\r\n\r\n", HeadStatus::Malformed, 0, 0, "", {}},
      {ok + "A: 1\r2\r\n\r\n", HeadStatus::Malformed, 0, 0, "", {}},
      {ok + "A: 1\r\n 2\r3\r\n\r\n", HeadStatus::Malformed, 0, 0, "", {}},
      {ok + "A: " + std::string(200, 'x') + "\r\n\r\n", HeadStatus::TooLarge, 0, 0, "", {}},
      {ok + "A: " + std::string(200, 'x'), HeadStatus::TooLarge, 0, 0, "", {}},
  };
  for (const auto& c : cases) {
    INFO(c.bytes);
    const ResponseHeadParse parse = parse_response_head(c.bytes, 128);
    REQUIRE(parse.status == c.status);
    if (c.status == HeadStatus::Malformed) CHECK_FALSE(parse.reason.empty());
    if (c.status != HeadStatus::Complete) continue;
    CHECK(parse.consumed == c.consumed);
    CHECK(parse.head.status == c.code);
    CHECK(parse.head.version == c.version);
    CHECK(parse.head.headers == c.headers);
  }
}

TEST_CASE("proxy http: request body framing, smuggling shapes refused", "[proxy]") {
  using Kind = BodyFraming::Kind;
  struct Case {
    HeaderList headers;
    bool ok;
    Kind kind;
    uint64_t length;
  };
  const std::vector<Case> cases = {
      {{}, true, Kind::None, 0},
      {{{"Content-Length", "0"}}, true, Kind::None, 0},
      {{{"content-length", "12"}}, true, Kind::Length, 12},
      {{{"Content-Length", "7, 7"}}, true, Kind::Length, 7},
      {{{"Content-Length", "7"}, {"Content-Length", "7"}}, true, Kind::Length, 7},
      {{{"Transfer-Encoding", "chunked"}}, true, Kind::Chunked, 0},
      {{{"Transfer-Encoding", " Chunked "}}, true, Kind::Chunked, 0},
      {{{"Content-Length", "7"}, {"Content-Length", "8"}}, false, Kind::None, 0},
      {{{"Content-Length", "-1"}}, false, Kind::None, 0},
      {{{"Content-Length", "1e3"}}, false, Kind::None, 0},
      {{{"Content-Length", "99999999999999999999999"}}, false, Kind::None, 0},
      {{{"Transfer-Encoding", "gzip, chunked"}}, false, Kind::None, 0},
      {{{"Transfer-Encoding", "chunked"}, {"Content-Length", "3"}}, false, Kind::None, 0},
      {{{"Content-Length", ""}}, false, Kind::None, 0},
      {{{"Content-Length", " \t"}}, false, Kind::None, 0},
      {{{"Content-Length", ""}, {"Transfer-Encoding", "chunked"}}, false, Kind::None, 0},
  };
  for (const auto& c : cases) {
    INFO((c.headers.empty() ? "" : c.headers.front().first + ": " + c.headers.front().second));
    const auto framing = request_body_framing(c.headers);
    REQUIRE(framing.ok() == c.ok);
    if (!c.ok) continue;
    CHECK(framing->kind == c.kind);
    CHECK(framing->length == c.length);
  }
}

TEST_CASE("proxy http: response framing, keep-alive, continue, heads", "[proxy]") {
  using Kind = BodyFraming::Kind;
  CHECK(response_body_framing(200, {{"Content-Length", "5"}})->kind == Kind::Length);
  CHECK(response_body_framing(200, {{"Transfer-Encoding", "chunked"}})->kind == Kind::Chunked);
  CHECK(response_body_framing(200, {{"Content-Length", "0"}})->kind == Kind::None);
  CHECK(response_body_framing(204, {})->kind == Kind::None);
  CHECK(response_body_framing(304, {{"Content-Length", "9"}})->kind == Kind::None);
  CHECK_FALSE(response_body_framing(200, {}).has_value());  // delimited by close

  struct Alive {
    std::string version;
    HeaderList headers;
    bool keep;
  };
  const std::vector<Alive> alive = {{"HTTP/1.1", {}, true},
                                    {"HTTP/1.1", {{"Connection", "Close"}}, false},
                                    {"HTTP/1.1", {{"Connection", "keep-alive, close"}}, false},
                                    {"HTTP/1.0", {}, false},
                                    {"HTTP/1.0", {{"Connection", "Keep-Alive"}}, true}};
  for (const auto& a : alive) {
    RequestHead head;
    head.version = a.version;
    head.headers = a.headers;
    CHECK(keeps_alive(head) == a.keep);
    ResponseHead answer;
    answer.version = a.version;
    answer.headers = a.headers;
    CHECK(keeps_alive(answer) == a.keep);
  }
  RequestHead expect;
  expect.headers = {{"expect", "100-Continue"}};
  CHECK(expects_continue(expect));
  CHECK_FALSE(expects_continue(RequestHead{}));

  CHECK(
      format_response_head(502, {{"Content-Type", "application/json"}, {"Content-Length", "2"}}) ==
      "HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n");
  CHECK(format_response_head(299, {}) == "HTTP/1.1 299 Unknown\r\n\r\n");
  CHECK(header_has_token({{"Connection", "a, B"}}, "connection", "b"));
  CHECK(find_header({{"A", "1"}, {"a", "2"}}, "a") != nullptr);
  CHECK(*find_header({{"A", "1"}, {"a", "2"}}, "a") == "1");
}

TEST_CASE("proxy http: field lines, line ends, whitespace", "[proxy]") {
  using Field = std::optional<std::pair<std::string, std::string>>;
  const std::vector<std::pair<std::string, Field>> fields = {
      {"Lambda-Runtime-Function-Error-Type: Boom",
       std::make_pair("Lambda-Runtime-Function-Error-Type", "Boom")},
      {"A:\t v w \t", std::make_pair("A", "v w")},
      {"A:", std::make_pair("A", "")},
      {"A: b: c", std::make_pair("A", "b: c")},
      {"no colon", std::nullopt},
      {": v", std::nullopt},
      {"A B: v", std::nullopt},
      {"A : v", std::nullopt},
      {"A: v\rw", std::nullopt},
      {std::string("A: v\0w", 6), std::nullopt},
      {"A: v\x01w", std::make_pair("A", "v\x01w")},  // other controls: the next hop's to judge
  };
  for (const auto& [line, field] : fields) {
    INFO(line);
    CHECK(parse_field_line(line) == field);
  }
  size_t pos = 0;
  const std::string text = "one\r\ntwo\nthree";
  CHECK(next_line(text, pos) == std::string_view("one"));
  CHECK(next_line(text, pos) == std::string_view("two"));
  CHECK(pos == 9);
  CHECK_FALSE(next_line(text, pos).has_value());
  CHECK(pos == 9);
  CHECK(trim_ows(" \t x y\t ") == "x y");
  CHECK(trim_ows(" \t ").empty());
  std::string out = "start\r\n";
  append_field_lines(out, {{"A", "1"}, {"B", ""}});
  CHECK(out == "start\r\nA: 1\r\nB: \r\n");
}
