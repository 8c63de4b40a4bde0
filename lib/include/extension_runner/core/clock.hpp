#pragma once
/**
 * @file clock.hpp
 * Time helpers. Lambda deadlines (`deadlineMs`) are Unix epoch milliseconds [EXT].
 */
#include <chrono>
#include <cstdint>
#include <string>

namespace extension_runner {

/** Milliseconds since the Unix epoch, from the wall clock. */
int64_t wall_clock_ms();

/** `2020-08-20T12:31:32.123Z` for an epoch-ms instant (UTC). */
std::string format_iso8601(int64_t epoch_ms);

/**
 * The steady-clock instant matching an epoch-ms deadline, so waits are immune to wall-clock steps.
 * Deadlines in the past map to "now".
 */
std::chrono::steady_clock::time_point steady_deadline(int64_t deadline_epoch_ms);

/** Milliseconds left until an epoch-ms deadline (negative when passed). */
int64_t ms_until(int64_t deadline_epoch_ms);

}  // namespace extension_runner
