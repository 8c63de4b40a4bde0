#!/usr/bin/env bash
# Benchmarks (never run by `make test`): cold start, lifecycle overhead, memory.
# Usage: bench/run.sh [binary]   (default build/bin/extension-runner; the static build if present too)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/bin/extension-runner}
static=build/static-x86_64/bin/extension-runner
out=build/bench
mkdir -p "$out"

binaries=("$bin")
[ -x "$static" ] && [ "$static" != "$bin" ] && binaries+=("$static")

peak_rss_kb() {  # peak RSS of a command and its children, in kB
  python3 - "$@" <<'PY'
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
}

for b in "${binaries[@]}"; do
  echo "== $b ($(stat -c %s "$b") bytes)"
  echo "-- start-up: --version"
  hyperfine -N --warmup 5 --runs 200 "$b --version" | grep -E "Time|Range"
  echo "-- register -> 100 INVOKEs -> SHUTDOWN against the embedded emulator (no child)"
  hyperfine -N --warmup 3 --runs 30 "$b emulate --invokes 100" 2>/dev/null | grep -E "Time|Range"
  "$b" emulate --invokes 100 2>/dev/null | grep summary
  echo "-- peak RSS, emulate --invokes 100: $(peak_rss_kb "$b" emulate --invokes 100) kB"
  if [ -f examples/python/runner.py ]; then
    echo "-- runner protocol round trip (python3 child, 200 invokes)"
    echo '{"hello":"world"}' > "$out/event.json"
    "$b" invoke --runtime "python3 examples/python/runner.py" --event "$out/event.json" --repeat 200 2>/dev/null | tail -1
  fi
done
