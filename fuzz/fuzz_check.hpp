#pragma once
/**
 * @file fuzz_check.hpp
 * Invariant checks for the fuzz targets: a broken invariant aborts, which libFuzzer reports
 * as a crash with the input that caused it.
 */
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "extension_runner/core/json.hpp"

#define FUZZ_CHECK(cond)                                                                \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (false)

namespace extension_runner::fuzz {

/** The fuzz input as text (may hold any byte, NUL included). */
inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/** Whether `text` is one valid JSON value. */
inline bool is_json(std::string_view text) { return parse_json(text).ok(); }

}  // namespace extension_runner::fuzz
