#!/usr/bin/env python3
"""Two builds of the static binary side by side, interleaved, on the rows a change moves.

Usage: bench/compare.py [--rounds N] [--out-dir build/bench] BEFORE AFTER
(after `bench/build-floor.sh`). Each round runs the floor, BEFORE and AFTER once each with no
child and BEFORE and AFTER with the null child (300 invokes), so that the load of a shared
machine falls on all of them alike; spawn -> register and per invoke are also given as each
run's difference to the floor run of the same round. Prints medians over the rounds (min-max
in brackets). Never asserts; `make bench` stays the reference table.
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (bench/bench.py: Runner, p50, drop_from_page_cache)


def summary(values, digits):
    return (f"{statistics.median(values):.{digits}f} "
            f"({min(values):.{digits}f}-{max(values):.{digits}f})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--invokes", type=int, default=300)
    ap.add_argument("--out-dir", default=os.path.join(bench.ROOT, "build", "bench"))
    args = ap.parse_args()
    r = bench.Runner(argparse.Namespace(out_dir=args.out_dir, invokes=args.invokes))
    subjects = {"before": args.before, "after": args.after}
    for binary in (r.floor, *subjects.values()):
        bench.drop_from_page_cache(binary)
    null = {"EXTENSION_RUNNER_COMMAND": f"exec {r.null_child}"}
    rows = {k: {"register - floor (ms)": [], "per invoke, no child (ms)": [],
                "per invoke - floor (ms)": [],
                "host share, null child (ms)": [], "peak RSS, no child (kB)": [],
                "peak RSS, null child (kB)": []} for k in subjects}
    for i in range(args.rounds):
        floor = r.run([r.floor])
        for name, binary in subjects.items():
            alone, child = r.run([binary]), r.run([binary], null, child_times=True)
            row = rows[name]
            row["register - floor (ms)"].append(
                bench.p50(alone, "spawn_to_register_ms") - bench.p50(floor, "spawn_to_register_ms"))
            row["per invoke, no child (ms)"].append(bench.p50(alone, "per_invoke_ms"))
            row["per invoke - floor (ms)"].append(
                bench.p50(alone, "per_invoke_ms") - bench.p50(floor, "per_invoke_ms"))
            row["host share, null child (ms)"].append(bench.p50(child, "host_share_ms"))
            row["peak RSS, no child (kB)"].append(alone["vm_hwm_kb"])
            row["peak RSS, null child (kB)"].append(child["vm_hwm_kb"])
        sys.stderr.write(f"round {i + 1}/{args.rounds}\n")
    print(f"{args.rounds} interleaved rounds x {args.invokes} invokes; median (min-max)")
    print(f"| | before: {args.before} | after: {args.after} |")
    print("|---|---|---|")
    for key in rows["before"]:
        digits = 0 if "kB" in key else 3 if "register" in key else 4
        print(f"| {key} | {summary(rows['before'][key], digits)} | "
              f"{summary(rows['after'][key], digits)} |")
    sizes = [os.path.getsize(b) for b in subjects.values()]
    print(f"| binary size (bytes) | {sizes[0]} | {sizes[1]} |")


if __name__ == "__main__":
    main()
