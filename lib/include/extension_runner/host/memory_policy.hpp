#pragma once
/**
 * @file memory_policy.hpp
 * The process-wide allocator settings the telemetry queue's memory bound depends on.
 */
#include "extension_runner/telemetry/options.hpp"

namespace extension_runner {

/**
 * With telemetry on: one malloc arena and a fixed 256 KiB mmap and trim threshold (glibc
 * mallopt). Call before any thread of ours exists (arenas are made per thread on first use);
 * with telemetry off it does nothing. Why: bench/README.md, "Telemetry memory".
 */
void apply_memory_policy(const TelemetryOptions& telemetry);

}  // namespace extension_runner
