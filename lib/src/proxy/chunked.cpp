#include "extension_runner/proxy/chunked.hpp"

#include <algorithm>
#include <charconv>

namespace extension_runner {
namespace {

// A size line is hex digits plus optional extensions; nothing legitimate comes near this.
constexpr size_t kMaxSizeLine = 4096;

}  // namespace

ChunkStep ChunkedDecoder::step(std::string_view input, size_t max_data) {
  switch (state_) {
    case State::Size:
      return size_line(input, max_data);
    case State::Data:
      return data(input, max_data);
    case State::DataEnd:
      return data_end(input, max_data);
    case State::Trailers:
      return trailer_section(input);
    case State::Done:
      return {ChunkStatus::Done, 0, {}};
    case State::Failed:
      break;
  }
  return {ChunkStatus::Malformed, 0, {}};
}

ChunkStep ChunkedDecoder::fail() {
  state_ = State::Failed;
  return {ChunkStatus::Malformed, 0, {}};
}

ChunkStep ChunkedDecoder::size_line(std::string_view input, size_t max_data) {
  size_t used = 0;
  const auto line = next_line(input, used);
  if (!line) {
    if (input.size() > kMaxSizeLine) return fail();
    return {ChunkStatus::NeedMore, 0, {}};
  }
  // The same limit whether the line came whole or in pieces: framing must not depend on reads.
  if (line->size() > kMaxSizeLine) return fail();
  const std::string_view size = trim_ows(line->substr(0, line->find(';')));
  uint64_t value = 0;
  const auto r = std::from_chars(size.data(), size.data() + size.size(), value, 16);
  if (size.empty() || r.ec != std::errc() || r.ptr != size.data() + size.size()) return fail();
  remaining_ = value;
  state_ = value == 0 ? State::Trailers : State::Data;
  ChunkStep next = step(input.substr(used), max_data);
  next.consumed += used;
  return next;
}

ChunkStep ChunkedDecoder::data(std::string_view input, size_t max_data) {
  if (input.empty() || max_data == 0) return {ChunkStatus::NeedMore, 0, {}};
  const size_t n = static_cast<size_t>(std::min<uint64_t>({remaining_, input.size(), max_data}));
  remaining_ -= n;
  body_bytes_ += n;
  if (remaining_ == 0) state_ = State::DataEnd;
  return {ChunkStatus::Data, n, input.substr(0, n)};
}

ChunkStep ChunkedDecoder::data_end(std::string_view input, size_t max_data) {
  size_t used = 0;
  const auto line = next_line(input, used);
  if (!line) return input.size() >= 2 ? fail() : ChunkStep{ChunkStatus::NeedMore, 0, {}};
  if (!line->empty()) return fail();
  state_ = State::Size;
  ChunkStep next = step(input.substr(used), max_data);
  next.consumed += used;
  return next;
}

ChunkStep ChunkedDecoder::trailer_section(std::string_view input) {
  size_t consumed = 0;  // of this step's input; trailer_bytes_ counts the earlier steps'
  while (const auto line = next_line(input, consumed)) {
    if (trailer_bytes_ + consumed > max_trailer_bytes_) return fail();
    if (line->empty()) {
      state_ = State::Done;
      return {ChunkStatus::Done, consumed, {}};
    }
    auto field = parse_field_line(*line);
    if (!field) return fail();
    trailers_.push_back(std::move(*field));
  }
  trailer_bytes_ += consumed;
  if (trailer_bytes_ + (input.size() - consumed) > max_trailer_bytes_) return fail();
  return {ChunkStatus::NeedMore, consumed, {}};
}

std::string chunk_size_line(size_t size) {
  char hex[20];
  const auto r = std::to_chars(hex, hex + sizeof hex, size, 16);
  std::string line(hex, r.ptr);
  line += "\r\n";
  return line;
}

std::string last_chunk(const HeaderList& trailers) {
  std::string text = "0\r\n";
  append_field_lines(text, trailers);
  text += "\r\n";
  return text;
}

}  // namespace extension_runner
