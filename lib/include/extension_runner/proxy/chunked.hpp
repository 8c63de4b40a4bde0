#pragma once
/**
 * @file chunked.hpp
 * The chunked transfer coding (RFC 9112 §7.1), both ways, without I/O: an incremental decoder
 * that hands out each chunk's data as it arrives and collects the trailer fields (which Lambda
 * uses for a streamed response's `Lambda-Runtime-Function-Error-Type` / `-Error-Body`), and the
 * framing strings an encoder writes around data.
 */
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "extension_runner/proxy/http_message.hpp"

namespace extension_runner {

/** What ChunkedDecoder::step found. */
enum class ChunkStatus {
  NeedMore,   ///< The input ends inside a size line, a CRLF or the trailer section.
  Data,       ///< `data` holds body bytes (a view into the input).
  Done,       ///< The last chunk and the trailer section were read; trailers() holds them.
  Malformed,  ///< Not the chunked coding (bad size, missing CRLF, oversized line/trailers).
};

struct ChunkStep {
  ChunkStatus status = ChunkStatus::NeedMore;
  size_t consumed = 0;    ///< Bytes of the input used up by this step.
  std::string_view data;  ///< Status Data only.
};

/**
 * Decodes one chunked body fed in pieces of any size. Call step() with the unread input, drop
 * `consumed` bytes, and repeat: Data hands out body bytes, NeedMore asks for more input
 * appended to what was not consumed, Done ends the body. Chunk extensions are ignored. A size
 * line longer than 4 KiB or a trailer section over `max_trailer_bytes` is Malformed, so a peer
 * cannot make the decoder buffer without bound.
 */
class ChunkedDecoder {
 public:
  explicit ChunkedDecoder(size_t max_trailer_bytes = 64 * 1024)
      : max_trailer_bytes_(max_trailer_bytes) {}

  /** One step over `input`; a Data step hands out at most `max_data` bytes. */
  ChunkStep step(std::string_view input, size_t max_data = std::numeric_limits<size_t>::max());

  /** The trailer fields, once Done. */
  const HeaderList& trailers() const { return trailers_; }
  /** Body bytes handed out so far. */
  uint64_t body_bytes() const { return body_bytes_; }

 private:
  enum class State { Size, Data, DataEnd, Trailers, Done, Failed };

  ChunkStep size_line(std::string_view input, size_t max_data);
  ChunkStep data(std::string_view input, size_t max_data);
  ChunkStep data_end(std::string_view input, size_t max_data);
  ChunkStep trailer_section(std::string_view input);
  ChunkStep fail();

  size_t max_trailer_bytes_;
  State state_ = State::Size;
  uint64_t remaining_ = 0;  ///< Bytes left in the current chunk.
  uint64_t body_bytes_ = 0;
  size_t trailer_bytes_ = 0;
  HeaderList trailers_;
};

/** `<hex size>\r\n`: what precedes `size` (> 0) bytes of chunk data. */
std::string chunk_size_line(size_t size);

/** `0\r\n` + each trailer field + `\r\n`: the end of a chunked body. */
std::string last_chunk(const HeaderList& trailers);

}  // namespace extension_runner
