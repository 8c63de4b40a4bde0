#include "extension_runner/host/memory_policy.hpp"

#include <malloc.h>

namespace extension_runner {

void apply_memory_policy(const TelemetryOptions& telemetry) {
#ifdef M_ARENA_MAX
  if (telemetry.mode == TelemetryMode::Off) return;
  // Records are allocated on the listener's worker threads and freed on the delivery thread;
  // memory freed in one arena is reused only by the threads of that arena, so with two arenas
  // the queue's footprint split between them and their peaks added up, differently in each run
  // (with which worker parsed what): up to queue bytes + 7 MB under 8 concurrent posters. One
  // arena ends that, at no CPU cost measured (the workers parse one body each).
  // A fixed mmap threshold (which also ends glibc's dynamic one, raised to the size of the
  // first large block freed): blocks of 256 KiB and more (Lambda's largest batch, the
  // TELEMETRY events) are mapped, and unmapped when freed, rather than left as holes between
  // long-lived records; 64 KiB saved another ~0.3 MB but cost ~20 % of the listener's CPU in
  // page faults. Under `emulate` the emulator's threads have their arenas already, and the
  // host's threads share them: the bound is for the Lambda case.
  mallopt(M_ARENA_MAX, 1);
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  mallopt(M_TRIM_THRESHOLD, 256 * 1024);
#else
  (void)telemetry;
#endif
}

}  // namespace extension_runner
