// parse_register_response and api_error (extensions_api.hpp): answers of the Extensions API.
// Input: `<status>\n` then `Name: value` header lines, an empty line, then the body.
#include <string>

#include "extension_runner/lambda/extensions_api.hpp"
#include "fuzz_check.hpp"

using namespace extension_runner;

namespace {

HttpResponse response_from(std::string_view text) {
  HttpResponse response;
  auto take_line = [&text]() {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    return line;
  };
  const auto status = take_line();
  for (char c : status.substr(0, 4)) {
    if (c < '0' || c > '9') break;
    response.status = response.status * 10 + (c - '0');
  }
  while (!text.empty()) {
    const auto line = take_line();
    if (line.empty()) break;
    const auto colon = line.find(':');
    const auto name = line.substr(0, colon);
    auto value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    response.headers.emplace_back(std::string(name), std::string(value));
  }
  response.body = std::string(text);
  return response;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const HttpResponse response = response_from(fuzz::as_text(data, size));

  const Error error = api_error("register", response);
  FUZZ_CHECK(error.kind == (response.status >= 500 ? ErrorKind::ApiFatal : ErrorKind::ApiRejected));
  FUZZ_CHECK(error.message.rfind("register failed with HTTP ", 0) == 0);

  const auto parsed = parse_register_response(response);
  if (parsed) {
    FUZZ_CHECK(response.status == 200);
    FUZZ_CHECK(!parsed->identifier.empty());
    FUZZ_CHECK(parsed->identifier == response.header(kIdentifierHeader));
  } else {
    FUZZ_CHECK(response.status != 200 || response.header(kIdentifierHeader).empty());
  }
  return 0;
}
