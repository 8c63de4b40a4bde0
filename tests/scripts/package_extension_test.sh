#!/usr/bin/env bash
# layer/package-extension.sh (what `make extension-layer` runs): the zip holds exactly
# extensions/<name> (755), <name>/extension-runner.json and the child's files under <name>/,
# nothing in lib/ or bin/, the same bytes for the same input; bad input is refused with a message
# and exit code 2, leaving no zip. The packaged binary's `check` refuses a configuration Lambda
# would refuse and a command naming a file not in DIR, in the extension's name, with no zip and
# no staged files left; success prints the zip's path alone. The layout cases package a stand-in
# binary; the check cases the real one (ER_BINARY, else ER_DEFAULT_BINARY, else the dev build).
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
real_bin="${ER_BINARY:-${ER_DEFAULT_BINARY:-$src/build/bin/extension-runner}}"
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
want="extensions/my-ext my-ext/extension-runner.json my-ext/lib/helper.py my-ext/main.py my-ext/run.sh my-ext/wrapper "
[[ "$entries" == "$want" ]] || fail "entries are '$entries', want '$want'"
ok "zip entries: $entries"
mode() { unzip -Z "$scratch/a.zip" "$1" | awk '{print $1}'; }
[[ "$(mode extensions/my-ext)" == -rwxr-xr-x ]] || fail "binary mode $(mode extensions/my-ext)"
[[ "$(mode my-ext/run.sh)" == -rwxr-xr-x ]] || fail "run.sh mode $(mode my-ext/run.sh)"
[[ "$(mode my-ext/main.py)" == -rw-r--r-- ]] || fail "main.py mode $(mode my-ext/main.py)"
[[ "$(mode my-ext/wrapper)" == -rwxr-xr-x ]] || fail "wrapper mode $(mode my-ext/wrapper)"
wrapper="$(unzip -p "$scratch/a.zip" my-ext/wrapper)"
[[ "$wrapper" == $'#!/bin/sh\nexec /opt/extensions/my-ext wrap -- "$@"' ]] ||
  fail "wrapper is '$wrapper'"
ok "modes: binary and executables 755, other files 644"
ok "the exec wrapper my-ext/wrapper runs extensions/my-ext wrap"
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
[[ "$(cd "$scratch/stage/copied" && find . -type f | sort | tr '\n' ' ')" == "./extension-runner.json ./main.py ./wrapper " ]] ||
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
printf '#!/bin/sh\n' >"$child/wrapper"
refused "holds a file named wrapper" --name a "${base[@]}"
rm "$child/wrapper"

# ---- the configuration check, with the real binary ----
[[ -x "$real_bin" ]] || fail "no extension-runner binary at $real_bin (build it first)"
checked="$scratch/checked"
mkdir -p "$checked"
echo 'print(1)' >"$checked/main.py"
real=(--name my-ext --dir "$checked" --binary "$real_bin")

out="$("$pkg" "${real[@]}" --zip "$scratch/good.zip" --command '/var/lang/bin/python3 main.py' \
  --set EXTENSION_RUNNER_FLUSH=periodic 2>&1)"
[[ "$out" == "$scratch/good.zip" ]] || fail "a good layer printed more than the zip's path: $out"
ok "a layer that passes the check: the zip's path is all that is printed"

refused_by_check() {  # $1 = what, $2 $3 = expected message parts, rest = arguments
  local what="$1" expect1="$2" expect2="$3" target
  shift 3
  rm -rf "$scratch/bad.zip" "$scratch/stage-bad"
  mkdir "$scratch/stage-bad"
  for target in --zip --stage; do
    local into="$scratch/bad.zip"
    [[ $target == --zip ]] || into="$scratch/stage-bad"
    set +e
    out="$("$pkg" "${real[@]}" "$target" "$into" "$@" 2>&1)"
    code=$?
    set -e
    [[ $code == 2 ]] || fail "$what ($target): exit $code (want 2): $out"
    [[ "$out" == *"$expect1"* && "$out" == *"$expect2"* ]] ||
      fail "$what ($target): message lacks '$expect1' or '$expect2': $out"
    if grep -v -q '^my-ext: ' <<<"$out"; then
      fail "$what ($target): a line not prefixed with the extension's name: $out"
    fi
    [[ ! -e "$scratch/bad.zip" ]] || fail "$what: a zip was written"
    [[ -z "$(ls -A "$scratch/stage-bad")" ]] || fail "$what: --stage left $(ls -A "$scratch/stage-bad")"
  done
  ok "refused by the check, no zip, nothing staged: $what"
}
py='/var/lang/bin/python3 main.py'
# what | expected | expected | COMMAND | SETTINGS entry
while IFS='|' read -r what expect1 expect2 command setting; do
  refused_by_check "$what" "$expect1" "$expect2" --command "$command" ${setting:+--set "$setting"}
done <<ROWS
a misspelt key|my-ext: /opt/my-ext/extension-runner.json: unknown key "EXTENSION_RUNNER_FLSUH"|(did you mean EXTENSION_RUNNER_FLUSH?)|$py|EXTENSION_RUNNER_FLSUH=invoke
a value the setting does not take|my-ext: /opt/my-ext/extension-runner.json: invalid EXTENSION_RUNNER_FLUSH (--flush) 'sometimes'|extension-runner.json written from COMMAND, HANDLER and SETTINGS|$py|EXTENSION_RUNNER_FLUSH=sometimes
a script not in DIR|names the script mian.py|/opt/my-ext/mian.py is not there|/var/lang/bin/python3 mian.py|
ROWS

cp -r "$checked" "$scratch/own-file"
echo '{"EXTENSION_RUNNER_COMMAND": "./run.sh"}' >"$scratch/own-file/extension-runner.json"
set +e
out="$("$pkg" --name my-ext --dir "$scratch/own-file" --binary "$real_bin" --zip "$scratch/bad.zip" 2>&1)"
code=$?
set -e
[[ $code == 2 && "$out" == *"names the command /opt/my-ext/run.sh, which is not there"* &&
  "$out" == *"/opt/my-ext is DIR '$scratch/own-file')"* && ! -e "$scratch/bad.zip" ]] ||
  fail "DIR's own file naming a missing ./run.sh: exit $code: $out"
ok "refused by the check: DIR's own extension-runner.json names a command not in DIR"
echo "package-extension: $passed passed, 0 failed"
