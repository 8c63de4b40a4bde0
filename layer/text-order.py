#!/usr/bin/env python3
"""Writes layer/text-order.ld: the code Lambda mode runs, first and contiguous in the static binary.

`make text-order` runs it (layer/layer.mk); by hand, on an unstripped static build (ER_STRIP=OFF)
and its link map:
  layer/text-order.py profile --binary BIN --map MAP --bench-dir DIR [--out FILE]
  layer/text-order.py faults  --binary BIN --map MAP --bench-dir DIR [--out FILE]

Why: Lambda mode runs ~0.4 MB of the binary's ~1.9 MB of code, but that code was spread over
every 64 KiB of the text, and the kernel maps file-backed text a fault-around window (64 KiB)
at a time, so all of the text counted in the peak RSS (bench/README.md, "Where the time and
pages go"). The list puts the input sections of the functions Lambda mode runs in an output
section `.text.lambda` before `.text`; everything else (the debug mode, the fake platform,
CLI11, the parts of libc and libstdc++ nobody calls) follows in `.text` as before.

`profile` runs the binary in Lambda mode under callgrind against bench_api
(bench/floor/bench_api.c), the stand-in for the Extensions and Telemetry APIs: no child, the
null child, then telemetry with the null child, then JSON log lines (AWS_LAMBDA_LOG_FORMAT);
each run's new functions form a block, in that order, so a no-child run touches the fewest
pages. glibc's CPU-specific string functions (one
archive member per instruction set, chosen at start-up) follow the no-child block, grouped by
instruction set, for the families that ran: callgrind's CPU is not the one Lambda runs on,
and a machine uses one group. `faults` then runs the linked binary natively under `perf record
-e page-faults` and adds the sections of the faults that still land in `.text` (code callgrind
cannot see, e.g. glibc's vDSO set-up, or timing-dependent paths) to the block of the run that
first faulted; layer/text-order.sh relinks and repeats until a round adds none.

The list names functions: code whose function names change lands in `.text` until the list
is written again, which costs pages, never correctness (a pattern that matches nothing is
ignored). C++ names are written without GCC's clone suffixes (`.lto_priv.0`, `.constprop.0`,
...), which change from one link to the next.
"""
import argparse
import bisect
import os
import re
import subprocess
import sys
import tempfile

# The training runs: name, environment, bench_api arguments under callgrind, natively.
WORKLOADS = [
    ("no child", {}, ["--invokes", "50"], ["--invokes", "3000"]),
    ("null child", {"EXTENSION_RUNNER_COMMAND": "exec {null_child}"}, ["--invokes", "50"],
     ["--invokes", "3000"]),
    ("telemetry, null child",
     {"EXTENSION_RUNNER_COMMAND": "exec {null_child}", "EXTENSION_RUNNER_TELEMETRY": "telemetry",
      "EXTENSION_RUNNER_TELEMETRY_TYPES": "function", "EXTENSION_RUNNER_LISTEN": "127.0.0.1:0"},
     ["--invokes", "20", "--posts", "10", "--records", "1000"],
     ["--invokes", "20", "--posts", "100", "--records", "1000"]),
    ("JSON log lines", {"AWS_LAMBDA_LOG_FORMAT": "JSON"}, ["--invokes", "50"],
     ["--invokes", "3000"]),
]
# Native runs are sampled every 20 us of CPU time.
SAMPLE_NS = "20000"

# glibc's x86_64 multiarch members: <family>-<instruction set>[-...].o. The order keeps together
# what one machine uses: strcspn and its kin take the SSE4.2 and generic versions on every x86_64
# machine, x86-64-v4 (AVX-512) takes evex and avx512, x86-64-v3 avx and avx2 (glibc 2.36).
MULTIARCH_SETS = ["generic", "evex", "avx512", "sse4", "avx-", "avx2", "ssse3", "sse2", "erms",
                  "nonascii"]
MULTIARCH_MEMBER = re.compile(r"^([a-z0-9_]+)-(evex|avx|sse|ssse3|erms|generic|nonascii)")
CLONE_SUFFIX = re.compile(r"(\.(lto_priv|constprop|isra|part|cold|localalias)\.\d+)+$")
FAULTS = ", page faults of native runs (callgrind cannot see them)"
MULTIARCH = "glibc's string functions that ran, grouped by instruction set"


class Binary:
    """The unstripped binary's functions and the input sections of its text (from the map)."""

    def __init__(self, binary, map_path):
        nm = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True,
                            check=True).stdout
        self.addresses = {}
        for line in nm.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in "tTWwiI":
                self.addresses.setdefault(parts[2], int(parts[0], 16))
        self.sections = text_input_sections(map_path)
        self.starts = [s[0] for s in self.sections]

    def section_at(self, address):
        """(address, size, section, object, output section) holding address, or None."""
        k = bisect.bisect_right(self.starts, address) - 1
        if k >= 0 and address < self.sections[k][0] + self.sections[k][1]:
            return self.sections[k]
        return None

    def section_of(self, function):
        if re.match(r"^0x[0-9a-f]+$", function):  # callgrind's name for a symbol-less address
            return self.section_at(int(function, 16))
        address = self.addresses.get(function)
        return None if address is None else self.section_at(address)


def text_input_sections(map_path):
    """[(address, size, section, object, output section)] in the text output sections."""
    out, output, pending = [], None, None
    for line in open(map_path):
        line = line.rstrip("\n")
        head = re.match(r"^(\S+)", line)
        if head:
            output = head.group(1) if head.group(1) in (".text", ".text.lambda") else None
            pending = None
            continue
        if output is None:
            continue
        whole = re.match(r"^ (\.text\S*)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+) (.+)$", line)
        alone = re.match(r"^ (\.text\S*)\s*$", line)
        rest = re.match(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+) (\S.*)$", line)
        if whole:
            section, address, size, obj = whole.groups()
        elif alone:
            pending = alone.group(1)
            continue
        elif rest and pending:
            (address, size, obj), section = rest.groups(), pending
        else:
            pending = None
            continue
        pending = None
        if int(size, 16) > 0:
            out.append((int(address, 16), int(size, 16), section, obj.strip(), output))
    return sorted(out)


def archive_member(obj):
    """('libc.a', 'malloc.o') for '/path/libc.a(malloc.o)', else None."""
    m = re.match(r"^.*/([^/(]+)\(([^)]+)\)$", obj)
    return m.groups() if m else None


def pattern_for(section, obj):
    """The linker-script input pattern for one input section, or None (an LTO partition's
    plain .text, which no name selects)."""
    if section in (".text", ".text.unlikely", ".text.startup", ".text.hot", ".text.exit"):
        member = archive_member(obj)
        if member:  # glibc has no function sections: the whole member
            return f"*{member[0]}:{member[1]}(.text .text.*)"
        if "ltrans" in obj:
            return None
        return f"*{os.path.basename(obj)}(.text .text.*)"  # crt1.o, crtbeginT.o
    base = CLONE_SUFFIX.sub("", section)
    return f"*({base} {base}.*)"


def multiarch_family(obj):
    member = archive_member(obj)
    if not member or member[0] != "libc.a":
        return None
    m = MULTIARCH_MEMBER.match(member[1])
    return m.group(1) if m else None


def executed_functions(callgrind_out):
    """Names of the functions that ran (callgrind's raw output, names not demangled)."""
    names, ran = {}, set()
    for line in open(callgrind_out, errors="replace"):
        m = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if not m:
            continue
        kind, ident, name = m.groups()
        if name:
            names[ident] = re.sub(r"'\d+$", "", name)  # callgrind's recursion-depth mark
        if kind == "fn":
            ran.add(ident)
    return {names[i] for i in ran if i in names}


def run_workload(bench_dir, workload, wrapper, binary, native=False):
    name, env, args, native_args = workload
    args = native_args if native else args
    # At Lambda's default log level (INFO; make bench runs at WARN): the lines logged at init
    # run code of their own.
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_LAMBDA_LOG_")}
    run_env.update({k: v.format(null_child=os.path.join(bench_dir, "null_child"))
                    for k, v in env.items()})
    # Started by a relative path, as `make bench` does: the layer root is then found through the
    # working directory, code that Lambda's absolute /opt/extensions/<name> does not run.
    cmd = [os.path.join(bench_dir, "bench_api"), *args, "--", *wrapper, os.path.relpath(binary)]
    done = subprocess.run(cmd, env=run_env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        sys.exit(f"text-order: {name}: {done.stderr.strip()}")


def profile(args, binary):
    """Callgrind runs -> the order's blocks [(title, patterns)]."""
    blocks, seen, families, kib = [], set(), set(), 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, workload in enumerate(WORKLOADS):
            # The child process runs code of ours between fork and exec: --dump-before writes
            # its profile just before the exec (%p: its own file).
            out = os.path.join(tmp, f"callgrind.{i}")
            run_workload(args.bench_dir, workload, ["valgrind", "--tool=callgrind",
                                                    "--demangle=no", "--dump-before=execve",
                                                    f"--callgrind-out-file={out}.%p"],
                         args.binary)
            functions = set()
            for name in os.listdir(tmp):
                if name.startswith(f"callgrind.{i}."):
                    functions |= executed_functions(os.path.join(tmp, name))
            found = {binary.section_of(f) for f in functions}
            # Natively, sampled: the paths that depend on timing (callgrind runs the binary
            # ~50 times slower, so e.g. libcurl finds every answer already there and never
            # waits for one).
            sampled = sample_addresses(args, i, workload, tmp)
            found = sorted(filter(None, found | {binary.section_at(a) for a in sampled}))
            block = []
            for address, size, section, obj, _ in found:
                family = multiarch_family(obj)
                if family:
                    families.add(family)
                    continue
                pattern = pattern_for(section, obj)
                if pattern and pattern not in seen:
                    seen.add(pattern)
                    block.append(pattern)
                    kib += size / 1024
            sys.stderr.write(f"text-order: {workload[0]}: {len(functions)} functions ran, "
                             f"{len(block)} new input sections\n")
            blocks += [(workload[0], block), (workload[0] + FAULTS, [])]
    # Right after the no-child code, which needs most of them too.
    blocks.insert(2, (MULTIARCH, [f"*libc.a:{f}-{isa}*.o(.text .text.*)"
                                  for isa in MULTIARCH_SETS for f in sorted(families)]))
    sys.stderr.write(f"text-order: {kib:.0f} KiB listed, {len(families)} string families\n")
    return blocks


def write_order(path, blocks):
    with open(path, "w") as out:
        out.write("/* Generated by layer/text-order.py (`make text-order`); do not edit. The code\n"
                  " * Lambda mode runs, first and contiguous: why in the script's docstring and\n"
                  " * bench/README.md. Linked by cmake/StaticRelease.cmake. */\n")
        out.write("SECTIONS\n{\n  .text.lambda :\n  {\n")
        for title, patterns in blocks:
            out.write(f"    /* {title} */\n")
            out.writelines(f"    {p}\n" for p in patterns)
        out.write("  }\n}\nINSERT BEFORE .text;\n")


def read_order(path):
    """The blocks [(title, patterns)] of an order file written by write_order."""
    blocks = []
    for line in open(path):
        title = re.match(r"^    /\* (.+) \*/$", line)
        if title:
            blocks.append((title.group(1), []))
        elif line.startswith("    *") and blocks:
            blocks[-1][1].append(line.strip())
    return blocks


def native_addresses(args, workload, events, field, data):
    """The `field` (ip or addr) of what perf recorded (events: perf record's event options)
    in a native run of the workload."""
    run_workload(args.bench_dir, workload, ["perf", "record", "-q", *events, "-o", data],
                 args.binary, native=True)
    script = subprocess.run(["perf", "script", "-i", data, "-F", f"comm,{field}"],
                            capture_output=True, text=True, check=True).stdout
    comm = os.path.basename(args.binary)[:15]
    return [int(parts[1], 16) for parts in map(str.split, script.splitlines())
            if len(parts) == 2 and parts[0] == comm]


def sample_addresses(args, i, workload, tmp):
    return native_addresses(args, workload, ["-e", "cpu-clock", "-c", SAMPLE_NS], "ip",
                            os.path.join(tmp, f"samples.{i}"))


def faults(args, binary):
    """Native runs under perf: {pattern: index of the first workload} of the page faults in
    the text (glibc's string functions aside: their block serves every CPU)."""
    found = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, workload in enumerate(WORKLOADS):
            for address in native_addresses(args, workload, ["-e", "page-faults", "-c", "1",
                                                             "-d"], "addr",
                                             os.path.join(tmp, f"faults.{i}")):
                hit = binary.section_at(address)
                if hit and not multiarch_family(hit[3]):
                    found.setdefault(pattern_for(hit[2], hit[3]), i)
    found.pop(None, None)
    return found


def rank(title):
    """The index of the workload a block belongs to (glibc's string functions: the first)."""
    return next((i for i, w in enumerate(WORKLOADS) if title.startswith(w[0])), 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("step", choices=["profile", "faults"])
    ap.add_argument("--binary", required=True, help="unstripped static build (ER_STRIP=OFF)")
    ap.add_argument("--map", required=True, help="its link map (-Wl,-Map)")
    ap.add_argument("--bench-dir", required=True, help="holds bench_api and null_child")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "text-order.ld"))
    args = ap.parse_args()
    binary = Binary(args.binary, args.map)
    if args.step == "profile":
        write_order(args.out, profile(args, binary))
        return
    # A fault in .text, or in the block of a later run (a path the callgrind run did not take,
    # e.g. one that depends on timing), moves the section to the faulting run's block.
    blocks = read_order(args.out)
    owner = {p: title for title, patterns in blocks for p in patterns}
    moved = 0
    for pattern, i in faults(args, binary).items():
        if pattern in owner and rank(owner[pattern]) <= i:
            continue
        where = owner.get(pattern, ".text")
        sys.stderr.write(f"text-order: {WORKLOADS[i][0]}: page fault in {where}: {pattern}\n")
        if pattern in owner:
            next(b for t, b in blocks if t == owner[pattern]).remove(pattern)
        next(b for t, b in blocks if t == WORKLOADS[i][0] + FAULTS).append(pattern)
        moved += 1
    write_order(args.out, blocks)
    print(moved)


if __name__ == "__main__":
    main()
