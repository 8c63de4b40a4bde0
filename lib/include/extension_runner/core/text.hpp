#pragma once
/**
 * @file text.hpp
 * Text helpers for log lines and messages built from text a peer sent.
 */
#include <cstddef>
#include <string>
#include <string_view>

namespace extension_runner {

/**
 * `text` cut to its first `max` bytes with `…` appended when longer, so that a peer's text
 * (a stdout line, a reply's result) quoted in a log line or an error message stays readable.
 * The cut is by bytes: it may split a multi-byte UTF-8 character.
 */
std::string clip(std::string_view text, size_t max);

}  // namespace extension_runner
