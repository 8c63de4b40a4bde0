#include "extension_runner/proxy/chunked.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace extension_runner;

namespace {

struct Decoded {
  ChunkStatus end = ChunkStatus::NeedMore;
  std::string body;
  HeaderList trailers;
  size_t left = 0;  // input bytes after the body
};

/**
 * Feeds `wire` to a decoder in pieces of `piece` bytes (as reads from a socket would), keeping
 * unconsumed bytes like the connection's buffer does, with at most `max_data` per Data step.
 */
Decoded decode(const std::string& wire, size_t piece, size_t max_data = SIZE_MAX) {
  ChunkedDecoder decoder(128);
  Decoded out;
  std::string pending;
  size_t fed = 0;
  while (true) {
    const ChunkStep step = decoder.step(pending, max_data);
    out.body.append(step.data);  // a view into `pending`: taken before erasing
    pending.erase(0, step.consumed);
    if (step.status == ChunkStatus::Data) continue;
    if (step.status != ChunkStatus::NeedMore || fed == wire.size()) {
      out.end = step.status;
      out.trailers = decoder.trailers();
      out.left = pending.size() + wire.size() - fed;
      return out;
    }
    pending += wire.substr(fed, piece);
    fed = std::min(wire.size(), fed + piece);
  }
}

}  // namespace

TEST_CASE("proxy chunked: decoding, at every split point", "[proxy]") {
  struct Case {
    const char* what;
    std::string wire;
    ChunkStatus end;
    std::string body;
    HeaderList trailers;
    size_t left;
  };
  const std::string nul8("\0\0\0\0\0\0\0\0", 8);
  const std::vector<Case> cases = {
      {"two chunks",
       "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
       ChunkStatus::Done,
       "hello world",
       {},
       0},
      {"Lambda's error trailers",
       "3\r\nabc\r\n0\r\nLambda-Runtime-Function-Error-Type: Boom\r\n"
       "Lambda-Runtime-Function-Error-Body: e30=\r\n\r\n",
       ChunkStatus::Done,
       "abc",
       {{"Lambda-Runtime-Function-Error-Type", "Boom"},
        {"Lambda-Runtime-Function-Error-Body", "e30="}},
       0},
      {"binary data with NULs (an http-integration prelude)",
       "c\r\n{\"a\":1}" + nul8.substr(0, 5) + "\r\n3\r\n" + nul8.substr(0, 3) + "\r\n0\r\n\r\n",
       ChunkStatus::Done,
       "{\"a\":1}" + nul8,
       {},
       0},
      {"extensions, upper-case hex, bare LF",
       "A;name=v\nabcdefghij\n0\n\n",
       ChunkStatus::Done,
       "abcdefghij",
       {},
       0},
      {"the next request stays unread", "1\r\nx\r\n0\r\n\r\nGET /", ChunkStatus::Done, "x", {}, 5},
      {"cut off in a chunk", "5\r\nhel", ChunkStatus::NeedMore, "hel", {}, 0},
      {"cut off in the trailers", "0\r\nA: 1\r\n", ChunkStatus::NeedMore, "", {}, 0},
      {"not hex", "zz\r\n", ChunkStatus::Malformed, "", {}, 0},
      {"empty size", "\r\n", ChunkStatus::Malformed, "", {}, 0},
      {"data longer than its size", "2\r\nabc\r\n", ChunkStatus::Malformed, "ab", {}, 0},
      {"trailer without colon", "0\r\nnocolon\r\n\r\n", ChunkStatus::Malformed, "", {}, 0},
      {"trailer value with a CR", "0\r\nA: 1\r2\r\n\r\n", ChunkStatus::Malformed, "", {}, 0},
      {"trailers over the limit",
       "0\r\nA: " + std::string(200, 'x') + "\r\n\r\n",
       ChunkStatus::Malformed,
       "",
       {},
       0},
      {"size beyond 64 bits", "fffffffffffffffff\r\n", ChunkStatus::Malformed, "", {}, 0},
      // Over 4 KiB whether it came whole or in pieces: framing must not depend on the reads.
      {"a size line over 4 KiB",
       std::string(5000, '0') + "1\r\na\r\n0\r\n\r\n",
       ChunkStatus::Malformed,
       "",
       {},
       0},
  };
  for (const auto& c : cases) {
    for (size_t piece = 1; piece <= c.wire.size(); ++piece) {
      INFO(c.what << ", pieces of " << piece);
      const Decoded d = decode(c.wire, piece);
      REQUIRE(d.end == c.end);
      CHECK(d.body == c.body);
      if (c.end == ChunkStatus::Done) {
        CHECK(d.trailers == c.trailers);
        CHECK(d.left == c.left);
      }
    }
  }
}

TEST_CASE("proxy chunked: data steps never exceed the caller's room", "[proxy]") {
  const std::string wire = "10\r\n0123456789abcdef\r\n0\r\n\r\n";
  for (size_t room : {1, 3, 7, 16}) {
    INFO(room);
    ChunkedDecoder decoder;
    std::string pending = wire;
    std::string body;
    ChunkStep step;
    do {
      step = decoder.step(pending, room);
      CHECK(step.data.size() <= room);
      body.append(step.data);
      pending.erase(0, step.consumed);
    } while (step.status == ChunkStatus::Data);
    CHECK(step.status == ChunkStatus::Done);
    CHECK(body == "0123456789abcdef");
    CHECK(decoder.body_bytes() == 16);
  }
}

TEST_CASE("proxy chunked: framing strings", "[proxy]") {
  CHECK(chunk_size_line(1) == "1\r\n");
  CHECK(chunk_size_line(255) == "ff\r\n");
  CHECK(chunk_size_line(65536) == "10000\r\n");
  CHECK(last_chunk({}) == "0\r\n\r\n");
  CHECK(last_chunk({{"Lambda-Runtime-Function-Error-Type", "X"}}) ==
        "0\r\nLambda-Runtime-Function-Error-Type: X\r\n\r\n");
  // What the encoder writes, the decoder reads back.
  const std::string wire = chunk_size_line(3) + "abc\r\n" + last_chunk({{"T", "v"}});
  const Decoded d = decode(wire, wire.size());
  CHECK(d.end == ChunkStatus::Done);
  CHECK(d.body == "abc");
  CHECK(d.trailers == HeaderList{{"T", "v"}});
}
