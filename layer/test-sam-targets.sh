#!/usr/bin/env bash
# Checks a SAM template against the Makefiles the way `sam build` uses them:
#
#   for every resource with `Metadata: {BuildMethod: makefile}`, copy its CodeUri/ContentUri
#   folder alone (without .git and .aws-sam) into a scratch directory and run
#   `make --makefile <the original folder>/Makefile build-<LogicalId>` there with a fresh
#   ARTIFACTS_DIR, as SAM does ([SAM], [BUILDERS]; docs/platform.md), and check the output:
#   a layer holds extensions/extension-runner alone, or a packaged extension (extensions/<name>,
#   <name>/extension-runner.json whose command's files are there; run once with `emulate`); a
#   function holds its handler and the child script its EXTENSION_RUNNER_COMMAND names.
#
# The templates checked: the repository's template.yaml (whose layers' source folder must be
# small, not the repository with its build/ folders), and a platform team's own project made up
# here: its own template and extension folder, whose Makefile builds the layer with
# `make -C <this repository> sam-extension-layer` (docs/deploy.md, "Your own layer with SAM").
# Static dependencies are the repository's (build/static-deps, ER_DEPS_CACHE): a target that
# rebuilt libcurl although they were built fails. Then `cfn-lint` runs on each template when
# installed, and every `sam local invoke ... --event FILE` of the docs must name a file that exists.
#
# Usage: layer/test-sam-targets.sh   (from the repository root)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
deps_cache="${ER_DEPS_CACHE:-$root/build/static-deps}"
cd "$root"

# shellcheck source=layer/test-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/test-lib.sh"

# "<LogicalId> <Type> <dir> <Handler> <BuildArchitecture> <file under /var/task in
# EXTENSION_RUNNER_COMMAND>" for each makefile-built resource of template $1 ("-" when absent).
makefile_resources() {
  python3 - "$1" <<'PY'
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
}

# The folder SAM copies for a resource: what git would keep of it (or all of it outside git).
copy_source() {  # $1 = project root, $2 = folder in it, $3 = destination
  mkdir -p "$3"
  if git -C "$1/$2" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$1/$2" ls-files -z --cached --others --exclude-standard . |
      (cd "$1/$2" && xargs -0 -r cp --parents -t "$3" 2>/dev/null || true)
  else
    tar -C "$1/$2" --exclude=./.git --exclude=./.aws-sam -cf - . | tar -C "$3" -xf -
  fi
}

# Builds and checks every makefile resource of template $1 (its folder is the project root).
check_template() {
  local template="$1" project resources
  project="$(cd "$(dirname "$template")" && pwd)"
  resources="$(makefile_resources "$template")"
  if [[ -z "$resources" ]]; then
    fail "$template: no BuildMethod: makefile resource"
    return
  fi
  echo "template $template"
  while read -r logical_id type dir handler want_arch task_file; do
    echo "resource $logical_id ($type, $dir)"
    if [[ "$type" == AWS::Serverless::LayerVersion ]]; then
      # The layer's own source folder: never the project root, nothing built in it, small.
      local size
      size="$(du -sk "$project/$dir" | cut -f1)"
      if [[ "$dir" != . && ! -e "$project/$dir/build" ]] && ((size < 1024)); then
        pass "$logical_id: ContentUri $dir/ is a folder of its own ($size kB copied per build)"
      else
        fail "$logical_id: ContentUri $dir/ ($size kB) would copy the project or a build folder"
      fi
    fi
    local copy="$work/scratch/$logical_id" artifacts="$work/artifacts/$logical_id"
    local log="$work/$logical_id.log"
    copy_source "$project" "$dir" "$copy"
    mkdir -p "$artifacts"
    # SAM's environment: the caller's, without this make's variables, plus ARTIFACTS_DIR; the
    # Makefile read where it is, make run in the copy.
    if (cd "$copy" &&
        env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u STATIC_DEPS_DIR -u BUILD_DIR -u LAYER_BUILD_DIR \
          ARTIFACTS_DIR="$artifacts" make --makefile "$project/$dir/Makefile" "build-$logical_id") \
        >"$log" 2>&1; then
      pass "$logical_id: make build-$logical_id"
    else
      tail -n 30 "$log"
      fail "$logical_id: make build-$logical_id"
      continue
    fi
    if grep -q "build-static-deps\[$want_arch\]: configuring libcurl" "$log" &&
       [[ "$deps_before" == *"./$want_arch/.stamp"* ]]; then
      fail "$logical_id: rebuilt libcurl although $deps_cache/$want_arch held it"
    fi

    case "$type" in
      AWS::Serverless::LayerVersion)
        # extensions/ holds one binary; extension-runner with its exec wrapper, or a packaged
        # extension (layer/package-extension.sh): extensions/<name> + <name>/extension-runner.json
        # + <name>/wrapper + files.
        files="$(cd "$artifacts" && find . -mindepth 1 -not -type d | sort)"
        exts="$(grep '^\./extensions/' <<<"$files" || true)"
        if [[ "$(wc -l <<<"$exts")" != 1 || -z "$exts" ]]; then
          fail "$logical_id: extensions/ holds: $(tr '\n' ' ' <<<"$exts")"
          continue
        fi
        name="${exts#./extensions/}"
        if [[ "$name" == extension-runner ]]; then
          if [[ "$files" == $'./extension-runner/wrapper\n./extensions/extension-runner' ]]; then
            pass "$logical_id: ARTIFACTS_DIR holds exactly extensions/extension-runner and its wrapper"
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
    if cfn-lint "$template"; then pass "cfn-lint $template"; else fail "cfn-lint $template"; fi
  else
    echo "  skip cfn-lint not installed (pip install cfn-lint to check $template)"
  fi
}

# The architectures whose static dependencies were built before: no target may rebuild them.
deps_before="$(cd "$deps_cache" 2>/dev/null && ls -d ./*/.stamp 2>/dev/null | tr '\n' ' ' || true)"
[[ -n "$deps_before" ]] ||
  echo "  note: no static dependencies in $deps_cache yet: the first target builds them"

check_template "$root/template.yaml"

# A platform team's own project: its template and its extension's folder, with only a Makefile
# that hands the folder to this repository's generic target.
team="$work/team-project"
mkdir -p "$team/my-ext"
cp "$root/sdk/python/extension_runner.py" "$team/my-ext/"
cat >"$team/my-ext/main.py" <<'PY'
from extension_runner import Extension

ext = Extension()


@ext.on_invoke
def invoke(event, ctx):
    print("my-ext saw", ctx.request_id)


ext.run()
PY
printf '%s\n' "# The team's own file: only what SAM runs." "build-MyExtLayer:" \
  "	\$(MAKE) -C $root sam-extension-layer NAME=my-ext DIR=\$(CURDIR) ARCH=x86_64 \\" \
  "	  COMMAND='/var/lang/bin/python3 main.py'" >"$team/my-ext/Makefile"
cat >"$team/template.yaml" <<'YAML'
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Description: A platform team's own extension layer, built from its own folder
Resources:
  MyExtLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      LayerName: my-ext-x86_64
      ContentUri: my-ext/
      CompatibleArchitectures:
        - x86_64
      CompatibleRuntimes:
        - python3.12
        - python3.13
    Metadata:
      BuildMethod: makefile
      BuildArchitecture: x86_64
YAML
check_template "$team/template.yaml"
if [[ -f "$work/artifacts/MyExtLayer/my-ext/main.py" && ! -e "$work/artifacts/MyExtLayer/my-ext/Makefile" ]]; then
  pass "MyExtLayer: the team's files are in the layer, its Makefile is not"
else
  fail "MyExtLayer: $(cd "$work/artifacts/MyExtLayer" 2>/dev/null && find . -type f | tr '\n' ' ')"
fi

# The docs' `sam local invoke ... --event FILE` name files that exist.
while IFS= read -r event; do
  [[ -f "$root/$event" ]] && pass "docs: --event $event exists" || fail "docs: --event $event does not exist"
done < <(grep -ho -- '--event [^ `]*' "$root/README.md" "$root"/docs/*.md | awk '$2 != "-" {print $2}' | sort -u)

echo "test-sam-targets: $passed passed, $failed failed"
((failed == 0))
