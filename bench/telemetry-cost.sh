#!/usr/bin/env bash
# Telemetry cost per flush strategy and buffering.timeoutMs, measured with `emulate` (never run by
# `make test`; figures go to the README's strategy table). For each run: the post-runtime
# extension time (what Lambda bills after the runtime's response), p50/p99/max, and the records
# delivered, from the `--json` summary line.
# Usage: bench/telemetry-cost.sh [binary] [scenario]   (default build/bin/extension-runner,
#        bench/telemetry-cost.json: 200 invokes of 5 ms, back to back)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/bin/extension-runner}
scenario=${2:-bench/telemetry-cost.json}

run() {  # label, extra emulate options...
  local label=$1
  shift
  "$bin" emulate --json --telemetry --scenario "$scenario" "$@" 2>/dev/null |
    python3 -c '
import json, sys
label = sys.argv[1]
for line in sys.stdin:
    try:
        d = json.loads(line)
    except ValueError:
        continue
    if d.get("what") != "summary":
        continue
    p, t = d["post_runtime_ms"], d["telemetry"]
    print("%-34s post-runtime p50 %6.1f  p99 %6.1f  max %6.1f ms  records %6d  dropped %d" % (
        label, p["p50"], p["p99"], p["max"], t["records_sent"],
        t["records_dropped_busy"] + t["records_dropped_refused"]))
' "$label"
}

echo "== flush strategies (timeoutMs 25, the default)"
for flush in invoke adaptive periodic periodic,100; do run "flush=$flush" --flush "$flush"; done
echo "== flush=invoke by buffering.timeoutMs"
for t in 25 50 100 250; do run "flush=invoke timeoutMs=$t" --flush invoke --buffer-timeout-ms "$t"; done
echo "== destination (flush=invoke, timeoutMs 25)"
for p in http tcp; do run "protocol=$p" --flush invoke --telemetry-protocol "$p"; done
tests=build/bin/integration_tests
if [ -x "$tests" ]; then
  echo "== host memory under a saturating load, host CPU per record (HTTP, TCP)"
  out=$(mktemp)
  # One process per test case (Catch2 ORs specs only when comma-separated; two arguments ran none).
  ER_BENCH_OUT="$out" "$tests" "telemetry memory*" >/dev/null 2>&1 || true
  ER_BENCH_OUT="$out" "$tests" "telemetry cost: HTTP and TCP*" >/dev/null 2>&1 || true
  cat "$out"
  rm -f "$out"
fi
