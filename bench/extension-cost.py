#!/usr/bin/env python3
"""What an extension built on extension-runner costs a function (docs/platform-teams.md).

Usage: bench/extension-cost.py [--binary BIN] [--repeats N] [--invokes N] [--out FILE]
  BIN: the binary measured (default build/static-x86_64/bin/extension-runner, the layer's; else
  build/bin/extension-runner). Builds bench_api (bench/floor/bench_api.c) into build/bench.

Measures, each REPEATS times (median, min-max in brackets):
  memory   peak RSS (VmHWM, read before SHUTDOWN by bench_api) of the host process and, summed,
           of its descendants (the child runtime), for no child and for the example children
           and extensions in Python and Node.js: what the function's memory shares with them;
  init     spawn -> first /next (what the function's init waits for) with
           EXTENSION_RUNNER_CHILD_START=init and =background;
  flush    the post-runtime extension time per flush strategy (what Lambda bills after the
           runtime's response, PostRuntimeExtensionsDuration [EXT]) from `emulate --json` with
           the Python example child: 20 invocations (an environment's first ones, or any that come
           more than 60 s apart: adaptive waits then), and 100 back to back (adaptive stops waiting);
  backend  the same for the two log forwarders with their endpoint down (connection refused).
Prints Markdown tables; --out also writes the raw figures as JSON. Never asserted by a test.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
NODE = "node"

# (label, EXTENSION_RUNNER_COMMAND, extra environment); "exec" so the child is the host's own.
CHILDREN = [
    ("no child", "", {}),
    ("Python: examples/python/runner.py (echo handler)", "exec %s examples/python/runner.py" % PY, {}),
    ("Python: examples/emf-metrics", "exec %s examples/emf-metrics/emf_metrics.py" % PY, {}),
    ("Python: examples/log-forwarder-python", "exec %s examples/log-forwarder-python/log_forwarder.py" % PY,
     {"LOG_FORWARDER_URL": "http://127.0.0.1:1/"}),
    ("Node.js: examples/node/runner.js (echo handler)", "exec %s examples/node/runner.js" % NODE, {}),
    ("Node.js: examples/log-forwarder", "exec %s examples/log-forwarder/log-forwarder.js" % NODE,
     {"LOG_FORWARDER_URL": "http://127.0.0.1:1/"}),
]


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def fmt(s, digits=1):
    if s is None:
        return "—"
    f = "%%.%df" % digits
    if s["min"] == s["max"]:
        return f % s["median"]
    return (f + " (" + f + "–" + f + ")") % (s["median"], s["min"], s["max"])


def bench_api():
    out = os.path.join(ROOT, "build", "bench", "bench_api")
    src = os.path.join(ROOT, "bench", "floor", "bench_api.c")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        subprocess.run([os.environ.get("CC", "cc"), "-O2", "-Wall", "-Wextra", "-Werror", "-o", out, src],
                       check=True)
    return out


def lambda_run(api, binary, command, env, invokes):
    """One run of the binary in Lambda mode against bench_api; its JSON."""
    full = dict(os.environ, AWS_LAMBDA_LOG_LEVEL="WARN", EXTENSION_RUNNER_COMMAND=command, **env)
    for k in ("EXTENSION_RUNNER_CONFIG", "EXTENSION_RUNNER_TELEMETRY", "EXTENSION_RUNNER_CHILD_START"):
        if k not in env:
            full.pop(k, None)
    out = subprocess.run([api, "--invokes", str(invokes), "--", binary], env=full, cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["exit_code"] != 0:
        sys.stderr.write("warning: %s exited %d\n" % (command or "no child", result["exit_code"]))
    return result


def emulate_post_runtime(binary, command, scenario, flush, env=None):
    """post_runtime_ms {count, p50, p99, max} of one `emulate --json` run."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(scenario, f)
        path = f.name
    try:
        args = [binary, "emulate", "--json", "--telemetry", "--scenario", path, "--runtime", command]
        if flush:
            args += ["--flush", flush]
        full = dict(os.environ, AWS_LAMBDA_LOG_LEVEL="WARN", **(env or {}))
        full.pop("AWS_LAMBDA_RUNTIME_API", None)
        out = subprocess.run(args, env=full, cwd=ROOT, capture_output=True, text=True, timeout=600)
        summary = [json.loads(l) for l in out.stdout.splitlines() if '"what":"summary"' in l]
        return summary[-1]["post_runtime_ms"] if summary else None
    finally:
        os.unlink(path)


def measure(args):
    api = bench_api()
    raw = {"memory": {}, "init": {}, "flush": {}, "backend": {}}
    sys.stderr.write("memory and init (bench_api, %d invokes, %d repeats)\n" % (args.invokes, args.repeats))
    for label, command, env in CHILDREN:
        runs = [lambda_run(api, args.binary, command, env, args.invokes) for _ in range(args.repeats)]
        raw["memory"][label] = runs
        sys.stderr.write("  %s\n" % label)
    for label, command, env in CHILDREN[1:2] + CHILDREN[4:5]:
        for start in ("init", "background"):
            key = "%s, %s" % (label.split(":")[0], start)
            raw["init"][key] = [lambda_run(api, args.binary, command,
                                           dict(env, EXTENSION_RUNNER_CHILD_START=start), 3)
                                for _ in range(args.repeats)]
            sys.stderr.write("  init %s\n" % key)
    sys.stderr.write("flush strategies (emulate)\n")
    py_runner = CHILDREN[1][1]
    for flush in ("invoke", "adaptive", "periodic"):
        for invokes in (20, 100):
            raw["flush"]["%s/%d" % (flush, invokes)] = [
                emulate_post_runtime(args.binary, py_runner, {"invokes": invokes, "durationMs": 5}, flush)
                for _ in range(args.repeats)]
        sys.stderr.write("  %s\n" % flush)
    sys.stderr.write("log forwarders, endpoint down (emulate)\n")
    for label, command, env in (CHILDREN[3], CHILDREN[5]):
        for flush in ("adaptive", "periodic"):
            raw["backend"]["%s/%s" % (label, flush)] = [
                emulate_post_runtime(args.binary, command,
                                     {"invokes": 20, "durationMs": 5, "spacingMs": 50}, flush, env)
                for _ in range(args.repeats)]
        sys.stderr.write("  %s\n" % label)
    return raw


def report(raw, binary):
    lines = ["binary: %s; load average %s" % (os.path.relpath(binary, ROOT), open("/proc/loadavg").read().split()[:3]),
             "", "| child | host peak RSS (MB) | child peak RSS (MB) | together (MB) |", "|---|---|---|---|"]
    for label, runs in raw["memory"].items():
        host = spread([r["vm_hwm_kb"] / 1024 for r in runs])
        child = spread([r["children_vm_hwm_kb"] / 1024 for r in runs if r["children_vm_hwm_kb"] > 0])
        total = spread([(r["vm_hwm_kb"] + max(0, r["children_vm_hwm_kb"])) / 1024 for r in runs])
        lines.append("| %s | %s | %s | %s |" % (label, fmt(host), fmt(child), fmt(total)))
    lines += ["", "| child, EXTENSION_RUNNER_CHILD_START | spawn → first /next (ms) |", "|---|---|"]
    for key, runs in raw["init"].items():
        lines.append("| %s | %s |" % (key, fmt(spread([r["spawn_to_first_next_ms"] for r in runs]))))
    lines += ["", "| EXTENSION_RUNNER_FLUSH | post-runtime p50 / p99, 20 invocations (ms) | "
              "p50 / p99, 100 back to back (ms) |", "|---|---|---|"]
    for flush in ("invoke", "adaptive", "periodic"):
        cells = []
        for invokes in (20, 100):
            runs = [r for r in raw["flush"]["%s/%d" % (flush, invokes)] if r]
            cells.append("%s / %s" % (fmt(spread([r["p50"] for r in runs])), fmt(spread([r["p99"] for r in runs]))))
        lines.append("| `%s` | %s | %s |" % (flush, cells[0], cells[1]))
    lines += ["", "| log forwarder, endpoint down | EXTENSION_RUNNER_FLUSH | post-runtime p50 / p99 (ms) |",
              "|---|---|---|"]
    for key, runs in raw["backend"].items():
        label, flush = key.rsplit("/", 1)
        runs = [r for r in runs if r]
        lines.append("| %s | `%s` | %s / %s |" % (label.split(": ")[1], flush,
                                                   fmt(spread([r["p50"] for r in runs])),
                                                   fmt(spread([r["p99"] for r in runs]))))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    default = os.path.join(ROOT, "build", "static-x86_64", "bin", "extension-runner")
    if not os.access(default, os.X_OK):
        default = os.path.join(ROOT, "build", "bin", "extension-runner")
    ap.add_argument("--binary", default=default)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--invokes", type=int, default=50)
    ap.add_argument("--out")
    args = ap.parse_args()
    args.binary = os.path.abspath(args.binary)
    raw = measure(args)
    print(report(raw, args.binary))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"binary": os.path.relpath(args.binary, ROOT), "raw": raw}, f, indent=1)


if __name__ == "__main__":
    main()
