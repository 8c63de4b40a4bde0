#!/usr/bin/env bash
# Fails when a part of lib/ includes a header of a part above it (README "Module map"):
#
#   core < lambda < runner < telemetry (which may use runner's dispatcher only) < host < debug
#   < extension
#
# A file's part is its folder (lib/src/<part>/, lib/include/extension_runner/<part>/); host.cpp and
# host.hpp at the top of lib/ are the composition root; extension/ is the command line. Prints
# every offending file and include, exits 1 if there is one.
#
# Usage: scripts/check-layers.sh [ROOT]   (default: the repository this script is in)
set -euo pipefail
root=${1:-"$(cd "$(dirname "$0")/.." && pwd)"}
cd "$root"

# Whether part $1 may include header $2 (a path under extension_runner/), as the README's
# module map says: each part sees the parts below it; telemetry sees only the dispatcher of runner.
may_include() {
  local to=${2%%/*}
  [ "$2" = host.hpp ] && to=host
  case $1:$to in
    core:core) ;;
    lambda:core | lambda:lambda) ;;
    runner:core | runner:lambda | runner:runner) ;;
    telemetry:core | telemetry:lambda | telemetry:telemetry) ;;
    telemetry:runner) [ "$2" = runner/dispatcher.hpp ] ;;
    host:core | host:lambda | host:runner | host:telemetry | host:host) ;;
    debug:core | debug:lambda | debug:runner | debug:telemetry | debug:host | debug:debug) ;;
    extension:*) [ "$to" != "$2" ] || [ "$to" = host ] ;;
    *) return 1 ;;
  esac
}

# The part a source or header belongs to, from its path.
part_of_file() {
  case $1 in
    lib/src/host.cpp | lib/include/extension_runner/host.hpp) echo host ;;
    lib/src/*/* | lib/include/extension_runner/*/*)
      local rest=${1#lib/src/}
      rest=${rest#lib/include/extension_runner/}
      echo "${rest%%/*}" ;;
    extension/*) echo extension ;;
    *) echo unknown ;;
  esac
}

failures=0
files=$(find lib extension -type f \( -name '*.cpp' -o -name '*.hpp' \) | sort)
for file in $files; do
  from=$(part_of_file "$file")
  if [ "$from" = unknown ]; then
    echo "check-layers: $file is in no part (expected lib/src/<part>/ or lib/include/extension_runner/<part>/)"
    failures=$((failures + 1))
    continue
  fi
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    lineno=${line%%:*}
    header=$(sed -E 's/.*#include[[:space:]]*"extension_runner\/([^"]+)".*/\1/' <<<"${line#*:}")
    if ! may_include "$from" "$header"; then
      echo "check-layers: $file:$lineno ($from) includes extension_runner/$header, which $from may not include"
      failures=$((failures + 1))
    fi
  done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"extension_runner/' "$file" || true)
done

if [ "$failures" -gt 0 ]; then
  echo "check-layers: $failures include(s) against the layering (see the README's module map)"
  exit 1
fi
echo "check-layers: $(wc -w <<<"$files") files, every include goes down the layers"
