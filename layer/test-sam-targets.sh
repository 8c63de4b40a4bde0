#!/usr/bin/env bash
# Checks template.yaml against the Makefiles the way `sam build` uses them:
#
#   for every resource with `Metadata: {BuildMethod: makefile}`, run
#   `make --makefile <CodeUri|ContentUri>/Makefile build-<LogicalId>` in a scratch copy of the
#   tree, with a fresh ARTIFACTS_DIR, as SAM does ([SAM]; docs/platform.md), and check the output:
#   a layer holds extensions/extension-runner alone, or a packaged extension (extensions/<name>,
#   <name>/extension-runner.json whose command's files are there; run once with `emulate`); a
#   function holds its handler and the child script its EXTENSION_RUNNER_COMMAND names.
#
# The copy contains a stale in-tree build/ whose CMakeCache.txt names the original directory,
# exactly the pitfall of SAM's scratch copies; the test first proves the stale cache does trip
# CMake there, so a target that reused it would fail. The copy also gets the already built static
# dependencies (ER_DEPS_CACHE, default build/static-deps), as a developer's tree would have them,
# so curl is not rebuilt. Then `cfn-lint template.yaml` runs when installed.
#
# Usage: layer/test-sam-targets.sh   (from the repository root)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
deps_cache="${ER_DEPS_CACHE:-$root/build/static-deps}"
cd "$root"

# shellcheck source=layer/test-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/test-lib.sh"

# "<LogicalId> <Type> <dir> <Handler> <BuildArchitecture> <file under /var/task in
# EXTENSION_RUNNER_COMMAND>" for each makefile-built resource ("-" when absent).
resources="$(python3 - template.yaml <<'PY'
import sys, yaml

class Loader(yaml.SafeLoader):
    pass

# CloudFormation short-form tags (!Ref, !GetAtt, ...): keep the value, drop the tag.
def any_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)

Loader.add_multi_constructor("!", any_tag)
doc = yaml.load(open(sys.argv[1]), Loader=Loader)
for logical_id, res in doc.get("Resources", {}).items():
    if (res.get("Metadata") or {}).get("BuildMethod") != "makefile":
        continue
    props = res.get("Properties") or {}
    uri = props.get("ContentUri") or props.get("CodeUri") or "."
    command = ((props.get("Environment") or {}).get("Variables") or {}).get("EXTENSION_RUNNER_COMMAND", "")
    task_files = [w[len("/var/task/"):] for w in command.split() if w.startswith("/var/task/")]
    print(logical_id, res["Type"], uri.rstrip("/") or ".", props.get("Handler", "-"),
          res["Metadata"].get("BuildArchitecture", "x86_64"), (task_files or ["-"])[0])
PY
)"
if [[ -z "$resources" ]]; then
  echo "test-sam-targets: no BuildMethod: makefile resource in template.yaml"
  exit 1
fi

# The scratch copy SAM would make: the tree without .git and .aws-sam ...
copy="$work/src"
mkdir -p "$copy"
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git -C "$root" ls-files -z --cached --others --exclude-standard |
    (cd "$root" && xargs -0 cp --parents -t "$copy" 2>/dev/null || true)
else
  tar -C "$root" --exclude=./.git --exclude=./.aws-sam --exclude=./build -cf - . | tar -C "$copy" -xf -
fi
# ... plus a developer's build/: stale CMake caches and the cached static dependencies.
stale_cache=""
for dir in build build/static-x86_64 build/static-arm64; do
  if [[ -f "$root/$dir/CMakeCache.txt" ]]; then
    mkdir -p "$copy/$dir"
    cp "$root/$dir/CMakeCache.txt" "$copy/$dir/"
    stale_cache="$dir"
  fi
done
if [[ -z "$stale_cache" ]]; then
  mkdir -p "$copy/build/stale"
  (cd "$root" && cmake -S . -B "$work/stale" -DER_BUILD_TESTS=OFF >/dev/null 2>&1) || true
  [[ -f "$work/stale/CMakeCache.txt" ]] && cp "$work/stale/CMakeCache.txt" "$copy/build/stale/" &&
    stale_cache=build/stale
fi
if [[ -n "$stale_cache" ]]; then
  if cmake -S "$copy" -B "$copy/$stale_cache" >"$work/stale.log" 2>&1; then
    fail "the copied $stale_cache/CMakeCache.txt did not trip CMake; the test does not model SAM's copy"
  else
    pass "a copied $stale_cache/CMakeCache.txt trips CMake in the scratch copy (as in SAM)"
  fi
  # That failed configure may have written files; put the stale cache back as it was.
  cp "$root/$stale_cache/CMakeCache.txt" "$copy/$stale_cache/" 2>/dev/null || true
fi
for arch in x86_64 arm64; do
  if [[ -f "$deps_cache/$arch/.stamp" ]]; then
    mkdir -p "$copy/build/static-deps"
    cp -r "$deps_cache/$arch" "$copy/build/static-deps/"
  fi
done

while read -r logical_id type dir handler want_arch task_file; do
  echo "resource $logical_id ($type, $dir)"
  if [[ "$type" == AWS::Serverless::Function && ! -f "$root/examples/python/runner.py" ]]; then
    # The child runtime script comes from another branch; until it lands there is nothing to ship.
    echo "  skip $logical_id: examples/python/runner.py does not exist yet"
    continue
  fi
  artifacts="$work/artifacts/$logical_id"
  mkdir -p "$artifacts"
  log="$work/$logical_id.log"
  # SAM's environment: the caller's, without this make's variables, plus ARTIFACTS_DIR.
  if (cd "$copy/$dir" &&
      env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u STATIC_DEPS_DIR -u BUILD_DIR -u LAYER_BUILD_DIR \
        ARTIFACTS_DIR="$artifacts" make --makefile "$copy/$dir/Makefile" "build-$logical_id") \
      >"$log" 2>&1; then
    pass "$logical_id: make build-$logical_id"
  else
    tail -n 30 "$log"
    fail "$logical_id: make build-$logical_id"
    continue
  fi
  if grep -q "build-static-deps.*configuring libcurl" "$log"; then
    fail "$logical_id: rebuilt libcurl although the cached static deps were copied"
  fi

  case "$type" in
    AWS::Serverless::LayerVersion)
      # extensions/ holds one binary; extension-runner alone, or a packaged extension
      # (layer/package-extension.sh): extensions/<name> + <name>/extension-runner.json + files.
      files="$(cd "$artifacts" && find . -mindepth 1 -not -type d | sort)"
      exts="$(grep '^\./extensions/' <<<"$files" || true)"
      if [[ "$(wc -l <<<"$exts")" != 1 || -z "$exts" ]]; then
        fail "$logical_id: extensions/ holds: $(tr '\n' ' ' <<<"$exts")"
        continue
      fi
      name="${exts#./extensions/}"
      if [[ "$name" == extension-runner ]]; then
        if [[ "$files" == "./extensions/extension-runner" ]]; then
          pass "$logical_id: ARTIFACTS_DIR holds exactly extensions/extension-runner"
        else
          fail "$logical_id: ARTIFACTS_DIR holds: $(tr '\n' ' ' <<<"$files")"
          continue
        fi
      else
        others="$(grep -v -x -e "./extensions/$name" -e "\./$name/.*" <<<"$files" || true)"
        [[ -z "$others" ]] && pass "$logical_id: only extensions/$name and $name/ (no lib/, bin/)" ||
          fail "$logical_id: ARTIFACTS_DIR also holds: $(tr '\n' ' ' <<<"$others")"
        # The file's command: its first word absolute (extensions get no /var/lang/bin on PATH),
        # the files it names present next to the file.
        if check="$(python3 - "$artifacts/$name" <<'PY'
import json, os, sys
folder = sys.argv[1]
config = json.load(open(os.path.join(folder, "extension-runner.json")))
assert isinstance(config, dict), "not a JSON object"
words = config["EXTENSION_RUNNER_COMMAND"].split()
assert words[0].startswith("/"), "first word %r is not absolute" % words[0]
for w in words[1:]:
    if not w.startswith("-") and "/" not in w and "." in w:
        assert os.path.isfile(os.path.join(folder, w)), "%s missing next to the file" % w
print(" ".join(words))
PY
)"; then
          pass "$logical_id: $name/extension-runner.json: command '$check', its files present"
        else
          fail "$logical_id: $name/extension-runner.json: $check"
          continue
        fi
        # Run it here (x86_64 only) with no EXTENSION_RUNNER_* variable but the interpreter:
        # the build machine has no /var/lang/bin, so its own interpreter of that name stands in.
        read -r interpreter rest <<<"$check"
        if [[ "$want_arch" == x86_64 && "$(uname -m)" == x86_64 && ! -x "$interpreter" ]] &&
           command -v "$(basename "$interpreter")" >/dev/null; then
          unset_vars=()
          while IFS='=' read -r var _; do
            [[ "$var" == EXTENSION_RUNNER_* ]] && unset_vars+=(-u "$var")
          done < <(env)
          if out="$(env "${unset_vars[@]}" -u AWS_LAMBDA_RUNTIME_API \
              EXTENSION_RUNNER_COMMAND="$(basename "$interpreter") $rest" \
              "$artifacts/extensions/$name" emulate --invokes 2 2>&1)" &&
             (($(grep -c -E 'reply +[^ ]+ ok' <<<"$out") >= 3)); then
            pass "$logical_id: emulate from ARTIFACTS_DIR: the child answered 2 INVOKEs and SHUTDOWN"
          else
            tail -n 20 <<<"$out"
            fail "$logical_id: emulate from ARTIFACTS_DIR"
          fi
        fi
      fi
      bin="$artifacts/extensions/$name"
      [[ "$(stat -c %a "$bin")" == 755 ]] && pass "$logical_id: mode 755" ||
        fail "$logical_id: mode $(stat -c %a "$bin")"
      machine="$(readelf -h "$bin" | awk -F: '/Machine/ {gsub(/^ +/, "", $2); print $2}')"
      case "$want_arch:$machine" in
        x86_64:*X86-64* | arm64:*AArch64*) pass "$logical_id: $machine binary for $want_arch" ;;
        *) fail "$logical_id: $machine binary, BuildArchitecture $want_arch" ;;
      esac
      if readelf -d "$bin" 2>&1 | grep -q "There is no dynamic section"; then
        pass "$logical_id: static"
      else
        fail "$logical_id: has a dynamic section"
      fi
      ;;
    AWS::Serverless::Function)
      module="${handler%.*}"
      if [[ -f "$artifacts/$module.py" ]]; then
        pass "$logical_id: handler module $module.py present"
      else
        fail "$logical_id: handler module $module.py missing in ARTIFACTS_DIR"
      fi
      if [[ "$task_file" != - ]]; then
        [[ -f "$artifacts/$task_file" ]] &&
          pass "$logical_id: child script /var/task/$task_file (EXTENSION_RUNNER_COMMAND) present" ||
          fail "$logical_id: EXTENSION_RUNNER_COMMAND names /var/task/$task_file, not in ARTIFACTS_DIR"
      fi
      ;;
  esac
done <<<"$resources"

if command -v cfn-lint >/dev/null; then
  if cfn-lint template.yaml; then pass "cfn-lint template.yaml"; else fail "cfn-lint template.yaml"; fi
else
  echo "  skip cfn-lint not installed (pip install cfn-lint to check template.yaml)"
fi

echo "test-sam-targets: $passed passed, $failed failed"
((failed == 0))
