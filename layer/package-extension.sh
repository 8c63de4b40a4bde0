#!/usr/bin/env bash
# Packages an extension built on extension-runner as one Lambda layer (docs/deploy.md):
#
#   extensions/<name>               the binary (mode 755): Lambda starts it, it registers as <name>
#   <name>/extension-runner.json    its configuration (read at start, see README "Configuration")
#   <name>/...                      the child runtime's files: everything in --dir but .git and
#                                   __pycache__, symlinks replaced by what they point to
#
# Nothing else: no /opt/lib, no /opt/bin (they are on the function's LD_LIBRARY_PATH and PATH).
# The configuration is copied from <dir>/extension-runner.json when it exists, else written from
# --command, --handler and --set KEY=VALUE (values as strings). Entries are sorted and dated
# 2000-01-01, so the same input gives the same zip.
#
# Before anything is written, the packaged binary runs `check` on the staged layer as Lambda
# would find it in /opt (no EXTENSION_RUNNER_* variable set; a binary of another architecture
# under qemu-user): a configuration Lambda mode would refuse, or a command naming a file that is
# not in the layer, fails the packaging with the check's words (paths shown as /opt/...), exit 2,
# and no zip (nor staged files) is left. Only the zip's path is printed on success, and the
# check's warnings.
#
# Usage: layer/package-extension.sh --name NAME --dir DIR --binary FILE (--zip OUT | --stage DIR)
#          [--command CMD] [--handler HANDLER] [--set KEY=VALUE]... [--exclude PATTERN]...
#   --zip OUT    write the layer zip OUT (replaced if present)
#   --stage DIR  write the layer's files into DIR (what `sam build` wants in $ARTIFACTS_DIR)
#   --exclude P  leave out DIR's files matching the tar pattern P (e.g. 'test_*.py')
set -euo pipefail

# Messages start with the extension's name once it is known to be a valid one.
prefix=package-extension
die() {
  echo "$prefix: $*" >&2
  exit 2
}

name="" dir="" binary="" zip="" stage="" command="" handler=""
sets=()
excludes=(--exclude=.git --exclude=__pycache__)
while (($#)); do
  case "$1" in
    --name | --dir | --binary | --zip | --stage | --command | --handler | --set | --exclude)
      (($# >= 2)) || die "$1 needs a value"
      case "$1" in
        --name) name="$2" ;;
        --dir) dir="$2" ;;
        --binary) binary="$2" ;;
        --zip) zip="$2" ;;
        --stage) stage="$2" ;;
        --command) command="$2" ;;
        --handler) handler="$2" ;;
        --set) sets+=("$2") ;;
        --exclude) excludes+=("--exclude=$2") ;;
      esac
      shift 2
      ;;
    *) die "unknown argument '$1' (see the usage in $0)" ;;
  esac
done

# The name is the file in /opt/extensions and the extension's Lambda-Extension-Name.
[[ -n "$name" ]] || die "NAME is required (the extension's name, e.g. NAME=my-ext)"
[[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] ||
  die "NAME '$name' must be a file name of letters, digits, '.', '_' and '-'"
case "$name" in
  extensions | bin | lib)
    die "NAME '$name' would put the child's files in /opt/$name (extensions: started by Lambda; bin, lib: on the function's PATH / LD_LIBRARY_PATH)"
    ;;
esac
prefix="$name"
[[ -n "$dir" ]] || die "DIR is required (the folder with the child's files)"
[[ -d "$dir" ]] || die "DIR '$dir' is not a folder"
[[ -n "$binary" && -f "$binary" ]] || die "binary '$binary' not found"
[[ -n "$zip" || -n "$stage" ]] || die "give --zip OUT or --stage DIR"
[[ -z "$zip" || -z "$stage" ]] || die "give --zip or --stage, not both"

config_in_dir="$dir/extension-runner.json"
if [[ -f "$config_in_dir" ]]; then
  if [[ -n "$command" || -n "$handler" || ${#sets[@]} -gt 0 ]]; then
    die "$config_in_dir exists and COMMAND/HANDLER/SETTINGS were given too: use one of them"
  fi
elif [[ -z "$command" ]]; then
  die "no configuration: give COMMAND (the child's command, run in /opt/$name) or put extension-runner.json in $dir"
fi
for kv in "${sets[@]}"; do
  [[ "$kv" == *=* && "${kv%%=*}" =~ ^[A-Z][A-Z0-9_]*$ ]] || die "SETTINGS entry '$kv' is not KEY=VALUE"
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
root="${stage:-$work/root}"
mkdir -p "$root"
if [[ -e "$root/extensions/$name" || -e "$root/$name" ]]; then
  die "$root already holds extensions/$name or $name/"
fi

install -D -m 755 "$binary" "$root/extensions/$name"
mkdir -p "$root/$name"
# -h: a symlinked file (an SDK shared with other examples) is copied as the file it names.
tar -C "$dir" -h "${excludes[@]}" -cf - . | tar -C "$root/$name" --no-same-owner -xf -
if [[ ! -f "$config_in_dir" ]]; then
  # JSON strings escaped by Python's json module (python3 is a build dependency).
  python3 - "$root/$name/extension-runner.json" "$command" "$handler" "${sets[@]}" <<'PY'
import json, sys
path, command, handler, *sets = sys.argv[1:]
config = {"EXTENSION_RUNNER_COMMAND": command}
if handler:
    config["EXTENSION_RUNNER_HANDLER"] = handler
for kv in sets:
    key, _, value = kv.partition("=")
    config[key] = value
with open(path, "w") as f:
    json.dump(config, f, indent=2)
    f.write("\n")
PY
fi
chmod 644 "$root/$name/extension-runner.json"
if [[ -e "$root/$name/wrapper" ]]; then
  rm -rf "${root:?}/extensions/$name" "${root:?}/$name"
  die "$dir holds a file named wrapper: /opt/$name/wrapper is the layer's exec wrapper (docs/proxy.md)"
fi
"$(dirname "$0")/write-wrapper.sh" "$name" "$root"
# Readable by everyone, executables 755, the rest 644: the layer does not depend on the umask.
find "$root/$name" -type d -exec chmod 755 {} +
find "$root/$name" -type f -perm /111 -exec chmod 755 {} +
find "$root/$name" -type f ! -perm /111 -exec chmod 644 {} +

# What runs the packaged binary here: nothing (this machine's architecture, or not an ELF file),
# else qemu-user for its architecture (ELF e_machine, little-endian: 0xb7 AArch64, 0x3e x86-64).
emulator_for() {
  local machine
  machine="$(od -An -tx1 -j18 -N2 "$1" 2>/dev/null | tr -d ' \n')"
  case "$(head -c4 "$1" | od -An -tx1 | tr -d ' \n'):$machine:$(uname -m)" in
    7f454c46:b700:aarch64 | 7f454c46:3e00:x86_64) ;;
    7f454c46:b700:*) echo qemu-aarch64-static ;;
    7f454c46:3e00:*) echo qemu-x86_64-static ;;
  esac
}

# The staged layer as Lambda unpacks it, seen through symlinks from a scratch root so that the
# binary finds <root>/<name>/extension-runner.json exactly as it finds /opt/<name>/... [CFG].
check_layer() {
  local farm="$work/check" emulator out code=0
  mkdir -p "$farm/extensions"
  ln -s "$(cd "$root/extensions" && pwd)/$name" "$farm/extensions/$name"
  ln -s "$(cd "$root/$name" && pwd)" "$farm/$name"
  emulator="$(emulator_for "$binary")"
  if [[ -n "$emulator" ]] && ! command -v "$emulator" >/dev/null; then
    unstage
    die "$emulator is needed to run the $(basename "$binary") binary for the configuration check (make layer-deps installs qemu-user-static)"
  fi
  # The build machine's environment is not the function's: nothing of it is passed.
  out="$(cd "$farm" && env -i ${emulator:+"$(command -v "$emulator")"} "$farm/extensions/$name" check 2>&1 >/dev/null)" ||
    code=$?
  [[ -z "$out" ]] || echo "${out//"$farm"//opt}" >&2
  ((code == 0)) && return
  unstage
  local source="DIR '$dir'"
  [[ -f "$config_in_dir" ]] || source+=", extension-runner.json written from COMMAND, HANDLER and SETTINGS"
  die "the configuration check failed (exit $code; /opt/$name is $source): no layer written"
}

# A refused layer leaves nothing behind, in --stage's folder either.
unstage() {
  rm -rf "${root:?}/extensions/$name" "${root:?}/$name"
  rmdir "$root/extensions" 2>/dev/null || true
}

check_layer

if [[ -n "$zip" ]]; then
  mkdir -p "$(dirname "$zip")"
  zip="$(cd "$(dirname "$zip")" && pwd)/$(basename "$zip")"
  rm -f "$zip"
  find "$root" -exec touch -h -d '2000-01-01 00:00:00' {} +
  (cd "$root" && find extensions "$name" -not -type d | LC_ALL=C sort | zip -X -q -9 "$zip" -@)
  echo "$zip"
else
  echo "$root: extensions/$name, $name/"
fi
