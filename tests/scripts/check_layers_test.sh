#!/usr/bin/env bash
# scripts/check-layers.sh must pass on the tree as it is and fail, naming the file and the
# include, on a copy of the tree with one include that goes up the layers.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

"$src/scripts/check-layers.sh" "$src" >/dev/null

check_fails_on() {  # $1 = file to break, $2 = header it must not include
  rm -rf "$scratch/tree" && mkdir -p "$scratch/tree"
  cp -r "$src/lib" "$src/extension" "$scratch/tree/"
  sed -i "1i #include \"extension_runner/$2\"" "$scratch/tree/$1"
  if out=$("$src/scripts/check-layers.sh" "$scratch/tree" 2>&1); then
    echo "FAIL: check-layers accepted $1 including $2"; exit 1
  fi
  grep -q "$1:1 .*extension_runner/$2" <<<"$out" ||
    { echo "FAIL: check-layers did not name $1 and $2:"; echo "$out"; exit 1; }
  echo "ok: $1 including $2 is refused"
}

check_fails_on lib/src/lambda/extensions_api.cpp runner/process.hpp
check_fails_on lib/include/extension_runner/core/json.hpp host/settings.hpp
check_fails_on lib/src/runner/child_invoker.cpp lambda/events.hpp
check_fails_on lib/src/telemetry/forwarder.cpp runner/child_invoker.hpp
check_fails_on lib/src/runner/dispatcher.cpp telemetry/queue.hpp
check_fails_on lib/src/host/host.cpp fake_platform/extensions_api.hpp
check_fails_on lib/src/fake_platform/extensions_api.cpp host/settings.hpp
echo "check-layers self-test: 7 passed, 0 failed"
