#!/usr/bin/env bash
# make bench: builds the floor programs and runs bench/bench.py (bench/README.md).
# Usage: bench/run.sh [dev-binary [static-binary]]   REPEATS=5 INVOKES=300 ROUNDS=21 by default.
set -euo pipefail
cd "$(dirname "$0")/.."
dev=${1:-build/bin/extension-runner}
static=${2:-build/static-x86_64/bin/extension-runner}
out=build/bench
mkdir -p "$out"
for b in "$dev" "$static"; do
  [ -x "$b" ] || { echo "bench: $b is missing (make build static-x86_64)" >&2; exit 1; }
done
bench/build-floor.sh "$out"
python3 bench/bench.py --out-dir "$out" --dev "$dev" --static "$static" \
  --repeats "${REPEATS:-5}" --invokes "${INVOKES:-300}" --rounds "${ROUNDS:-21}"
# The messages endpoint (docs/messages.md): accept latency, SDK send, messages/s, peak RSS.
python3 bench/messages-cost.py --binary "$dev" --out "$out/messages-cost.json"
# The Runtime API proxy (docs/proxy.md, "Cost"): added latency per invocation, forwarding, peak RSS.
python3 bench/proxy-cost.py --binary "$dev" --out "$out/proxy-cost.json"
