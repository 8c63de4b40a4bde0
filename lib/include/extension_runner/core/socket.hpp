#pragma once
/**
 * @file socket.hpp
 * What the process's own sockets are bound to, for servers that do not hand theirs out
 * (cpp-httplib gives neither its listening socket nor a handler's connection).
 */
#include <vector>

namespace extension_runner {

/** The descriptors this process has open (read from /proc/self/fd); empty without /proc. */
std::vector<int> open_fds();

/** Whether `fd` is a listening socket. */
bool is_listening(int fd);

/** The local port `fd` is bound to (IPv4 or IPv6); -1 when it is no bound inet socket. */
int local_port(int fd);

/** The port of `fd`'s peer (IPv4 or IPv6); -1 when it is no connected inet socket. */
int peer_port(int fd);

}  // namespace extension_runner
