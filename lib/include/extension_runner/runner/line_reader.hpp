#pragma once
/**
 * @file line_reader.hpp
 * Newline framing over a file descriptor (runner protocol v1: one JSON object per line,
 * docs/runner-protocol.md), with a hard cap on the memory one line may take.
 */
#include <chrono>
#include <cstddef>
#include <string>

namespace extension_runner {

/** One outcome of LineReader::next(). */
struct ReadLine {
  enum class Kind {
    Line,       ///< `text` is a complete line without its `\n` (or the unterminated last line).
    TooLong,    ///< A line exceeded the limit: `text` = its first `max_line_bytes`, `size` = bytes
                ///< seen so far; the rest of it up to the next `\n` is discarded, not retained.
    Eof,        ///< The writer closed its end; every later call returns Eof again.
    Cancelled,  ///< The cancel fd became readable.
    Error,      ///< read/poll failed; `text` says why.
    TimedOut,   ///< next(deadline) only: no complete line by the deadline (partial data kept).
  };
  Kind kind = Kind::Eof;
  std::string text;
  size_t size = 0;
};

/**
 * Reads lines from `fd` (not owned). Handles partial lines and many lines per read; a line
 * longer than `max_line_bytes` is reported once as TooLong, as soon as the limit is crossed,
 * and its remaining bytes are dropped while reading on. Not thread-safe: one reader thread.
 */
class LineReader {
 public:
  /** `cancel_fd` (not owned, -1 = none): when readable, a blocked next() returns Cancelled. */
  LineReader(int fd, size_t max_line_bytes, int cancel_fd = -1);

  /** Blocks until a line, a too-long line, EOF, cancellation or an error. */
  ReadLine next();
  /**
   * As next(), but returns TimedOut once `deadline` passes without an outcome; bytes of a
   * partial line stay buffered for the next call. A past deadline still returns what the
   * buffer and one non-blocking read yield; `time_point::min()` returns what the buffer alone
   * holds, with no system call.
   */
  ReadLine next(std::chrono::steady_clock::time_point deadline);

  /** Bytes of memory the reader currently holds for buffering (for tests of the limit). */
  size_t buffered_capacity() const { return buffer_.capacity(); }

 private:
  /** Reads once into the buffer; Line kind = data or EOF, otherwise the outcome to return. */
  ReadLine fill(std::chrono::steady_clock::time_point deadline);
  void compact();

  int fd_;
  int cancel_fd_;
  size_t max_;
  std::string buffer_;
  size_t head_ = 0;  ///< Start of unconsumed data in buffer_.
  size_t scan_ = 0;  ///< Where to resume looking for '\n' (relative to buffer_ start).
  bool discarding_ = false;
  bool eof_ = false;
};

}  // namespace extension_runner
