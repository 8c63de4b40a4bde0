#include "extension_runner/core/clock.hpp"

#include <cstdio>

namespace extension_runner {

int64_t wall_clock_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

namespace {

struct CivilDate {
  int64_t year;
  int month;  // 1-12
  int day;    // 1-31
};

// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's civil_from_days). Not
// gmtime_r: glibc's loads the time zone on its first call, /etc/localtime read before the
// first log line, i.e. before register, for a UTC timestamp.
CivilDate civil_from_days(int64_t days) {
  const int64_t z = days + 719468;  // days since 0000-03-01
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t day_of_era = z - era * 146097;
  const int64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const int64_t day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const int64_t month_from_march = (5 * day_of_year + 2) / 153;
  const int day = static_cast<int>(day_of_year - (153 * month_from_march + 2) / 5 + 1);
  const int month =
      static_cast<int>(month_from_march < 10 ? month_from_march + 3 : month_from_march - 9);
  return {year_of_era + era * 400 + (month <= 2 ? 1 : 0), month, day};
}

// Floor division: an instant before the epoch belongs to the day, second, ms before it.
int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

}  // namespace

std::string format_iso8601(int64_t epoch_ms) {
  const int64_t seconds = floor_div(epoch_ms, 1000);
  const int64_t days = floor_div(seconds, 86400);
  const int64_t second_of_day = seconds - days * 86400;
  const int64_t ms = (epoch_ms % 1000 + 1000) % 1000;
  const CivilDate date = civil_from_days(days);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ",
                static_cast<long long>(date.year), date.month, date.day,
                static_cast<int>(second_of_day / 3600), static_cast<int>(second_of_day / 60 % 60),
                static_cast<int>(second_of_day % 60), static_cast<int>(ms));
  return buffer;
}

std::chrono::steady_clock::time_point steady_deadline(int64_t deadline_epoch_ms) {
  const int64_t left = ms_until(deadline_epoch_ms);
  return std::chrono::steady_clock::now() + std::chrono::milliseconds(left > 0 ? left : 0);
}

int64_t ms_until(int64_t deadline_epoch_ms) { return deadline_epoch_ms - wall_clock_ms(); }

}  // namespace extension_runner
