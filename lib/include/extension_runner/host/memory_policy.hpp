#pragma once
/**
 * @file memory_policy.hpp
 * The process-wide allocator settings the telemetry queue's memory bound and the Runtime API
 * proxy's cost depend on.
 */
#include "extension_runner/proxy/options.hpp"
#include "extension_runner/telemetry/options.hpp"

namespace extension_runner {

/** With the proxy on: blocks up to this size come from the heap, not a mapping of their own. */
inline constexpr int kProxyMmapThreshold = 8 * 1024 * 1024;
/** With the proxy on: freed memory at the heap's top kept mapped (for reuse) up to this size. */
inline constexpr int kProxyTrimThreshold = 32 * 1024 * 1024;

/**
 * glibc mallopt, process-wide. With telemetry or the proxy on: one malloc arena. With the proxy
 * on: a fixed mmap threshold of kProxyMmapThreshold (above Lambda's 6 MiB payloads) and a trim
 * threshold of kProxyTrimThreshold, so the per-invocation buffers are reused rather than mapped
 * and faulted in again (docs/proxy.md, "Cost"); else, with telemetry on, a fixed 256 KiB mmap
 * and trim threshold (bench/README.md, "Telemetry memory"). Call before any thread of ours
 * exists (arenas are made per thread on first use); with both off it does nothing.
 */
void apply_memory_policy(const TelemetryOptions& telemetry, const ProxyOptions& proxy);

}  // namespace extension_runner
