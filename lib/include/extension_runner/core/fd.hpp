#pragma once
/**
 * @file fd.hpp
 * File descriptors: a move-only owner, close-on-exec pipes, and whole-buffer / whole-line writes
 * (the event lines, telemetry batches and the emulate trace all go through write_line).
 */
#include <cstddef>
#include <string_view>

#include "extension_runner/core/result.hpp"

namespace extension_runner {

/** Move-only owner of one file descriptor; closes it on destruction. */
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

/** A pipe with both ends close-on-exec. */
struct Pipe {
  Fd read;
  Fd write;
};
Result<Pipe> make_pipe();

/** Writes all of `data`, retrying on EINTR/short writes. Io error on failure (e.g. EPIPE). */
Result<void> write_all(int fd, const char* data, size_t size);

/**
 * Writes `line` plus a newline to `fd` under one process-wide lock, so lines written by several
 * threads (event lines, telemetry batches, the emulate trace) never interleave, even when
 * longer than PIPE_BUF.
 */
Result<void> write_line(int fd, std::string_view line);

}  // namespace extension_runner
