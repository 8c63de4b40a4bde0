// Every transport failure is described in our own words with its CURLcode: the static
// release build's libcurl has its error strings compiled out.
#include <curl/curl.h>

#include <catch2/catch.hpp>
#include <cerrno>

#include "extension_runner/lambda/http.hpp"

using namespace extension_runner;
using std::chrono::milliseconds;

namespace {

TransportFailure failure(CURLcode code, int os_errno = 0, bool connected = false,
                         bool answer_started = false) {
  TransportFailure f;
  f.curl_code = static_cast<int>(code);
  f.os_errno = os_errno;
  f.connected = connected;
  f.answer_started = answer_started;
  f.timeouts = HttpTimeouts{milliseconds(1000), milliseconds(3000)};
  return f;
}

}  // namespace

TEST_CASE("transport words: what happened, then the CURLcode and errno") {
  struct Case {
    TransportFailure failure;
    std::string words;
  };
  const std::vector<Case> cases = {
      {failure(CURLE_COULDNT_CONNECT, ECONNREFUSED),
       "connection refused (nothing listens on that port) (CURLcode 7, errno 111)"},
      {failure(CURLE_COULDNT_CONNECT, ENETUNREACH), "network unreachable (CURLcode 7, errno 101)"},
      {failure(CURLE_COULDNT_CONNECT, EHOSTUNREACH), "host unreachable (CURLcode 7, errno 113)"},
      {failure(CURLE_COULDNT_CONNECT), "could not connect (CURLcode 7)"},
      {failure(CURLE_OPERATION_TIMEDOUT),
       "no connection within 1000 ms (connect timed out) (CURLcode 28)"},
      {failure(CURLE_OPERATION_TIMEDOUT, 0, true),
       "connection accepted, but no answer within 3000 ms (CURLcode 28)"},
      {failure(CURLE_OPERATION_TIMEDOUT, 0, true, true),
       "the answer started but did not complete within 3000 ms (CURLcode 28)"},
      {failure(CURLE_GOT_NOTHING, 0, true), "connection closed without an answer (CURLcode 52)"},
      {failure(CURLE_PARTIAL_FILE, 0, true, true),
       "connection closed in the middle of the body (CURLcode 18)"},
      {failure(CURLE_RECV_ERROR, ECONNRESET, true),
       "connection reset by the peer (CURLcode 56, errno 104)"},
      {failure(CURLE_RECV_ERROR, EIO, true), "receiving the answer failed (CURLcode 56, errno 5)"},
      {failure(CURLE_SEND_ERROR, EPIPE, true),
       "connection closed while sending the request (CURLcode 55, errno 32)"},
      {failure(CURLE_SEND_ERROR, ECONNRESET, true),
       "connection reset by the peer while sending the request (CURLcode 55, errno 104)"},
      {failure(CURLE_COULDNT_RESOLVE_HOST), "host name not resolved (CURLcode 6)"},
      {failure(CURLE_URL_MALFORMAT), "malformed URL (is the address host:port?) (CURLcode 3)"},
      {failure(CURLE_WEIRD_SERVER_REPLY, 0, true), "the answer is not HTTP (CURLcode 8)"},
      {failure(CURLE_UNSUPPORTED_PROTOCOL, 0, true), "the answer is not HTTP (CURLcode 1)"},
      {failure(CURLE_UNSUPPORTED_PROTOCOL), "unsupported protocol (CURLcode 1)"},
      {failure(CURLE_OUT_OF_MEMORY), "out of memory (CURLcode 27)"},
  };
  for (const auto& c : cases) {
    INFO(c.failure.curl_code);
    CHECK(describe_transport_failure(c.failure) == c.words);
  }
}

TEST_CASE("transport words: a total timeout shorter than the connect timeout is the one named") {
  auto f = failure(CURLE_OPERATION_TIMEDOUT);
  f.timeouts = HttpTimeouts{milliseconds(1000), milliseconds(200)};
  CHECK(describe_transport_failure(f) ==
        "no connection within 200 ms (connect timed out) (CURLcode 28)");
  CHECK(f.timed_out());
  CHECK_FALSE(failure(CURLE_COULDNT_CONNECT).timed_out());
}

TEST_CASE("transport words: every CURLcode gets words and its number, never libcurl's strings") {
  for (int code = 1; code < static_cast<int>(CURL_LAST); ++code) {
    INFO(code);
    const std::string words = describe_transport_failure(failure(static_cast<CURLcode>(code)));
    CHECK_THAT(words, Catch::EndsWith("(CURLcode " + std::to_string(code) + ")"));
    CHECK(words.rfind("Error", 0) != 0);
    CHECK(words.size() > std::string(" (CURLcode )").size() + std::to_string(code).size() + 4);
  }
}
