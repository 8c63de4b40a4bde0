#include "extension_runner/host/memory_policy.hpp"

#include <malloc.h>

namespace extension_runner {

void apply_memory_policy(const TelemetryOptions& telemetry, const ProxyOptions& proxy) {
#ifdef M_ARENA_MAX
  const bool telemetry_on = telemetry.mode != TelemetryMode::Off;
  const bool proxy_on = proxy.mode != ProxyMode::Off;
  if (!telemetry_on && !proxy_on) return;
  // Records are allocated on the listener's worker threads and freed on the delivery thread;
  // memory freed in one arena is reused only by the threads of that arena, so with two arenas
  // the queue's footprint split between them and their peaks added up, differently in each run
  // (with which worker parsed what): up to queue bytes + 7 MB under 8 concurrent posters. One
  // arena ends that, at no CPU cost measured (the workers parse one body each). The proxy's
  // bodies, too, are read on one thread and freed on another.
  mallopt(M_ARENA_MAX, 1);
  if (proxy_on) {
    // Each invocation's event and response pass through a few buffers of their size (the held
    // body, its hook event, the line to the child). Mapped afresh for each and returned after,
    // they cost a page fault per 4 KiB touched, each time: a third of the proxy's CPU at 1 MiB.
    // Kept in the heap and its top not trimmed below kProxyTrimThreshold, they are reused. The
    // threshold holds a 6 MiB response's four buffers (25 MiB): at 16 MiB the top was returned
    // and faulted in again for every such response (77 ms instead of 8 on a machine where a
    // fault is dear).
    mallopt(M_MMAP_THRESHOLD, kProxyMmapThreshold);
    mallopt(M_TRIM_THRESHOLD, kProxyTrimThreshold);
    return;
  }
  // A fixed mmap threshold (which also ends glibc's dynamic one, raised to the size of the
  // first large block freed): blocks of 256 KiB and more (Lambda's largest batch, the
  // TELEMETRY events) are mapped, and unmapped when freed, rather than left as holes between
  // long-lived records; 64 KiB saved another ~0.3 MB but cost ~20 % of the listener's CPU in
  // page faults. Under `emulate` the emulator's threads have their arenas already, and the
  // host's threads share them: the bound is for the Lambda case.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  mallopt(M_TRIM_THRESHOLD, 256 * 1024);
#else
  (void)telemetry;
  (void)proxy;
#endif
}

}  // namespace extension_runner
