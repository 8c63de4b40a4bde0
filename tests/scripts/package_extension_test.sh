#!/usr/bin/env bash
# layer/package-extension.sh (what `make extension-layer` runs): the zip holds exactly
# extensions/<name> (755), <name>/extension-runner.json and the child's files under <name>/,
# nothing in lib/ or bin/, the same bytes for the same input; bad input is refused with a message
# and exit code 2, leaving no zip.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
pkg="$src/layer/package-extension.sh"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
passed=0
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; passed=$((passed + 1)); }

# A stand-in binary and a child folder with a subfolder, an executable, and what is left out.
printf '#!/bin/sh\n' >"$scratch/bin" && chmod 700 "$scratch/bin"
child="$scratch/child"
mkdir -p "$child/lib" "$child/.git" "$child/__pycache__"
echo 'print(1)' >"$child/main.py"
printf '#!/bin/sh\n' >"$child/run.sh" && chmod 700 "$child/run.sh"
echo x >"$child/lib/helper.py"
echo x >"$child/.git/HEAD"
echo x >"$child/__pycache__/main.pyc"

"$pkg" --name my-ext --dir "$child" --binary "$scratch/bin" --zip "$scratch/a.zip" \
  --command "python3 main.py" --handler main.handle --set EXTENSION_RUNNER_TELEMETRY=telemetry \
  >/dev/null
entries="$(unzip -Z1 "$scratch/a.zip" | tr '\n' ' ')"
want="extensions/my-ext my-ext/extension-runner.json my-ext/lib/helper.py my-ext/main.py my-ext/run.sh "
[[ "$entries" == "$want" ]] || fail "entries are '$entries', want '$want'"
ok "zip entries: $entries"
mode() { unzip -Z "$scratch/a.zip" "$1" | awk '{print $1}'; }
[[ "$(mode extensions/my-ext)" == -rwxr-xr-x ]] || fail "binary mode $(mode extensions/my-ext)"
[[ "$(mode my-ext/run.sh)" == -rwxr-xr-x ]] || fail "run.sh mode $(mode my-ext/run.sh)"
[[ "$(mode my-ext/main.py)" == -rw-r--r-- ]] || fail "main.py mode $(mode my-ext/main.py)"
ok "modes: binary and executables 755, other files 644"
config="$(unzip -p "$scratch/a.zip" my-ext/extension-runner.json)"
python3 - "$config" <<'PY' || fail "written configuration: $config"
import json, sys
assert json.loads(sys.argv[1]) == {
    "EXTENSION_RUNNER_COMMAND": "python3 main.py",
    "EXTENSION_RUNNER_HANDLER": "main.handle",
    "EXTENSION_RUNNER_TELEMETRY": "telemetry",
}
PY
ok "configuration written from --command, --handler, --set"

touch -d '2011-11-11 11:11:11' "$child/main.py"
"$pkg" --name my-ext --dir "$child" --binary "$scratch/bin" --zip "$scratch/b.zip" \
  --command "python3 main.py" --handler main.handle --set EXTENSION_RUNNER_TELEMETRY=telemetry \
  >/dev/null
cmp -s "$scratch/a.zip" "$scratch/b.zip" || fail "the same input gave different zips"
ok "reproducible: same bytes after the sources' dates changed"

echo '{"EXTENSION_RUNNER_COMMAND": "./run.sh"}' >"$child/extension-runner.json"
"$pkg" --name copied --dir "$child" --binary "$scratch/bin" --stage "$scratch/stage" \
  --exclude 'lib' --exclude '*.sh' >/dev/null
[[ "$(cd "$scratch/stage/copied" && find . -type f | sort | tr '\n' ' ')" == "./extension-runner.json ./main.py " ]] ||
  fail "--exclude: $(cd "$scratch/stage/copied" && find . -type f | tr '\n' ' ')"
[[ "$(cat "$scratch/stage/copied/extension-runner.json")" == '{"EXTENSION_RUNNER_COMMAND": "./run.sh"}' ]] ||
  fail "--stage did not copy DIR's extension-runner.json"
[[ -x "$scratch/stage/extensions/copied" ]] || fail "--stage: no extensions/copied"
[[ "$(cd "$scratch/stage" && ls -A | tr '\n' ' ')" == "copied extensions " ]] ||
  fail "--stage wrote $(ls -A "$scratch/stage")"
ok "--stage copies DIR's extension-runner.json into ARTIFACTS_DIR-style folder"

refused() {  # $1 = expected message part, rest = arguments
  local expect="$1"
  shift
  rm -f "$scratch/bad.zip"
  set +e
  out="$("$pkg" "$@" 2>&1)"
  code=$?
  set -e
  [[ $code == 2 ]] || fail "exit $code (want 2) for: $* ($out)"
  [[ "$out" == *"$expect"* ]] || fail "message '$out' lacks '$expect'"
  [[ ! -e "$scratch/bad.zip" ]] || fail "a zip was written for: $*"
  ok "refused ($expect)"
}
rm "$child/extension-runner.json"
base=(--dir "$child" --binary "$scratch/bin" --zip "$scratch/bad.zip")
refused "NAME is required" "${base[@]}" --command x
refused "must be a file name" --name 'my/ext' "${base[@]}" --command x
refused "would put the child's files in /opt/lib" --name lib "${base[@]}" --command x
refused "would put the child's files in /opt/extensions" --name extensions "${base[@]}" --command x
refused "is not a folder" --name a --dir "$scratch/none" --binary "$scratch/bin" --zip "$scratch/bad.zip" --command x
refused "binary" --name a --dir "$child" --binary "$scratch/none" --zip "$scratch/bad.zip" --command x
refused "no configuration: give COMMAND" --name a "${base[@]}"
refused "is not KEY=VALUE" --name a "${base[@]}" --command x --set novalue
refused "unknown argument" --name a "${base[@]}" --command x --arch arm64
echo '{}' >"$child/extension-runner.json"
refused "exists and COMMAND/HANDLER/SETTINGS were given too" --name a "${base[@]}" --command x
echo "package-extension: $passed passed, 0 failed"
