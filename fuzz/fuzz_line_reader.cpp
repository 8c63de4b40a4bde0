// LineReader (line_reader.hpp): the child's stdout, one JSON message per line, through a real
// pipe. Input: byte 0 → max line size (1–128), byte 1 → write size (1–4096), rest → the bytes
// the child writes. The pipe is in packet mode (O_DIRECT) so every write is read back
// separately: the chunking is part of the input, and runs are reproducible.
// Invariant: the reader's output equals a trivial model (split on '\n'; a segment longer than
// the limit is one TooLong carrying its first max bytes), then Eof, without hanging.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "extension_runner/core/fd.hpp"
#include "extension_runner/runner/line_reader.hpp"
#include "fuzz_check.hpp"

using namespace extension_runner;

namespace {

struct Expected {
  ReadLine::Kind kind;
  std::string text;
};

std::vector<Expected> model(std::string_view bytes, size_t max) {
  std::vector<Expected> out;
  size_t start = 0;
  while (start < bytes.size()) {
    const auto nl = bytes.find('\n', start);
    const size_t end = nl == std::string_view::npos ? bytes.size() : nl;
    const auto segment = bytes.substr(start, end - start);
    if (segment.size() > max) {
      out.push_back({ReadLine::Kind::TooLong, std::string(segment.substr(0, max))});
    } else {
      out.push_back({ReadLine::Kind::Line, std::string(segment)});
    }
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return out;
}

/** Writes `bytes` in `chunk`-sized packets from its own thread, then closes; joins on exit. */
class Writer {
 public:
  Writer(int fd, std::string_view bytes, size_t chunk)
      : thread_([fd, bytes, chunk] {
          for (size_t at = 0; at < bytes.size(); at += chunk) {
            const auto piece = bytes.substr(at, chunk);
            if (!write_all(fd, piece.data(), piece.size())) break;
          }
          ::close(fd);
        }) {}
  ~Writer() { thread_.join(); }

 private:
  std::thread thread_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t max = 1 + data[0] % 128;
  const size_t chunk = 1 + (static_cast<size_t>(data[1]) * 16) % 4096;
  const std::string_view bytes = fuzz::as_text(data + 2, size - 2);

  int fds[2];
  FUZZ_CHECK(::pipe2(fds, O_DIRECT | O_CLOEXEC) == 0);
  std::vector<ReadLine> got;
  {
    Writer writer(fds[1], bytes, chunk);
    LineReader reader(fds[0], max);
    while (true) {
      ReadLine line = reader.next();
      FUZZ_CHECK(line.kind != ReadLine::Kind::Error);
      FUZZ_CHECK(line.kind != ReadLine::Kind::Cancelled);
      // The limit bounds the memory: never more than one read chunk beyond the line limit.
      FUZZ_CHECK(reader.buffered_capacity() <= 4 * (max + 64 * 1024));
      if (line.kind == ReadLine::Kind::Eof) break;
      got.push_back(std::move(line));
      FUZZ_CHECK(got.size() <= bytes.size() + 1);
    }
    FUZZ_CHECK(reader.next().kind == ReadLine::Kind::Eof);  // Eof is sticky
  }
  ::close(fds[0]);

  const auto expected = model(bytes, max);
  FUZZ_CHECK(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    FUZZ_CHECK(got[i].kind == expected[i].kind);
    FUZZ_CHECK(got[i].text == expected[i].text);
    if (got[i].kind == ReadLine::Kind::TooLong) FUZZ_CHECK(got[i].size > max);
    if (got[i].kind == ReadLine::Kind::Line) FUZZ_CHECK(got[i].text.size() <= max);
  }
  return 0;
}
