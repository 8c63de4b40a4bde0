#pragma once
/**
 * @file line_writer.hpp
 * The writing side of the child's protocol stream (docs/runner-protocol.md): one request line
 * into the child's stdin, bounded by a deadline and never killed by SIGPIPE.
 */
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

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
 * readable. A child that has gone yields Closed whatever the process's signal setup: SIGPIPE
 * is blocked on the calling thread at its first call and *stays blocked* there (blocking and
 * restoring it around each write cost system calls on every request line); after an EPIPE the
 * SIGPIPE that write raised is consumed, unless the thread had SIGPIPE blocked before its
 * first call (then a pending one is not ours to take). Threads started later from such a
 * thread inherit the blocked SIGPIPE; children do not: ChildProcess::spawn empties the signal
 * mask before exec.
 */
WriteOutcome write_line_until(int fd, const std::string& line,
                              std::chrono::steady_clock::time_point deadline, int cancel_fd);

/**
 * write_line_until() for a line given in pieces, written in order with writev (a hook's event
 * goes out from where it lies, between the request's head and tail, uncopied). Empty pieces
 * are skipped; the outcomes are write_line_until()'s.
 */
WriteOutcome write_parts_until(int fd, const std::vector<std::string_view>& parts,
                               std::chrono::steady_clock::time_point deadline, int cancel_fd);

}  // namespace extension_runner
