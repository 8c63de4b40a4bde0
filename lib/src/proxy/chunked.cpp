#include "extension_runner/proxy/chunked.hpp"

#include <algorithm>
#include <charconv>

namespace extension_runner {
namespace {

// A size line is hex digits plus optional extensions; nothing legitimate comes near this.
constexpr size_t kMaxSizeLine = 4096;

/** The line at the start of `input` without its CRLF / LF, and its length with them. */
bool take_line(std::string_view input, std::string_view& line, size_t& used) {
  const auto lf = input.find('\n');
  if (lf == std::string_view::npos) return false;
  size_t end = lf;
  if (end > 0 && input[end - 1] == '\r') --end;
  line = input.substr(0, end);
  used = lf + 1;
  return true;
}

std::string_view trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

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
  std::string_view line;
  size_t used = 0;
  if (!take_line(input, line, used)) {
    if (input.size() > kMaxSizeLine) return fail();
    return {ChunkStatus::NeedMore, 0, {}};
  }
  const std::string_view size = trim(line.substr(0, line.find(';')));
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
  std::string_view line;
  size_t used = 0;
  if (!take_line(input, line, used)) {
    return input.size() >= 2 ? fail() : ChunkStep{ChunkStatus::NeedMore, 0, {}};
  }
  if (!line.empty()) return fail();
  state_ = State::Size;
  ChunkStep next = step(input.substr(used), max_data);
  next.consumed += used;
  return next;
}

ChunkStep ChunkedDecoder::trailer_section(std::string_view input) {
  size_t consumed = 0;
  std::string_view line;
  size_t used = 0;
  while (take_line(input.substr(consumed), line, used)) {
    consumed += used;
    trailer_bytes_ += used;
    if (trailer_bytes_ > max_trailer_bytes_) return fail();
    if (line.empty()) {
      state_ = State::Done;
      return {ChunkStatus::Done, consumed, {}};
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return fail();
    trailers_.emplace_back(std::string(trim(line.substr(0, colon))),
                           std::string(trim(line.substr(colon + 1))));
  }
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
  for (const auto& [name, value] : trailers) {
    text += name;
    text += ": ";
    text += value;
    text += "\r\n";
  }
  text += "\r\n";
  return text;
}

}  // namespace extension_runner
