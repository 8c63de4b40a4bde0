#pragma once
/**
 * @file shutdown_budget.hpp
 * How the SHUTDOWN deadline is shared: Lambda SIGKILLs the extension at `deadlineMs` [EXT], and
 * before that the telemetry still queued must reach the child, the child must answer its own
 * SHUTDOWN request, and the child must be ended. One split, in one place.
 */
#include <cstdint>

namespace extension_runner {

/**
 * Epoch-ms bounds, in the order the lifecycle uses them (docs/architecture.md, "Shutdown"):
 *
 *     now ── proxy drain ──┬── telemetry drain ──┬── child's SHUTDOWN request ──┬── child exit
 * ──┬── safety ──┤ proxy_until        telemetry_until       child_request_until child_exit_until
 * deadline
 *
 * A step that ends early leaves its time to the next one: each bound is a latest end, not a
 * slot.
 */
struct ShutdownBudget {
  /**
   * With the Runtime API proxy on: its observe copies still queued reach the child until then,
   * before the telemetry drain starts (now otherwise).
   */
  int64_t proxy_until_ms = 0;
  int64_t telemetry_until_ms = 0;      ///< The telemetry drain stops delivering.
  int64_t child_request_until_ms = 0;  ///< The child's reply to SHUTDOWN is due.
  int64_t child_exit_until_ms = 0;     ///< The child has exited or been killed.
  int64_t deadline_ms = 0;             ///< Lambda's deadlineMs.

  /**
   * Splits `deadline_ms` as seen at `now_ms`. Of the time left: a safety margin of 1/5, at most
   * 300 ms (the process still has to exit, and clocks are not exact); with a child, its exit
   * gets 1/4, at most 500 ms (closing stdin, SIGTERM, SIGKILL), and its SHUTDOWN request at
   * least 1/4, at most 500 ms, before the telemetry drain must stop; the drain gets the rest.
   * Without a child, the drain may run until the safety margin. With the proxy, its drain
   * comes first and takes 1/4 of what the telemetry drain would have, at most 300 ms.
   */
  static ShutdownBudget split(int64_t deadline_ms, int64_t now_ms, bool has_child,
                              bool has_proxy = false);
};

}  // namespace extension_runner
