#include "extension_runner/core/clock.hpp"

#include <catch2/catch.hpp>
#include <cstdio>
#include <ctime>
#include <limits>
#include <string>
#include <vector>

using namespace extension_runner;

TEST_CASE("clock: format_iso8601 writes the UTC instant, milliseconds included") {
  struct Case {
    int64_t epoch_ms;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {0, "1970-01-01T00:00:00.000Z"},
      {1597926692123, "2020-08-20T12:31:32.123Z"},
      {951782400000, "2000-02-29T00:00:00.000Z"},     // a leap day of a 400-year century
      {946684799999, "1999-12-31T23:59:59.999Z"},     // the last ms of a year
      {4107542400000, "2100-03-01T00:00:00.000Z"},    // 2100 has no February 29
      {253402300799999, "9999-12-31T23:59:59.999Z"},  // the last instant of 4 digits
      {-1, "1969-12-31T23:59:59.999Z"},               // before the epoch: the ms before it
      {-86400000, "1969-12-31T00:00:00.000Z"},
      // The ends of int64, as java.time.Instant writes them: no overflow on the way.
      {std::numeric_limits<int64_t>::max(), "292278994-08-17T07:12:55.807Z"},
      {std::numeric_limits<int64_t>::min(), "-292275055-05-16T16:47:04.192Z"},
  };
  for (const auto& c : cases) {
    INFO(c.epoch_ms);
    CHECK(format_iso8601(c.epoch_ms) == c.expect);
  }
}

TEST_CASE("clock: format_iso8601 agrees with gmtime_r from 1902 to 2400") {
  // A step of 7.27 days and 7 ms: not a whole number of days or seconds, so the instants fall
  // at every time of day, on every day of the year, leap days included.
  const int64_t first = -2145916800000;  // 1902-01-01
  const int64_t last = 13569465600000;   // 2400-01-01
  const int64_t step_ms = int64_t{628321} * 1000 + 7;
  int compared = 0;
  for (int64_t ms = first; ms < last; ms += step_ms) {
    const auto seconds = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    std::tm tm{};
    REQUIRE(gmtime_r(&seconds, &tm) != nullptr);
    char expect[64];
    std::snprintf(expect, sizeof expect, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms - static_cast<int64_t>(seconds) * 1000));
    INFO(ms);
    REQUIRE(format_iso8601(ms) == expect);
    ++compared;
  }
  CHECK(compared > 20000);
}
