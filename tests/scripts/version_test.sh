#!/usr/bin/env bash
# One version number: VERSION is what the binary's --version says (CMakeLists.txt reads it) and
# what the SDK packages carry (sdk/python/pyproject.toml, extension_runner.__version__,
# sdk/node/package.json); scripts/set-version.sh rewrites every one of them and refuses a version
# that is not X.Y.Z. The binary is ER_BINARY, else ER_DEFAULT_BINARY, else the dev build.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
bin="${ER_BINARY:-${ER_DEFAULT_BINARY:-$src/build/bin/extension-runner}}"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
passed=0
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; passed=$((passed + 1)); }

# Every version written in the tree under $1, one "file: version" line each.
versions() {
  python3 - "$1" <<'PY'
import json, re, sys
root = sys.argv[1]
def first(path, pattern):
    m = re.search(pattern, open(root + "/" + path).read(), re.M)
    return m.group(1) if m else "(none)"
print("VERSION:", open(root + "/VERSION").read().strip())
print("sdk/python/pyproject.toml:", first("sdk/python/pyproject.toml", r'^version = "([^"]*)"$'))
print("sdk/python/extension_runner.py:", first("sdk/python/extension_runner.py", r'^__version__ = "([^"]*)"$'))
print("sdk/node/package.json:", json.load(open(root + "/sdk/node/package.json"))["version"])
PY
}

version="$(cat "$src/VERSION")"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "VERSION holds '$version', not X.Y.Z"
listed="$(versions "$src")"
others="$(grep -v -F ": $version" <<<"$listed" || true)"
[[ -z "$others" ]] || fail "versions differ from VERSION ($version): $others"
ok "the SDK packages carry VERSION ($version)"

[[ -x "$bin" ]] || fail "no extension-runner binary at $bin (build it first)"
said="$("$bin" --version)"
[[ "$said" == "extension-runner $version" ]] || fail "$bin --version says '$said', VERSION is $version"
ok "the binary says $said"

# set-version.sh on a copy of the files it edits.
mkdir -p "$scratch/sdk"
cp "$src/VERSION" "$scratch/"
cp -r "$src/sdk/python" "$src/sdk/node" "$scratch/sdk/"
"$src/scripts/set-version.sh" 7.8.9 "$scratch" >/dev/null
listed="$(versions "$scratch")"
[[ "$(grep -c -F ': 7.8.9' <<<"$listed")" == 4 ]] || fail "set-version 7.8.9 left: $listed"
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$scratch/sdk/node/package.json" ||
  fail "set-version broke package.json"
ok "set-version.sh rewrites all four"
for bad in 1.2 v1.2.3 1.2.3-rc1 ""; do
  if "$src/scripts/set-version.sh" "$bad" "$scratch" 2>/dev/null; then fail "set-version accepted '$bad'"; fi
done
[[ "$(cat "$scratch/VERSION")" == 7.8.9 ]] || fail "a refused version changed VERSION"
ok "set-version.sh refuses versions that are not X.Y.Z, changing nothing"
echo "version: $passed passed, 0 failed"
