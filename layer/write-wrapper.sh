#!/bin/sh
# Writes ROOT/NAME/wrapper, the exec wrapper a function names in AWS_LAMBDA_EXEC_WRAPPER
# (/opt/NAME/wrapper) to run its runtime through the extension's Runtime API proxy
# (docs/proxy.md): `extension-runner wrap` points the runtime at the proxy, or runs it unchanged
# when the proxy is off. Mode 755, dated 2000-01-01 like the rest of a layer, so the same input
# gives the same zip.
#
# Usage: layer/write-wrapper.sh NAME ROOT
set -eu
[ "$#" -eq 2 ] && [ -n "$1" ] || { echo "usage: $0 NAME ROOT" >&2; exit 2; }
name=$1 root=$2
mkdir -p "$root/$name"
printf '#!/bin/sh\nexec /opt/extensions/%s wrap -- "$@"\n' "$name" >"$root/$name/wrapper"
chmod 755 "$root/$name/wrapper"
touch -d '2000-01-01 00:00:00' "$root/$name/wrapper"
