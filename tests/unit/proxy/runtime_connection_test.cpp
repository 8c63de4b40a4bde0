// The runtime's side of a proxy connection, over a socket pair: bodies as the runtime's writes
// happen to arrive.
#include "extension_runner/proxy/runtime_connection.hpp"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <vector>

using namespace extension_runner;

namespace {

/** Waits until the peer has read everything written to `writer` (its receive queue is empty). */
void await_drained(int reader_peer) {
  int queued = 1;
  while (queued > 0) {
    REQUIRE(::ioctl(reader_peer, FIONREAD, &queued) == 0);
    if (queued > 0) std::this_thread::yield();
  }
}

}  // namespace

TEST_CASE("proxy runtime connection: chunk data that fills a fresh buffer is read intact",
          "[proxy]") {
  // Each piece is written only once the connection has read the one before, so a chunk's data
  // arrives alone at the start of an emptied buffer: the case where the buffer is cleared by the
  // same step that hands the data out.
  const std::string head =
      "POST /2018-06-01/runtime/invocation/r1/response HTTP/1.1\r\nHost: x\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  const std::vector<std::string> pieces = {head,    "5\r\n",  "hello",        "\r\n",
                                           "6\r\n", " world", "\r\n0\r\n\r\n"};
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  Fd writer(fds[1]);
  RuntimeConnection connection{Fd(fds[0])};
  std::string body;
  bool ended = false;
  std::thread reader([&] {
    auto head = connection.read_head();
    if (!head.ok() || !*head || !connection.start_body(**head).ok()) return;
    char out[64];
    while (true) {
      auto n = connection.read_body(out, sizeof out);
      if (!n.ok()) return;
      if (n.value() == 0) break;
      body.append(out, n.value());
    }
    ended = true;
  });
  for (const auto& piece : pieces) {
    REQUIRE(::send(writer.get(), piece.data(), piece.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(piece.size()));
    await_drained(fds[0]);
  }
  reader.join();
  CHECK(ended);
  CHECK(body == "hello world");
}
