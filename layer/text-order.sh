#!/usr/bin/env bash
# make text-order: rewrites layer/text-order.ld, the list of the code Lambda mode runs that the
# static build links first (layer/text-order.py says why and how). Needs valgrind and perf.
#
# Usage: layer/text-order.sh STATIC_PREFIX [build-dir, default build/static-x86_64-profile]
#   STATIC_PREFIX: the x86_64 static dependencies (layer/build-static-deps.sh x86_64 DIR -> DIR/x86_64)
# Builds an unstripped static binary with its link map, profiles it under callgrind, then
# relinks and adds the page faults that still land outside the list until there are none.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
prefix="${1:?usage: $0 STATIC_PREFIX [build-dir]}"
build="${2:-$root/build/static-x86_64-profile}"
jobs="${JOBS:-2}"
order="$root/layer/text-order.ld"
bench="$build/bench"
for tool in valgrind perf nm; do
  command -v "$tool" >/dev/null || { echo "text-order: needs $tool" >&2; exit 1; }
done

"$root/bench/build-floor.sh" "$bench"
link() {  # $1 = ON|OFF: link with layer/text-order.ld
  cmake -S "$root" -B "$build" -DER_STATIC=ON -DER_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release \
    -DER_STATIC_PREFIX="$prefix" -DER_STRIP=OFF -DER_TEXT_ORDER="$1" >/dev/null
  cmake --build "$build" --target extension-runner -j "$jobs" >"$build/link.log" 2>&1 ||
    { cat "$build/link.log" >&2; exit 1; }
}
args=(--binary "$build/bin/extension-runner" --map "$build/extension-runner.map"
      --bench-dir "$bench" --out "$order")

link OFF
"$root/layer/text-order.py" profile "${args[@]}"
for round in 1 2 3 4 5 6 7 8; do
  link ON
  new="$("$root/layer/text-order.py" faults "${args[@]}")"
  echo "text-order: round $round: $new sections moved (page faults outside their run's block)" >&2
  [ "$new" = 0 ] && exit 0
done
echo "text-order: still moving sections after 8 rounds" >&2
exit 1
