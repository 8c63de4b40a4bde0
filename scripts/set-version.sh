#!/usr/bin/env bash
# Sets the project's one version everywhere it is written: VERSION (read by CMakeLists.txt for
# the binary's --version), the Python SDK (pyproject.toml, extension_runner.__version__) and the
# Node.js SDK (package.json). tests/scripts/version_test.sh checks they agree.
#
# Usage: scripts/set-version.sh X.Y.Z [repository root, default this one]
set -euo pipefail
version="${1:-}"
root="${2:-$(cd "$(dirname "$0")/.." && pwd)}"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || {
  echo "set-version: '$version' is not X.Y.Z (numbers)" >&2
  exit 2
}
python3 - "$version" "$root" <<'PY'
import json, re, sys
version, root = sys.argv[1:]

def substitute(path, pattern, replacement):
    text = open(path).read()
    new, count = re.subn(pattern, replacement, text, count=1, flags=re.M)
    if count != 1:
        sys.exit("set-version: no version found in %s" % path)
    open(path, "w").write(new)

open(root + "/VERSION", "w").write(version + "\n")
substitute(root + "/sdk/python/pyproject.toml", r'^version = "[^"]*"$', 'version = "%s"' % version)
substitute(root + "/sdk/python/extension_runner.py", r'^__version__ = "[^"]*"$', '__version__ = "%s"' % version)
path = root + "/sdk/node/package.json"
package = json.load(open(path))
package["version"] = version
with open(path, "w") as f:
    json.dump(package, f, indent=2)
    f.write("\n")
PY
echo "version $version"
