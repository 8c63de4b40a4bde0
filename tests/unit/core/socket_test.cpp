#include "extension_runner/core/socket.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <catch2/catch.hpp>

#include "extension_runner/core/fd.hpp"

using namespace extension_runner;

namespace {

sockaddr_in loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

bool holds(const std::vector<int>& fds, int fd) {
  return std::find(fds.begin(), fds.end(), fd) != fds.end();
}

}  // namespace

TEST_CASE("socket: ports and state of the process's own sockets, found among its fds") {
  Fd server(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(server.valid());
  const sockaddr_in any_port = loopback(0);
  REQUIRE(::bind(server.get(), reinterpret_cast<const sockaddr*>(&any_port), sizeof any_port) == 0);
  CHECK_FALSE(is_listening(server.get()));
  REQUIRE(::listen(server.get(), 4) == 0);
  const int port = local_port(server.get());
  REQUIRE(port > 0);
  CHECK(is_listening(server.get()));
  CHECK(peer_port(server.get()) == -1);

  Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const sockaddr_in to_server = loopback(port);
  REQUIRE(::connect(client.get(), reinterpret_cast<const sockaddr*>(&to_server),
                    sizeof to_server) == 0);
  Fd accepted(::accept4(server.get(), nullptr, nullptr, SOCK_CLOEXEC));
  REQUIRE(accepted.valid());
  CHECK(peer_port(client.get()) == port);
  CHECK(local_port(accepted.get()) == port);
  CHECK(peer_port(accepted.get()) == local_port(client.get()));
  CHECK_FALSE(is_listening(accepted.get()));

  const auto fds = open_fds();
  CHECK(holds(fds, server.get()));
  CHECK(holds(fds, client.get()));
  CHECK(holds(fds, accepted.get()));

  auto pipe = make_pipe();
  REQUIRE(pipe.ok());
  CHECK(local_port(pipe->read.get()) == -1);
  CHECK(peer_port(pipe->read.get()) == -1);
  CHECK_FALSE(is_listening(pipe->read.get()));
}
