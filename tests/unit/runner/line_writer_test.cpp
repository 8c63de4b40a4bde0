#include "extension_runner/runner/line_writer.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <thread>

#include "extension_runner/core/fd.hpp"

using namespace extension_runner;
using Clock = std::chrono::steady_clock;

namespace {

Pipe nonblocking_pipe() {
  auto p = make_pipe();
  REQUIRE(p.ok());
  ::fcntl(p->write.get(), F_SETFL, ::fcntl(p->write.get(), F_GETFL) | O_NONBLOCK);
  return std::move(*p);
}

std::string read_some(const Fd& fd, size_t n) {
  std::string out(n, '\0');
  const ssize_t got = ::read(fd.get(), out.data(), n);
  out.resize(got > 0 ? static_cast<size_t>(got) : 0);
  return out;
}

}  // namespace

TEST_CASE("line writer: each way a write can end") {
  auto cancel = make_pipe();
  REQUIRE(cancel.ok());
  const auto soon = Clock::now() + std::chrono::milliseconds(50);

  SECTION("the whole line is written") {
    Pipe p = nonblocking_pipe();
    CHECK(write_line_until(p.write.get(), "hello\n", soon, cancel->read.get()) == WriteOutcome::Ok);
    CHECK(read_some(p.read, 64) == "hello\n");
  }
  SECTION("a reader that has gone is Closed, not a SIGPIPE") {
    Pipe p = nonblocking_pipe();
    p.read.reset();
    CHECK(write_line_until(p.write.get(), "x\n", soon, cancel->read.get()) == WriteOutcome::Closed);
    sigset_t pending;
    sigpending(&pending);
    CHECK(sigismember(&pending, SIGPIPE) == 0);  // consumed, not left for the thread
  }
  SECTION("a reader that does not read leaves the line unwritten at the deadline") {
    Pipe p = nonblocking_pipe();
    const std::string big(size_t{1} << 20, 'x');  // more than a pipe holds
    CHECK(write_line_until(p.write.get(), big, soon, cancel->read.get()) == WriteOutcome::TimedOut);
  }
  SECTION("a readable cancel fd ends a blocked write") {
    Pipe p = nonblocking_pipe();
    REQUIRE(write_all(cancel->write.get(), "x", 1).ok());
    const std::string big(size_t{1} << 20, 'x');
    const auto far = Clock::now() + std::chrono::seconds(60);
    CHECK(write_line_until(p.write.get(), big, far, cancel->read.get()) == WriteOutcome::Cancelled);
  }
  SECTION("a descriptor that is not open for writing fails") {
    Pipe p = nonblocking_pipe();
    CHECK(write_line_until(p.read.get(), "x\n", soon, cancel->read.get()) == WriteOutcome::Failed);
  }
}

TEST_CASE("line writer: a line in pieces arrives whole and in order, across partial writes") {
  auto cancel = make_pipe();
  REQUIRE(cancel.ok());
  Pipe p = nonblocking_pipe();
  // A middle piece several times a pipe's capacity: writev stops part-way through pieces, and
  // the writer must resume exactly where it stopped.
  const std::string head = "{\"head\":1,";
  const std::string middle(size_t{300} * 1024 + 7, 'm');
  const std::string tail = "\"tail\":2}\n";
  const std::string expected = head + middle + tail;
  std::string received;
  std::thread reader([&] {
    while (received.size() < expected.size()) {
      const std::string got = read_some(p.read, 4096);
      if (got.empty()) break;
      received += got;
    }
  });
  const auto far = Clock::now() + std::chrono::seconds(60);
  CHECK(write_parts_until(p.write.get(), {head, "", middle, tail}, far, cancel->read.get()) ==
        WriteOutcome::Ok);
  p.write.reset();  // the reader ends at EOF even if the write stopped short
  reader.join();
  CHECK(received.size() == expected.size());
  CHECK(received == expected);
}

TEST_CASE("line writer: SIGPIPE stays blocked on the writing thread; EPIPE leaves none pending") {
  // On a thread of its own: the mask it leaves behind must not leak into other tests.
  std::thread writer([] {
    auto cancel = make_pipe();
    REQUIRE(cancel.ok());
    const auto soon = Clock::now() + std::chrono::milliseconds(50);
    // A thread starts with its creator's mask, and an earlier test in this process may have
    // written lines on the main thread (which keeps SIGPIPE blocked there): start unblocked.
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGPIPE);
    pthread_sigmask(SIG_UNBLOCK, &mask, nullptr);
    pthread_sigmask(SIG_SETMASK, nullptr, &mask);
    REQUIRE(sigismember(&mask, SIGPIPE) == 0);
    Pipe open_pipe = nonblocking_pipe();
    CHECK(write_line_until(open_pipe.write.get(), "a\n", soon, cancel->read.get()) ==
          WriteOutcome::Ok);
    pthread_sigmask(SIG_SETMASK, nullptr, &mask);
    CHECK(sigismember(&mask, SIGPIPE) == 1);  // kept blocked: no mask calls per line
    for (int i = 0; i < 2; ++i) {             // again once blocked: each EPIPE's signal is consumed
      Pipe closed = nonblocking_pipe();
      closed.read.reset();
      CHECK(write_line_until(closed.write.get(), "x\n", soon, cancel->read.get()) ==
            WriteOutcome::Closed);
      sigset_t pending;
      sigpending(&pending);
      CHECK(sigismember(&pending, SIGPIPE) == 0);
    }
  });
  writer.join();
}

TEST_CASE("line writer: a SIGPIPE blocked before the first write is not ours to consume") {
  std::thread writer([] {
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
    auto cancel = make_pipe();
    REQUIRE(cancel.ok());
    Pipe closed = nonblocking_pipe();
    closed.read.reset();
    CHECK(write_line_until(closed.write.get(), "x\n", Clock::now() + std::chrono::milliseconds(50),
                           cancel->read.get()) == WriteOutcome::Closed);
    sigset_t pending;
    sigpending(&pending);
    CHECK(sigismember(&pending, SIGPIPE) == 1);  // left for whoever blocked it
    timespec zero{0, 0};
    sigtimedwait(&pipe_set, nullptr, &zero);  // this thread's own clean-up
  });
  writer.join();
}
