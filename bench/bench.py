#!/usr/bin/env python3
"""make bench: every path a user pays for, side by side, in one run (bench/README.md).

Usage: bench/bench.py --out-dir DIR --static BIN --dev BIN [--repeats N] [--invokes N]
       bench/bench.py --print bench/results/latest.json   (the table of a results file)
Runs each subject under bench_api (bench/floor/bench_api.c) REPEATS times, takes each run's
median (p50), and reports min / median / max of those over the repeats, as ratios to the floor
where the issue's targets are stated against it. Writes bench/results/latest.json and prints
one table. Never asserts: targets are reported as met or not.
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(cmd):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()


def machine():
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "compiler": sh("c++ --version | head -1"),
        "commit": sh(f"git -C {ROOT} rev-parse HEAD"),
        "dirty": bool(sh(f"git -C {ROOT} status --porcelain --untracked-files=no")),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "loadavg_start": open("/proc/loadavg").read().split()[:3],
    }


class Runner:
    def __init__(self, args):
        self.args = args
        self.api = os.path.join(args.out_dir, "bench_api")
        self.null_child = os.path.join(args.out_dir, "null_child")
        self.floor = os.path.join(args.out_dir, "floor_ext")

    def run(self, command, env=None, invokes=None, extra=(), child_times=False):
        """One bench_api run; returns its JSON."""
        env = dict(os.environ, **(env or {}))
        env.setdefault("AWS_LAMBDA_LOG_LEVEL", "WARN")
        with tempfile.TemporaryDirectory() as tmp:
            argv = [self.api, "--invokes", str(invokes or self.args.invokes), *extra]
            if child_times:
                times = os.path.join(tmp, "times")
                env["NULL_CHILD_TIMES"] = times
                argv += ["--child-times", times]
            argv += ["--", *command]
            out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
            if out.returncode != 0 or not out.stdout.strip():
                raise RuntimeError(f"{' '.join(command)}: {out.stderr}")
            result = json.loads(out.stdout.strip().splitlines()[-1])
            if result["exit_code"] != 0:
                sys.stderr.write(f"warning: {' '.join(command)} exited {result['exit_code']}\n")
            return result

    def repeat(self, name, fn):
        runs = []
        for _ in range(self.args.repeats):
            runs.append(fn())
        sys.stderr.write(f"  {name}: {len(runs)} runs\n")
        return runs


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def p50(run, key):
    v = run.get(key)
    return v["p50"] if isinstance(v, dict) else v


def memory_loads(tests, binary):
    """One run of the memory and load integration tests; {name: {increase_kb, bound_kb}}."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "figures")
        env = dict(os.environ, ER_BINARY=binary, ER_BENCH_OUT=out, ER_LOAD_POSTERS="8",
                   ER_LOAD_BATCHES="500")
        # One process per test: the host's getrusage peak (the memory test's figure) also counts
        # the RSS of the process that forked it, i.e. of a test binary that ran the load before.
        for spec in ("telemetry memory*", "load: concurrent*"):
            subprocess.run([tests, spec], env=env, capture_output=True, timeout=600)
        figures = {}
        for line in open(out).read().splitlines() if os.path.exists(out) else []:
            m = re.search(r"\(\+(-?\d+) kB; bound (\d+) kB\)", line)
            if m:
                name = "memory" if line.startswith("telemetry memory") else "load"
                figures[name] = {"increase_kb": int(m.group(1)), "bound_kb": int(m.group(2))}
        return figures


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--print":  # reprint a results file's table
        with open(sys.argv[2]) as f:
            print_table(json.load(f))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--static", required=True)
    ap.add_argument("--dev", required=True)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--invokes", type=int, default=300)
    ap.add_argument("--results", default=os.path.join(ROOT, "bench", "results", "latest.json"))
    args = ap.parse_args()
    info = machine()  # before the runs: the load average at start
    r = Runner(args)
    py_ext = os.path.join(ROOT, "bench", "python_ext.py")
    py_child = os.path.join(ROOT, "examples", "python", "runner.py")
    node_child = os.path.join(ROOT, "examples", "node", "runner.js")
    null = f"exec {r.null_child}"
    subjects = {
        "floor": ([r.floor], {}),
        "static": ([args.static], {}),
        "dev": ([args.dev], {}),
        "python": (["python3", py_ext], {}),
    }
    with_child = {
        "static": ([args.static], {"EXTENSION_RUNNER_COMMAND": null}),
        "dev": ([args.dev], {"EXTENSION_RUNNER_COMMAND": null}),
        "python": (["python3", py_ext], {"BENCH_CHILD": null}),
    }
    raw = {"no_child": {}, "null_child": {}, "first_next": {}, "telemetry": {}, "flush": {}}
    sys.stderr.write("no child:\n")
    for name, (cmd, env) in subjects.items():
        raw["no_child"][name] = r.repeat(name, lambda: r.run(cmd, env))
    sys.stderr.write("null child:\n")
    for name, (cmd, env) in with_child.items():
        raw["null_child"][name] = r.repeat(name, lambda: r.run(cmd, env, child_times=True))
    sys.stderr.write("spawn -> first /next with an example child:\n")
    first = {
        "static python init": ([args.static], {"EXTENSION_RUNNER_COMMAND": f"exec python3 {py_child}"}),
        "static python background": ([args.static], {"EXTENSION_RUNNER_COMMAND": f"exec python3 {py_child}",
                                                     "EXTENSION_RUNNER_CHILD_START": "background"}),
        "python host, python child": (["python3", py_ext], {"BENCH_CHILD": f"exec python3 {py_child}"}),
    }
    if sh("command -v node"):
        first["static node init"] = ([args.static], {"EXTENSION_RUNNER_COMMAND": f"exec node {node_child}"})
        first["static node background"] = ([args.static], {"EXTENSION_RUNNER_COMMAND": f"exec node {node_child}",
                                                           "EXTENSION_RUNNER_CHILD_START": "background"})
    for name, (cmd, env) in first.items():
        raw["first_next"][name] = r.repeat(name, lambda: r.run(cmd, env, invokes=3))
    sys.stderr.write("telemetry (listener POSTs, records to a counting child):\n")
    tel_env = {"EXTENSION_RUNNER_COMMAND": null, "EXTENSION_RUNNER_TELEMETRY": "telemetry",
               "EXTENSION_RUNNER_TELEMETRY_TYPES": "function", "EXTENSION_RUNNER_LISTEN": "127.0.0.1:0"}
    for name, binary in (("static", args.static), ("dev", args.dev)):
        raw["telemetry"][name] = r.repeat(name, lambda: r.run(
            [binary], tel_env, invokes=3, extra=["--posts", "100", "--records", "1000"],
            child_times=True))
    # The memory bound of the telemetry issue (peak RSS ≤ the RSS before + queue bytes + 4 MB) under
    # the two saturating loads of the integration tests, run against the static release binary.
    tests = os.path.join(os.path.dirname(args.dev), "integration_tests")
    if os.access(tests, os.X_OK):
        sys.stderr.write("telemetry memory under saturating loads (integration tests, static binary):\n")
        raw["telemetry_memory"] = r.repeat("static", lambda: memory_loads(tests, args.static))
    sys.stderr.write("post-runtime extension time per flush strategy (emulate --json):\n")
    for strategy in ("invoke", "periodic", "adaptive"):
        runs = []
        for _ in range(args.repeats):
            out = subprocess.run([args.static, "emulate", "--json", "--telemetry", "--invokes", "50",
                                  "--flush", strategy, "--runtime", null],
                                 capture_output=True, text=True, timeout=300,
                                 env=dict(os.environ, AWS_LAMBDA_LOG_LEVEL="WARN"))
            summary = [l for l in out.stdout.splitlines() if '"what":"summary"' in l]
            runs.append(json.loads(summary[-1]) if summary else {})
        raw["flush"][strategy] = runs
        sys.stderr.write(f"  {strategy}: {len(runs)} runs\n")

    # ---- figures ----
    nc, ch = raw["no_child"], raw["null_child"]
    def fig(runs, key):
        return spread([p50(x, key) for x in runs])
    floor_reg = fig(nc["floor"], "spawn_to_register_ms")
    floor_inv = fig(nc["floor"], "per_invoke_ms")
    rows = []

    def row(path, unit, values, target=None, met=None):
        rows.append({"path": path, "unit": unit, "values": values, "target": target, "met": met})

    cols = ["static", "dev", "floor", "python"]
    reg = {k: fig(nc[k], "spawn_to_register_ms") for k in cols}
    inv = {k: fig(nc[k], "per_invoke_ms") for k in cols}
    rss = {k: spread([x["vm_hwm_kb"] / 1024 for x in nc[k]]) for k in cols}
    share = {k: fig(ch[k], "host_share_ms") for k in ("static", "dev", "python")}
    rss_child = {k: spread([x["vm_hwm_kb"] / 1024 for x in ch[k]]) for k in ("static", "dev", "python")}
    med = lambda d: d["median"] if d else None
    row("spawn → register, no child", "ms", reg,
        "≤ floor + 0.3 ms", med(reg["static"]) <= med(reg["floor"]) + 0.3)
    row("per invoke, no child (INVOKE sent → next /next), p50", "ms", inv,
        "≤ floor + 0.04 ms", med(inv["static"]) <= med(inv["floor"]) + 0.04)
    row("per invoke with a null child, host's share, p50", "ms", share,
        "≤ no-child + 0.08 ms and ≤ 0.4 × Python",
        med(share["static"]) <= med(inv["static"]) + 0.08 and med(share["static"]) <= 0.4 * med(share["python"]))
    row("peak RSS, no child (VmHWM before SHUTDOWN)", "MB", rss, "≤ 2.0 MB", med(rss["static"]) <= 2.0)
    row("peak RSS of the host, null child, no telemetry", "MB", rss_child, "≤ 2.5 MB",
        med(rss_child["static"]) <= 2.5)
    fn = {k: fig(v, "spawn_to_first_next_ms") for k, v in raw["first_next"].items()}
    for k, v in fn.items():
        row(f"spawn → first /next: {k}", "ms", {"static" if k.startswith("static") else "python": v})
    tel = raw["telemetry"]
    post = {k: fig(v, "post_ms") for k, v in tel.items()}
    rps = {k: spread([x.get("records_per_s") for x in v]) for k, v in tel.items()}
    trss = {k: spread([x.get("vm_hwm_after_posts_kb", 0) / 1024 for x in v]) for k, v in tel.items()}
    row("telemetry: listener answers a 1,000-record POST, p50", "ms", post, "≤ 1 ms",
        med(post["static"]) is not None and med(post["static"]) <= 1.0)
    row("telemetry: records/s reaching a counting child (100 × 1,000 records)", "records/s", rps,
        "≥ 500,000", med(rps["static"]) is not None and med(rps["static"]) >= 500000)
    row("telemetry: peak RSS under that load", "MB", trss)
    tinc = {k: spread([(x["vm_hwm_after_posts_kb"] - x["vm_rss_before_posts_kb"]) / 1024 for x in v
                       if x.get("vm_rss_before_posts_kb", -1) > 0]) for k, v in tel.items()}
    row("telemetry: peak RSS increase over the RSS before the POSTs", "MB", tinc,
        "≤ queue bytes + 4 MB (12 MB)", med(tinc["static"]) is not None and med(tinc["static"]) <= 12.0)
    loads = {"memory": "1 poster × 50 × 1,000 records, retried 503s",
             "load": "8 posters × 500 × 1,000 records"}
    for key, what in loads.items():
        runs = [x[key] for x in raw.get("telemetry_memory", []) if key in x]
        if not runs:
            continue
        inc = spread([x["increase_kb"] / 1024 for x in runs])
        bound = runs[0]["bound_kb"] / 1024
        row(f"telemetry: peak RSS increase, saturating load to a slow child ({what})", "MB",
            {"static": inc}, f"≤ queue bytes + 4 MB ({bound:.0f} MB)",
            all(x["increase_kb"] <= x["bound_kb"] for x in runs))
    for strategy, runs in raw["flush"].items():
        values = [x.get("post_runtime_ms", {}).get("p50") for x in runs]
        row(f"post-runtime extension time, FLUSH={strategy} (emulate, 50 invokes), p50", "ms",
            {"static": spread(values)})
    size = os.path.getsize(args.static)
    zpath = os.path.join(args.out_dir, "layer-x86_64.zip")
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.write(args.static, "extensions/extension-runner")
    zsize = os.path.getsize(zpath)
    row("static binary / layer zip (x86_64)", "MB",
        {"static": {"min": size / 1e6, "median": size / 1e6, "max": size / 1e6},
         "zip": {"min": zsize / 1e6, "median": zsize / 1e6, "max": zsize / 1e6}}, "zip ≤ 1.5 MB",
        zsize <= 1500000)

    result = {"machine": info, "repeats": args.repeats, "invokes_per_run": args.invokes,
              "rows": rows, "raw": raw}
    result["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    os.makedirs(os.path.dirname(args.results), exist_ok=True)
    with open(args.results, "w") as f:
        json.dump(result, f, indent=1)
    print_table(result)


def fmt(v, unit):
    if v is None:
        return "—"
    if unit == "records/s":
        return f"{v['median']/1000:.0f}k ({v['min']/1000:.0f}k–{v['max']/1000:.0f}k)"
    digits = 3 if v["median"] < 1 else 2 if v["median"] < 10 else 1
    return f"{v['median']:.{digits}f} ({v['min']:.{digits}f}–{v['max']:.{digits}f})"


def print_table(result):
    m = result["machine"]
    print(f"make bench: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}, {m['compiler']}")
    print(f"commit {m['commit'][:12]}{' (dirty)' if m['dirty'] else ''}, {m['date_utc']}, "
          f"load {' '.join(m['loadavg_start'])} → {' '.join(m['loadavg_end'])}; "
          f"{result['repeats']} repeats × {result['invokes_per_run']} invokes; "
          "median of per-run p50 (min–max over repeats)")
    print()
    print("| path | static release | dev build | floor | Python | ×floor (static) | target | met |")
    print("|---|---|---|---|---|---|---|---|")
    for r in result["rows"]:
        v = r["values"]
        ratio = ""
        if v.get("floor") and v.get("static") and v["floor"]["median"] > 0:
            ratio = f"{v['static']['median'] / v['floor']['median']:.1f}×"
        static = fmt(v.get("static"), r["unit"])
        if "zip" in v:
            static = f"{v['static']['median']:.2f} / {v['zip']['median']:.2f}"
        print(f"| {r['path']} ({r['unit']}) | {static} | {fmt(v.get('dev'), r['unit'])} | "
              f"{fmt(v.get('floor'), r['unit'])} | {fmt(v.get('python'), r['unit'])} | {ratio} | "
              f"{r['target'] or ''} | {'' if r['met'] is None else ('yes' if r['met'] else 'NO')} |")


if __name__ == "__main__":
    main()
