#pragma once
/**
 * @file line_writer.hpp
 * The writing side of the child's protocol stream (docs/runner-protocol.md): one request line
 * into the child's stdin, bounded by a deadline and never killed by SIGPIPE.
 */
#include <chrono>
#include <string>

namespace extension_runner {

/** How write_line_until() ended. */
enum class WriteOutcome {
  Ok,         ///< Every byte was written.
  Closed,     ///< The reader closed its end (EPIPE): the child has gone.
  TimedOut,   ///< `deadline` passed with bytes still unwritten.
  Cancelled,  ///< `cancel_fd` became readable.
  Failed,     ///< write or poll failed otherwise.
};

/**
 * Writes all of `line` (the caller adds the newline) to `fd`, which must be non-blocking,
 * waiting in poll() for room until `deadline` and returning early when `cancel_fd` becomes
 * readable. SIGPIPE is blocked for the calling thread meanwhile and a pending one consumed, so
 * a child that has gone yields Closed whatever the process's signal setup.
 */
WriteOutcome write_line_until(int fd, const std::string& line,
                              std::chrono::steady_clock::time_point deadline, int cancel_fd);

}  // namespace extension_runner
