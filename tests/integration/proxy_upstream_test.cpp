// The proxy's client towards the Runtime API (proxy/upstream.hpp) against a scripted platform on
// 127.0.0.1: how requests go out, how each kind of answer comes back, and what a connection
// that closes, resets or speaks something else becomes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "extension_runner/proxy/upstream.hpp"
#include "proxy_fakes.hpp"

using namespace extension_runner;
using proxy_fakes::parse_message;
using proxy_fakes::RawMessage;

namespace {

/** What one accepted connection does: read requests and answer, as the case scripts it. */
using Script = std::function<void(int fd)>;

/**
 * A platform on 127.0.0.1 port 0 that runs scripts[i] on the i-th connection it accepts, and
 * records every request it read whole.
 */
class ScriptedPlatform {
 public:
  explicit ScriptedPlatform(std::vector<Script> scripts) : scripts_(std::move(scripts)) {
    listener_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    REQUIRE(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(listener_.get(), 8) == 0);
    socklen_t len = sizeof a;
    ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedPlatform() {
    ::shutdown(listener_.get(), SHUT_RDWR);
    thread_.join();
  }
  HostPort address() const { return {"127.0.0.1", port_}; }
  size_t accepted() const { return accepted_; }

 private:
  void serve() {
    for (const Script& script : scripts_) {
      Fd connection(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!connection.valid()) return;
      ++accepted_;
      script(connection.get());
    }
  }

  std::vector<Script> scripts_;
  Fd listener_;
  uint16_t port_ = 0;
  std::atomic<size_t> accepted_{0};
  std::thread thread_;
};

/** Reads one whole request off `fd` (nothing is left over: the client sends one at a time). */
RawMessage read_request(int fd) {
  std::string bytes;
  char piece[64 * 1024];
  while (!parse_message(bytes).complete) {
    const ssize_t n = ::recv(fd, piece, sizeof piece, 0);
    if (n <= 0) return {};
    bytes.append(piece, static_cast<size_t>(n));
  }
  return parse_message(bytes);
}

void send_text(int fd, const std::string& text) {
  REQUIRE(::send(fd, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size()));
}

/** Answers `count` requests on the connection with `answer`, recording each, then returns. */
Script answer_each(std::string answer, std::vector<RawMessage>* seen = nullptr, int count = 1) {
  return [answer = std::move(answer), seen, count](int fd) {
    for (int i = 0; i < count; ++i) {
      RawMessage request = read_request(fd);
      if (!request.complete) return;
      if (seen != nullptr) seen->push_back(request);
      send_text(fd, answer);
    }
  };
}

const std::string kOk = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

class Collected : public ResponseSink {
 public:
  bool on_head(int s, HeaderList h) override {
    status = s;
    headers = std::move(h);
    return true;
  }
  bool on_body(std::string_view data) override {
    body.append(data);
    return true;
  }
  int status = 0;
  HeaderList headers;
  std::string body;
};

/** A body handed out in pieces, with trailers after it. */
class PiecesSource : public BodySource {
 public:
  PiecesSource(std::vector<std::string> pieces, HeaderList trailers)
      : pieces_(std::move(pieces)), trailers_(std::move(trailers)) {}
  Result<size_t> read(char* out, size_t capacity) override {
    if (next_ == pieces_.size()) return size_t{0};
    const std::string& piece = pieces_[next_++];
    REQUIRE(piece.size() <= capacity);
    std::copy(piece.begin(), piece.end(), out);
    return piece.size();
  }
  HeaderList trailers() override { return trailers_; }

 private:
  std::vector<std::string> pieces_;
  HeaderList trailers_;
  size_t next_ = 0;
};

UpstreamRequest get_next() {
  UpstreamRequest request;
  request.target = "/2018-06-01/runtime/invocation/next";
  request.headers = {{"User-Agent", "rt/1"}};
  return request;
}

}  // namespace

TEST_CASE("proxy upstream: each kind of answer reaches the sink whole", "[proxy]") {
  struct Case {
    std::string name;
    std::string answer;
    int status;
    std::string body;
  };
  const std::vector<Case> cases = {
      {"Content-Length", kOk, 200, "hello"},
      {"chunked, with trailer fields (not relayed)",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-T: "
       "1\r\n\r\n",
       200, "abcde"},
      {"an interim 100 Continue first", "HTTP/1.1 100 Continue\r\n\r\n" + kOk, 200, "hello"},
      {"no body (204)", "HTTP/1.1 204 No Content\r\n\r\n", 204, ""},
      {"the platform's error status",
       "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 17\r\n\r\n{\"errorType\":\"x\"}", 413,
       "{\"errorType\":\"x\"}"},
      {"delimited by close", "HTTP/1.1 200 OK\r\n\r\nuntil the end", 200, "until the end"},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      ScriptedPlatform platform({[&](int fd) {
        REQUIRE(read_request(fd).complete);
        send_text(fd, c.answer);
        if (c.name == "delimited by close") ::shutdown(fd, SHUT_WR);
      }});
      UpstreamClient client(platform.address(), 1000);
      Collected sink;
      REQUIRE(client.exchange(get_next(), sink).ok());
      CHECK(sink.status == c.status);
      CHECK(sink.body == c.body);
    }
  }
}

TEST_CASE("proxy upstream: requests go out with Host, the fields and their framing", "[proxy]") {
  std::vector<RawMessage> seen;
  ScriptedPlatform platform({answer_each(kOk, &seen, 4)});
  UpstreamClient client(platform.address(), 1000);
  Collected sink;

  REQUIRE(client.exchange(get_next(), sink).ok());
  UpstreamRequest post;
  post.method = "POST";
  post.target = "/2018-06-01/runtime/invocation/r1/response";
  post.headers = {{"Content-Type", "application/json"}};
  post.body = UpstreamRequest::Body::Buffered;
  post.buffered = "{\"a\":1}";
  REQUIRE(client.exchange(post, sink).ok());

  const std::string trailer_names = "Lambda-Runtime-Function-Error-Type";
  PiecesSource pieces({"ab", "cde"}, {{"Lambda-Runtime-Function-Error-Type", "E"}});
  UpstreamRequest streamed = post;
  streamed.body = UpstreamRequest::Body::Streamed;
  streamed.source = &pieces;
  streamed.announced_trailers = &trailer_names;
  REQUIRE(client.exchange(streamed, sink).ok());

  UpstreamRequest empty = post;
  empty.body = UpstreamRequest::Body::None;
  REQUIRE(client.exchange(empty, sink).ok());

  REQUIRE(seen.size() == 4);
  const std::string host = platform.address().to_string();
  CHECK(seen[0].start_line == "GET /2018-06-01/runtime/invocation/next HTTP/1.1");
  CHECK(seen[0].headers == HeaderList{{"Host", host}, {"User-Agent", "rt/1"}});
  CHECK(seen[1].start_line == "POST /2018-06-01/runtime/invocation/r1/response HTTP/1.1");
  CHECK(seen[1].headers ==
        HeaderList{{"Host", host}, {"Content-Type", "application/json"}, {"Content-Length", "7"}});
  CHECK(seen[1].body == "{\"a\":1}");
  CHECK(seen[2].header("Transfer-Encoding") == "chunked");
  CHECK(seen[2].header("Trailer") == trailer_names);
  CHECK_FALSE(seen[2].has("Content-Length"));
  CHECK(seen[2].body == "abcde");
  CHECK(seen[2].trailers == HeaderList{{"Lambda-Runtime-Function-Error-Type", "E"}});
  CHECK(seen[3].header("Content-Length") == "0");
  CHECK(platform.accepted() == 1);  // all four on one kept connection
}

TEST_CASE("proxy upstream: a connection the platform closes is replaced", "[proxy]") {
  auto answer_then_close = [](int fd) {
    REQUIRE(read_request(fd).complete);
    send_text(fd, kOk);
  };
  SECTION("after Connection: close") {
    ScriptedPlatform platform(
        {answer_each("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"),
         answer_each(kOk)});
    UpstreamClient client(platform.address(), 1000);
    Collected first, second;
    REQUIRE(client.exchange(get_next(), first).ok());
    REQUIRE(client.exchange(get_next(), second).ok());
    CHECK(second.body == "hello");
    CHECK(platform.accepted() == 2);
  }
  SECTION("closed while idle, without a word: sent again on a fresh connection") {
    ScriptedPlatform platform({answer_then_close, answer_each(kOk)});
    UpstreamClient client(platform.address(), 1000);
    Collected first, second;
    REQUIRE(client.exchange(get_next(), first).ok());
    REQUIRE(client.exchange(get_next(), second).ok());
    CHECK(second.status == 200);
    CHECK(platform.accepted() == 2);
  }
}

TEST_CASE("proxy upstream: an early answer while the body is still going out", "[proxy]") {
  // The platform answers 413 after the head and closes without reading the rest (Go's net/http
  // does so past 256 KiB); the client relays the 413 instead of failing on the broken upload.
  ScriptedPlatform platform({[](int fd) {
    char head[4096];
    REQUIRE(::recv(fd, head, sizeof head, 0) > 0);
    send_text(fd,
              "HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}");
    ::shutdown(fd, SHUT_WR);
    // Unread bytes at close make the kernel reset the connection, as a server that gave up does.
  }});
  UpstreamClient client(platform.address(), 1000);
  const std::string big(16 * 1024 * 1024, 'x');
  UpstreamRequest post;
  post.method = "POST";
  post.target = "/2018-06-01/runtime/invocation/r1/response";
  post.body = UpstreamRequest::Body::Buffered;
  post.buffered = big;
  Collected sink;
  REQUIRE(client.exchange(post, sink).ok());
  CHECK(sink.status == 413);
  CHECK(sink.body == "{}");
}

TEST_CASE("proxy upstream: each way the platform can fail is named", "[proxy]") {
  struct Case {
    std::string name;
    Script script;
    std::string words;
  };
  const std::vector<Case> cases = {
      {"closes at once", [](int fd) { (void)read_request(fd); },
       "the connection closed without an answer"},
      {"closes in the middle",
       [](int fd) {
         (void)read_request(fd);
         send_text(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
       },
       "the connection closed in the middle of the answer"},
      {"speaks something else",
       [](int fd) {
         (void)read_request(fd);
         send_text(fd, "SSH-2.0-OpenSSH_9.2\r\n\r\n");
       },
       "the answer is not HTTP/1.1 (an invalid status line)"},
      {"a broken chunked body",
       [](int fd) {
         (void)read_request(fd);
         send_text(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
       },
       "the answer's chunked body is malformed"},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      ScriptedPlatform platform({c.script});
      UpstreamClient client(platform.address(), 1000);
      Collected sink;
      auto done = client.exchange(get_next(), sink);
      REQUIRE_FALSE(done.ok());
      CHECK(done.error().kind == ErrorKind::ApiUnreachable);
      CHECK_THAT(done.error().message,
                 Catch::StartsWith("GET http://" + platform.address().to_string() +
                                   "/2018-06-01/runtime/invocation/next: ") &&
                     Catch::Contains(c.words));
    }
  }
  SECTION("nothing listens") {
    HostPort closed;
    {
      ScriptedPlatform gone({});
      closed = gone.address();
    }
    UpstreamClient client(closed, 1000);
    Collected sink;
    auto done = client.exchange(get_next(), sink);
    REQUIRE_FALSE(done.ok());
    CHECK_THAT(done.error().message, Catch::EndsWith("connection refused (errno 111)"));
  }
}

TEST_CASE("proxy upstream: cancel() ends an exchange blocked in /next", "[proxy]") {
  std::atomic<bool> reading{false};
  ScriptedPlatform platform({[&](int fd) {
    (void)read_request(fd);
    reading = true;
    char byte;
    (void)::recv(fd, &byte, 1, 0);  // held until the client's side closes
  }});
  UpstreamClient client(platform.address(), 1000);
  std::thread canceller([&] {
    while (!reading) std::this_thread::yield();
    client.cancel();
  });
  Collected sink;
  auto done = client.exchange(get_next(), sink);
  canceller.join();
  REQUIRE_FALSE(done.ok());
  CHECK(done.error().kind == ErrorKind::Cancelled);
  CHECK(client.exchange(get_next(), sink).error().kind == ErrorKind::Cancelled);
}
