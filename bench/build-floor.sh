#!/usr/bin/env bash
# Builds bench/floor/*.c into DIR (default build/bench): the floor extension and the null child
# (static, like the release binary) and bench_api, the same API stand-in for every subject.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/bench}
mkdir -p "$out"
cc=${CC:-cc}
"$cc" -O2 -static -Wall -Wextra -Werror -o "$out/floor_ext" bench/floor/floor_ext.c
"$cc" -O2 -static -Wall -Wextra -Werror -o "$out/null_child" bench/floor/null_child.c
"$cc" -O2 -Wall -Wextra -Werror -o "$out/bench_api" bench/floor/bench_api.c
