#!/usr/bin/env bash
# Lambda mode runs no code of the debug mode: the object files of the debug and fake_platform
# parts have no static initialiser (it would run at every start) but the std::ios_base::Init
# that <iostream> puts in every file including it with GCC < 13 (cpp-httplib's header includes
# it). Checks each initialiser by the symbols its code refers to, and first that the check
# refuses an object that builds a std::string at startup.
#
# Usage: debug_static_init_test.sh CXX ARCHIVE...
set -euo pipefail
cxx=$1
shift
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
allowed='^(_ZNSt8ios_base4InitC[12]Ev|_ZNSt8ios_base4InitD[12]Ev|__cxa_atexit|__dso_handle|_ZStL8__ioinit|\.bss)$'

# Prints every symbol a static initialiser of object $1 refers to that is not allowed.
disallowed_refs() {
  local init
  for init in $(nm "$1" | awk '$3 ~ /^_GLOBAL__sub_I_/ && $3 !~ /\.cold$/ {print $3}'); do
    objdump -dr --disassemble="$init" "$1" | awk '$2 ~ /^R_/ {print $3}' |
      sed -E 's/[-+]0x[0-9a-f]+$//' | sort -u | grep -Ev "$allowed" || true
  done
}

printf '#include <string>\nstd::string built_at_startup = std::to_string(42);\n' >"$scratch/bad.cpp"
"$cxx" -std=c++17 -O2 -c "$scratch/bad.cpp" -o "$scratch/bad.o"
if [ -z "$(disallowed_refs "$scratch/bad.o")" ]; then
  echo "FAIL: the check accepted a std::string built at startup"
  exit 1
fi

failures=0
objects=0
for archive in "$@"; do
  archive=$(realpath "$archive")
  mkdir -p "$scratch/x" && rm -f "$scratch"/x/*.o
  (cd "$scratch/x" && ar x "$archive")
  for obj in "$scratch"/x/*.o; do
    objects=$((objects + 1))
    refs=$(disallowed_refs "$obj")
    if [ -n "$refs" ]; then
      echo "FAIL: $(basename "$archive") $(basename "$obj"): a static initialiser uses" $refs
      failures=$((failures + 1))
    fi
  done
done
[ "$objects" -gt 0 ] || { echo "FAIL: no object files in $*"; exit 1; }
echo "debug static initialisers: $objects object files, $failures with startup work"
[ "$failures" -eq 0 ]
