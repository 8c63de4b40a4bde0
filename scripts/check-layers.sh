#!/usr/bin/env bash
# Fails when a part of lib/ includes a header of a part it may not use (docs/architecture.md):
#
#   core < lambda < runner (core only) < telemetry (core, lambda) < messages (core, lambda,
#   telemetry) < proxy (core only)
#   < host (the composition root: every part above) < fake_platform (core, lambda, telemetry)
#   < debug (everything but proxy's insides) < extension
#
# A file's part is its folder (lib/src/<part>/, lib/include/extension_runner/<part>/);
# extension/ is the command line. Prints every offending file and include, exits 1 if there is
# one. CMakeLists.txt links each part's library to exactly these parts.
#
# Usage: scripts/check-layers.sh [ROOT]   (default: the repository this script is in)
set -euo pipefail
root=${1:-"$(cd "$(dirname "$0")/.." && pwd)"}
cd "$root"

# Whether part $1 may include header $2 (a path under extension_runner/), as the module map in
# docs/architecture.md says.
may_include() {
  local to=${2%%/*}
  case $1:$to in
    core:core) ;;
    lambda:core | lambda:lambda) ;;
    runner:core | runner:runner) ;;
    telemetry:core | telemetry:lambda | telemetry:telemetry) ;;
    messages:core | messages:lambda | messages:telemetry | messages:messages) ;;
    proxy:core | proxy:proxy) ;;
    host:core | host:lambda | host:runner | host:telemetry | host:messages | host:proxy) ;;
    host:host) ;;
    fake_platform:core | fake_platform:lambda | fake_platform:telemetry) ;;
    fake_platform:fake_platform) ;;
    debug:core | debug:lambda | debug:runner | debug:telemetry | debug:messages | debug:proxy) ;;
    debug:host | debug:fake_platform | debug:debug) ;;
    extension:*) ;;
    *) return 1 ;;
  esac
}

# The part a source or header belongs to, from its path.
part_of_file() {
  case $1 in
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
  echo "check-layers: $failures include(s) against the layering (see docs/architecture.md)"
  exit 1
fi
echo "check-layers: $(wc -w <<<"$files") files, every include goes down the layers"
