#!/usr/bin/env bash
# Layer tests: each build/layer/extension-runner-<arch>.zip is unzipped into an otherwise empty
# directory tree (its /opt) and run there with chroot, so any dependency on the build machine's
# files (shared libraries, loader, /etc) shows up as a failure.
#
#   - the zip holds exactly extensions/extension-runner (mode 755) and the exec wrapper
#     extension-runner/wrapper
#   - the binary has no dynamic section and no program interpreter (fully static)
#   - zipped size within the budget (argument 2, bytes); sizes are printed
#   - `--version` runs in the chroot; arm64 runs under qemu-aarch64-static, copied into the
#     chroot as /usr/bin/qemu-aarch64-static (binfmt_misc is often unavailable in containers)
#   - against a closed port (127.0.0.1:1) the binary exits 1 and logs "connection refused …
#     (CURLcode 7, errno 111)": our words, not the static libcurl's (it has none)
#   - a lifecycle run against the fake Extensions API, which stays outside the chroot: the
#     integration tests (ER_INTEGRATION_TESTS, default build/bin/integration_tests) run with
#     ER_BINARY pointing at a wrapper that execs the chrooted binary; ER_LAYER_LIFECYCLE_TESTS
#     selects the Catch2 test cases.
#   - with ER_TEST_PACKAGE=<name>: build/layer/<name>-<arch>.zip (`make extension-layer`, the
#     shell child of tests/data/shell-child) holds only extensions/<name> and <name>/, and runs
#     in its own chroot with a static busybox as /bin/sh and nothing else: the integration test
#     "package: a packaged layer runs its child…" drives it through ER_PACKAGED_RUN, with no
#     EXTENSION_RUNNER_* variable set.
#
# Usage: layer/test-layer.sh <layer-dir> <max-zip-bytes>
set -euo pipefail

layer_dir="${1:?usage: $0 <layer-dir> <max-zip-bytes>}"
max_zip="${2:?usage: $0 <layer-dir> <max-zip-bytes>}"
integration_tests="${ER_INTEGRATION_TESTS:-build/bin/integration_tests}"
# Every lifecycle test but the one that symlinks the binary under another name: through the
# chroot wrapper the file that runs is always /opt/extensions/extension-runner.
if [[ -n "${ER_LAYER_LIFECYCLE_TESTS:-}" ]]; then
  lifecycle_tests=("$ER_LAYER_LIFECYCLE_TESTS")
else
  lifecycle_tests=('lifecycle:*' '~lifecycle: the name follows*')
fi

# shellcheck source=layer/test-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/test-lib.sh"

for arch in x86_64 arm64; do
  zip="$layer_dir/extension-runner-$arch.zip"
  echo "layer $arch: $zip"
  if [[ ! -f "$zip" ]]; then
    fail "$arch: $zip missing (run make layer)"
    continue
  fi

  entries="$(unzip -Z1 "$zip")"
  if [[ "$entries" == $'extensions/extension-runner\nextension-runner/wrapper' ]]; then
    pass "$arch: zip holds exactly extensions/extension-runner and extension-runner/wrapper"
  else
    fail "$arch: zip entries are: $(tr '\n' ' ' <<<"$entries")"
  fi
  mode="$(unzip -Z "$zip" extensions/extension-runner | awk '{print $1}')"
  [[ "$mode" == "-rwxr-xr-x" ]] && pass "$arch: mode $mode" || fail "$arch: mode is $mode, want -rwxr-xr-x"
  wrapper="$(unzip -p "$zip" extension-runner/wrapper)"
  [[ "$wrapper" == $'#!/bin/sh\nexec /opt/extensions/extension-runner wrap -- "$@"' ]] &&
    pass "$arch: the exec wrapper runs extensions/extension-runner wrap" ||
    fail "$arch: extension-runner/wrapper is '$wrapper'"

  zipped=$(stat -c %s "$zip")
  unzipped=$(unzip -Zt "$zip" | awk '{for (i = 1; i <= NF; i++) if ($i == "bytes") print $(i - 1); exit}')
  awk -v a="$arch" -v z="$zipped" -v u="$unzipped" -v b="$max_zip" 'BEGIN {
    printf "  size %-6s zipped %8d bytes (%.2f MB), unzipped %8d bytes (%.2f MB), budget %d bytes\n",
      a, z, z / 1e6, u, u / 1e6, b }'
  ((zipped <= max_zip)) && pass "$arch: zipped size within budget" ||
    fail "$arch: zipped size $zipped > budget $max_zip"

  root="$work/root-$arch"
  mkdir -p "$root/opt"
  unzip -q "$zip" -d "$root/opt"
  bin="$root/opt/extensions/extension-runner"

  if readelf -d "$bin" 2>&1 | grep -q "There is no dynamic section"; then
    pass "$arch: no dynamic section"
  else
    fail "$arch: has a dynamic section: $(readelf -d "$bin" | grep NEEDED | tr -s ' ' | tr '\n' ';')"
  fi
  if readelf -lW "$bin" | grep -q INTERP; then
    fail "$arch: has a program interpreter"
  else
    pass "$arch: no program interpreter"
  fi

  run=(chroot "$root")
  if [[ "$arch" == arm64 ]]; then
    qemu="$(command -v qemu-aarch64-static || true)"
    if [[ -z "$qemu" ]]; then
      fail "$arch: qemu-aarch64-static not installed (make layer-deps)"
      continue
    fi
    install -D -m 755 "$qemu" "$root/usr/bin/qemu-aarch64-static"
    run+=(/usr/bin/qemu-aarch64-static)
  fi
  run+=(/opt/extensions/extension-runner)

  if version="$("${run[@]}" --version 2>&1)"; then
    pass "$arch: --version in chroot: $(head -n1 <<<"$version")"
  else
    fail "$arch: --version in chroot failed: $version"
  fi

  # The static libcurl has its error strings compiled out: the binary must still say what
  # happened, in the same words as the development build, with the CURLcode. Port 1 is closed.
  set +e
  refused="$(AWS_LAMBDA_RUNTIME_API=127.0.0.1:1 "${run[@]}" 2>&1)"
  refused_rc=$?
  set -e
  if ((refused_rc == 1)) && grep -q "connection refused" <<<"$refused" &&
     grep -q "(CURLcode 7, errno 111)" <<<"$refused" && grep -q "AWS_LAMBDA_RUNTIME_API" <<<"$refused"; then
    pass "$arch: closed port: $(grep -o 'connection refused.*errno 111)' <<<"$refused" | head -n1)"
  else
    fail "$arch: closed port (exit $refused_rc): $refused"
  fi

  # The fake API listens on 127.0.0.1 outside the chroot; chroot does not change the network.
  wrapper="$work/wrap-$arch/extension-runner"
  mkdir -p "$(dirname "$wrapper")"
  printf '#!/bin/sh\nexec %s "$@"\n' "$(printf '%q ' "${run[@]}")" >"$wrapper"
  chmod 755 "$wrapper"
  if [[ -x "$integration_tests" ]] &&
     [[ -n "$("$integration_tests" --list-test-names-only "${lifecycle_tests[@]}" 2>/dev/null | grep -v '^$' || true)" ]]; then
    if ER_BINARY="$wrapper" "$integration_tests" "${lifecycle_tests[@]}" >"$work/lifecycle-$arch.log" 2>&1; then
      pass "$arch: lifecycle in chroot ($(grep -E "^All tests passed|^test cases" "$work/lifecycle-$arch.log" | tail -n1))"
    else
      tail -n 40 "$work/lifecycle-$arch.log"
      fail "$arch: lifecycle in chroot"
    fi
  else
    fail "$arch: no lifecycle tests '${lifecycle_tests[*]}' in $integration_tests (build the development build first)"
  fi
done

# The packaged extension layer: the same lifecycle, configured only by the layer's own file.
package="${ER_TEST_PACKAGE:-}"
busybox="$(command -v busybox || true)"
for arch in x86_64 arm64; do
  [[ -n "$package" ]] || break
  zip="$layer_dir/$package-$arch.zip"
  echo "packaged layer $arch: $zip"
  if [[ ! -f "$zip" ]]; then
    fail "$arch: $zip missing (make extension-layer NAME=$package ARCH=$arch)"
    continue
  fi
  entries="$(unzip -Z1 "$zip")"
  others="$(grep -v -x -e "extensions/$package" -e "$package/.*" <<<"$entries" || true)"
  [[ -z "$others" ]] && pass "$arch: zip holds only extensions/$package and $package/" ||
    fail "$arch: zip also holds: $(tr '\n' ' ' <<<"$others")"
  grep -q -x "$package/extension-runner.json" <<<"$entries" &&
    pass "$arch: $package/extension-runner.json present" ||
    fail "$arch: no $package/extension-runner.json"
  if [[ -z "$busybox" ]] || readelf -d "$busybox" 2>&1 | grep -q NEEDED; then
    fail "$arch: a static busybox is needed for the shell child (make layer-deps installs busybox-static)"
    continue
  fi
  root="$work/package-$arch"
  mkdir -p "$root/opt" "$root/bin"
  unzip -q "$zip" -d "$root/opt"
  # The child's /bin/sh runs natively even under qemu: qemu-user hands exec to the kernel.
  install -m 755 "$busybox" "$root/bin/busybox"
  ln -s busybox "$root/bin/sh"
  run=(chroot "$root")
  if [[ "$arch" == arm64 ]]; then
    qemu="$(command -v qemu-aarch64-static || true)"
    [[ -n "$qemu" ]] || { fail "$arch: qemu-aarch64-static not installed"; continue; }
    install -D -m 755 "$qemu" "$root/usr/bin/qemu-aarch64-static"
    run+=(/usr/bin/qemu-aarch64-static)
  fi
  run+=("/opt/extensions/$package")
  wrapper="$work/wrap-package-$arch/$package"
  mkdir -p "$(dirname "$wrapper")"
  printf '#!/bin/sh\nexec %s "$@"\n' "$(printf '%q ' "${run[@]}")" >"$wrapper"
  chmod 755 "$wrapper"
  spec='package: a packaged layer runs its child*'
  if ER_PACKAGED_RUN="$wrapper" ER_PACKAGED_FOLDER="/opt/$package" "$integration_tests" "$spec" \
      >"$work/package-$arch.log" 2>&1; then
    pass "$arch: packaged layer in chroot, configured by its file only ($(grep -E "^All tests passed|^test cases" "$work/package-$arch.log" | tail -n1))"
  else
    tail -n 40 "$work/package-$arch.log"
    fail "$arch: packaged layer in chroot"
  fi
done

echo "test-layer: $passed passed, $failed failed"
((failed == 0))
