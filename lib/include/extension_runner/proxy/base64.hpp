#pragma once
/**
 * @file base64.hpp
 * Base64 (RFC 4648 §4, standard alphabet, padded): how the proxy hands the hooks a body that is
 * not JSON (`payloadBase64`), and how it reads one back from a hook's answer.
 */
#include <optional>
#include <string>
#include <string_view>

namespace extension_runner {

/** The padded base64 text of `bytes`. */
std::string base64_encode(std::string_view bytes);

/**
 * The bytes of padded base64 `text`; nullopt on a character outside the alphabet, a length not
 * a multiple of 4, or misplaced padding. Whitespace is not accepted.
 */
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace extension_runner
