#include "extension_runner/runner/line_reader.hpp"

#include <catch2/catch.hpp>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "extension_runner/core/fd.hpp"

using namespace extension_runner;
using Kind = ReadLine::Kind;

namespace {
Pipe pipe_or_fail() {
  auto p = make_pipe();
  REQUIRE(p.ok());
  return std::move(*p);
}

void put(const Fd& fd, const std::string& data) {
  REQUIRE(write_all(fd.get(), data.data(), data.size()).ok());
}

struct Expected {
  Kind kind;
  std::string text;
};
}  // namespace

TEST_CASE("line reader: framing of complete, empty, unterminated and too-long lines") {
  struct Case {
    const char* what;
    std::string input;
    size_t max;
    std::vector<Expected> expected;
  };
  const std::vector<Case> cases = {
      {"several lines in one read",
       "a\nbb\n\nccc\n",
       100,
       {{Kind::Line, "a"},
        {Kind::Line, "bb"},
        {Kind::Line, ""},
        {Kind::Line, "ccc"},
        {Kind::Eof, ""}}},
      {"unterminated last line is still delivered",
       "x\ny",
       100,
       {{Kind::Line, "x"}, {Kind::Line, "y"}, {Kind::Eof, ""}}},
      {"a line of exactly the limit is fine",
       "0123456789\n",
       10,
       {{Kind::Line, "0123456789"}, {Kind::Eof, ""}}},
      {"one byte over the limit is TooLong, then framing resumes",
       "0123456789A\nok\n",
       10,
       {{Kind::TooLong, "0123456789"}, {Kind::Line, "ok"}, {Kind::Eof, ""}}},
      {"too long and unterminated at EOF",
       "ok\n0123456789ABC",
       10,
       {{Kind::Line, "ok"}, {Kind::TooLong, "0123456789"}, {Kind::Eof, ""}}},
      {"no input at all", "", 10, {{Kind::Eof, ""}, {Kind::Eof, ""}}},
      {"JSON text is not interpreted",
       "{\"a\":\"b\\nc\"}\n",
       100,
       {{Kind::Line, "{\"a\":\"b\\nc\"}"}, {Kind::Eof, ""}}},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    Pipe p = pipe_or_fail();
    put(p.write, c.input);
    p.write.reset();
    LineReader reader(p.read.get(), c.max);
    for (const auto& e : c.expected) {
      const ReadLine got = reader.next();
      CHECK(got.kind == e.kind);
      CHECK(got.text == e.text);
    }
  }
}

TEST_CASE("line reader: a line split across writes is joined") {
  Pipe p = pipe_or_fail();
  LineReader reader(p.read.get(), 100);
  put(p.write, "hel");
  auto first = std::async(std::launch::async, [&] { return reader.next(); });
  put(p.write, "lo\nwor");
  const ReadLine hello = first.get();
  CHECK(hello.kind == Kind::Line);
  CHECK(hello.text == "hello");
  put(p.write, "ld\n");
  CHECK(reader.next().text == "world");
}

TEST_CASE("line reader: a huge line is reported early and its bytes are not retained") {
  constexpr size_t kMax = 64 * 1024;
  constexpr size_t kHuge = 8 * 1024 * 1024;
  Pipe p = pipe_or_fail();
  LineReader reader(p.read.get(), kMax);
  std::thread writer([fd = p.write.get()] {
    const std::string block(kHuge, 'x');
    (void)write_all(fd, block.data(), block.size());
    const std::string tail = "\nnext\n";
    (void)write_all(fd, tail.data(), tail.size());
  });
  const ReadLine big = reader.next();
  CHECK(big.kind == Kind::TooLong);
  CHECK(big.text.size() == kMax);
  CHECK(big.size > kMax);
  // While the rest of the line streams past, the reader holds about one read's worth.
  const ReadLine next = reader.next();
  CHECK(next.kind == Kind::Line);
  CHECK(next.text == "next");
  CHECK(reader.buffered_capacity() <= 4 * kMax);
  writer.join();
  p.write.reset();
  CHECK(reader.next().kind == Kind::Eof);
}

TEST_CASE("line reader: the cancel fd unblocks a waiting reader") {
  Pipe data = pipe_or_fail();
  Pipe cancel = pipe_or_fail();
  LineReader reader(data.read.get(), 100, cancel.read.get());
  auto waiting = std::async(std::launch::async, [&] { return reader.next(); });
  put(cancel.write, "x");
  CHECK(waiting.get().kind == Kind::Cancelled);
}

TEST_CASE("line reader: next(deadline) times out, keeps a partial line, then completes it") {
  Pipe p = pipe_or_fail();
  LineReader reader(p.read.get(), 100);
  const auto past = std::chrono::steady_clock::now();
  CHECK(reader.next(past).kind == Kind::TimedOut);  // nothing yet: a past deadline polls once
  put(p.write, "par");
  CHECK(reader.next(past).kind == Kind::TimedOut);  // "par" is no line yet
  put(p.write, "tial\nready\n");
  const ReadLine first = reader.next(past);
  CHECK(first.kind == Kind::Line);
  CHECK(first.text == "partial");
  const ReadLine second = reader.next(std::chrono::steady_clock::now() + std::chrono::seconds(20));
  CHECK(second.kind == Kind::Line);
  CHECK(second.text == "ready");
  p.write.reset();
  CHECK(reader.next(past).kind == Kind::Eof);
}

TEST_CASE("line reader: next(time_point::min()) returns only what is buffered, reading nothing") {
  Pipe p = pipe_or_fail();
  LineReader reader(p.read.get(), 100);
  const auto buffered_only = std::chrono::steady_clock::time_point::min();
  put(p.write, "one\ntwo\n");
  CHECK(reader.next(buffered_only).kind == Kind::TimedOut);  // in the pipe, not read yet
  const ReadLine first = reader.next(std::chrono::steady_clock::now());
  CHECK(first.kind == Kind::Line);
  CHECK(first.text == "one");
  const ReadLine second = reader.next(buffered_only);  // came with the same read
  CHECK(second.kind == Kind::Line);
  CHECK(second.text == "two");
  put(p.write, "three\n");
  CHECK(reader.next(buffered_only).kind == Kind::TimedOut);
  const ReadLine third = reader.next(std::chrono::steady_clock::now());
  CHECK(third.kind == Kind::Line);
  CHECK(third.text == "three");
}
