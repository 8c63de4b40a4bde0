// ChunkedDecoder, chunk_size_line, last_chunk (proxy/chunked.hpp): a chunked body as the runtime
// streams a response through the proxy, or as the Runtime API answers.
// Invariants: the body decodes to the same data, trailers and verdict whether the bytes come
// all at once or in pieces, with any room for data per step (framing never depends on how the
// reads fell); no Data step is empty or larger than its room; body_bytes() counts what was
// handed out; trailer names are tokens and values hold no CR, LF or NUL; a decoded body written
// again as one chunk and a last chunk decodes back to the same data and trailers.
#include <string>

#include "extension_runner/proxy/chunked.hpp"
#include "fuzz_check.hpp"

using namespace extension_runner;

namespace {

struct Decoded {
  ChunkStatus end = ChunkStatus::NeedMore;  ///< Done, Malformed, or NeedMore: input ran out.
  std::string data;
  HeaderList trailers;
};

constexpr size_t kMaxTrailers = 1024;

Decoded decode(std::string_view bytes, size_t piece, size_t room,
               size_t max_trailers = kMaxTrailers) {
  ChunkedDecoder decoder(max_trailers);
  Decoded out;
  std::string pending;
  size_t fed = 0;
  while (out.end == ChunkStatus::NeedMore && fed < bytes.size()) {
    const size_t n = std::min(piece, bytes.size() - fed);
    pending.append(bytes.substr(fed, n));
    fed += n;
    while (true) {
      const ChunkStep step = decoder.step(pending, room);
      FUZZ_CHECK(step.consumed <= pending.size());
      if (step.status == ChunkStatus::Data) {
        FUZZ_CHECK(!step.data.empty() && step.data.size() <= room);
        out.data.append(step.data);
      }
      pending.erase(0, step.consumed);
      if (step.status == ChunkStatus::Data) continue;
      out.end = step.status;
      break;
    }
  }
  FUZZ_CHECK(decoder.body_bytes() == out.data.size());
  if (out.end == ChunkStatus::Done) out.trailers = decoder.trailers();
  return out;
}

}  // namespace

// Byte 0: the piece size (1-64); byte 1: the room for data per step (1-256); the rest: the body.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t piece = 1 + data[0] % 64;
  const size_t room = 1 + data[1];
  const std::string_view bytes = fuzz::as_text(data + 2, size - 2);
  const Decoded whole = decode(bytes, bytes.size() + 1, std::string::npos);
  const Decoded pieces = decode(bytes, piece, room);
  FUZZ_CHECK(pieces.end == whole.end);
  FUZZ_CHECK(pieces.data == whole.data);
  FUZZ_CHECK(pieces.trailers == whole.trailers);
  if (whole.end != ChunkStatus::Done) return 0;
  for (const auto& [name, value] : whole.trailers) {
    FUZZ_CHECK(!name.empty() && name.find_first_of(" \t:\r\n") == std::string::npos);
    FUZZ_CHECK(value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
  }
  std::string again = whole.data.empty() ? "" : chunk_size_line(whole.data.size()) + whole.data;
  if (!whole.data.empty()) again += "\r\n";
  again += last_chunk(whole.trailers);
  // Written out, a field line may grow from `a:\n` (3 bytes) to `a: \r\n` (5).
  const Decoded reread = decode(again, again.size() + 1, std::string::npos, 2 * kMaxTrailers);
  FUZZ_CHECK(reread.end == ChunkStatus::Done);
  FUZZ_CHECK(reread.data == whole.data);
  FUZZ_CHECK(reread.trailers == whole.trailers);
  return 0;
}
