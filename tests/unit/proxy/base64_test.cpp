#include "extension_runner/proxy/base64.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace extension_runner;

TEST_CASE("proxy base64: RFC 4648 vectors both ways, bad text refused", "[proxy]") {
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
      {std::string("\0\xff\x10", 3), "AP8Q"},
  };
  for (const auto& [bytes, text] : vectors) {
    INFO(text);
    CHECK(base64_encode(bytes) == text);
    CHECK(base64_decode(text) == bytes);
  }
  for (const char* bad : {"Zg", "Zg=", "Z===", "Zm9v!A==", "Zm=v", "Zm9v\n", "=Zm9"}) {
    INFO(bad);
    CHECK_FALSE(base64_decode(bad).has_value());
  }
}
