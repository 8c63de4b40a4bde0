#!/usr/bin/env bash
# Runs a command with the sanitizer runtimes set to fail hard, then fails when any report was
# written (used by `make test-sanitize`).
#   scripts/run-sanitized.sh <report-dir> <command> [args...]
# Every runtime halts on its first error with exit code 86 and writes its report to
# <report-dir>/<runtime>.<pid>: a report from a subprocess (the integration tests start the
# sanitized binary) fails the run even when the test that started it looked at another exit
# code, or at none.
set -uo pipefail
reports=$(mkdir -p "$1" && cd "$1" && pwd)
shift
root=$(cd "$(dirname "$0")/.." && pwd)
rm -f "$reports"/*
common="halt_on_error=1:exitcode=86"
export ASAN_OPTIONS="$common:detect_leaks=1:abort_on_error=0:log_path=$reports/asan"
export UBSAN_OPTIONS="$common:print_stacktrace=1:log_path=$reports/ubsan"
export LSAN_OPTIONS="exitcode=86:log_path=$reports/lsan"
export TSAN_OPTIONS="$common:second_deadlock_stack=1:log_path=$reports/tsan:suppressions=$root/tests/tsan.supp"
"$@"
rc=$?
shopt -s nullglob
found=("$reports"/*)
if [ ${#found[@]} -gt 0 ]; then
  for f in "${found[@]}"; do
    echo "== $f"
    head -n 80 "$f"
  done
  echo "run-sanitized: ${#found[@]} sanitizer report(s) in $reports: FAILED" >&2
  exit 1
fi
if [ $rc -ne 0 ]; then
  echo "run-sanitized: '$*' exited $rc" >&2
fi
exit $rc
