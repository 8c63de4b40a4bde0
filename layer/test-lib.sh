# Shared by the layer test scripts (sourced): pass/fail counting and a scratch directory.
passed=0
failed=0
pass() { echo "  ok   $*"; passed=$((passed + 1)); }
fail() { echo "  FAIL $*"; failed=$((failed + 1)); }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
