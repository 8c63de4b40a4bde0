#!/usr/bin/env python3
"""What the Runtime API proxy adds to each invocation (docs/proxy.md, "Cost").

Usage: bench/proxy-cost.py [--binary BIN] [--samples N] [--big-samples N] [--out FILE]

One fake Lambda API (this script with --serve, its own process: the Extensions API for the host,
the Runtime API for the runtime) and one runtime client (this process, raw HTTP/1.1 on kept-alive
sockets) that talks to the fake twice over: directly, and through the proxy of `BIN` running in
Lambda mode (EXTENSION_RUNNER_PROXY=observe | intercept, the C null child of bench/floor as the
child, with REQUEST and RESPONSE handlers: its hooks answer null at once). The client alternates
the two paths invocation by invocation, so drift on this shared machine hits both alike. Per
invocation it times the runtime's two round trips, GET /next (the event) + POST /response (a
body of the same size):
  added    p50 / p99 of (through the proxy) minus the same of (direct), 1 KiB and 1 MiB bodies,
           with the extension registered as on Managed Instances (it only ever gets SHUTDOWN):
           the proxy alone; then at 1 KiB as on Lambda, back to back (an INVOKE per invocation,
           each waiting until the extension asked for the next one: FakeApi);
  floor    the same `added` for bench/floor/proxy_floor.c in front of the same fake (a minimal
           blocking C forwarder; its hooks, as many as the proxy asks, a pipe round trip each to
           an echo child), paired with the direct path in blocks that alternate with the proxy's:
           the least a proxy adds on this machine, and what the proxy adds beyond it;
  cpu      the host's and the child's CPU time per invocation (/proc, 10 ms ticks);
  post     as on Lambda, the time from each /response to the extension's next /next (billed);
  a/a      the same difference between two *direct* connections: what the measurer itself
           cannot tell apart (Python's jitter), measured before anything else;
  6 MiB    the time to forward a 6 MiB buffered /response (median), direct and proxied;
  rss      the host's peak RSS (VmHWM, reset through /proc/PID/clear_refs before each) while it
           forwards a 6 MiB response, and a 100 MiB streamed (chunked) response.
Prints a Markdown table; --out writes JSON. Never asserted by a test.
"""
import argparse
import functools
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "bench-proxy"
RUNTIME = "/2018-06-01/runtime/invocation/"
KIB = 1024
MIB = 1024 * 1024


# --- HTTP/1.1 on a raw socket: just what both sides need -----------------------------------------

class Conn:
    """One kept-alive HTTP/1.1 connection (either side), reading by Content-Length or chunks."""

    def __init__(self, sock):
        self.sock = sock
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        # Reused for every body: a fresh 1 MiB buffer per message costs Python hundreds of page
        # faults, milliseconds here, which both paths would pay and blur what the proxy adds.
        self.body = bytearray()
        self.scratch = bytearray(1 << 20)
        self.mark = b""  # extra header lines for each request (connect)

    def _fill(self):
        data = self.sock.recv(64 * KIB)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exactly(self, n, keep=True, reuse=False):
        """n bytes of the stream, received straight into one buffer (never re-copied as they
        arrive); with keep False only counted (a 100 MiB stream); with reuse, into this
        connection's body buffer (valid until its next message)."""
        have = min(n, len(self.buf))
        head, self.buf = self.buf[:have], self.buf[have:]
        if have == n:
            return head if keep else b""
        if keep and reuse:
            if len(self.body) < n:
                self.body = bytearray(n)
            out = memoryview(self.body)[:n]
        else:
            out = bytearray(n) if keep else self.scratch
        view, at = memoryview(out), 0
        if keep:
            out[:have], at = head, have
        left = n - have
        while left > 0:
            got = self.sock.recv_into(view[at:] if keep else view, min(left, len(out)))
            if not got:
                raise EOFError("connection closed")
            left -= got
            if keep:
                at += got
        return out if keep else b""

    def read_message(self, keep=True):
        """(start line, {lower-case name: value}, body or its length)."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            total, parts = 0, []
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():  # trailer fields, then the empty line
                        pass
                    break
                data = self._exactly(size, keep)
                if keep:
                    parts.append(data)
                total += size
                self._exactly(2)
            return lines[0], headers, b"".join(parts) if keep else total
        length = int(headers.get("content-length", "0"))
        body = self._exactly(length, keep, reuse=True)
        return lines[0], headers, body if keep else length

    def send(self, *parts):
        """The parts in order, gathered by sendmsg (no joined copy of a 1 MiB body)."""
        views = [memoryview(p).cast("B") for p in parts if len(p)]
        while views:
            sent = self.sock.sendmsg(views)
            while views and sent >= len(views[0]):
                sent -= len(views[0])
                views.pop(0)
            if views and sent:
                views[0] = views[0][sent:]


def answer(conn, status, body=b"", extra=""):
    reason = {200: "OK", 202: "Accepted", 404: "Not Found"}.get(status, "X")
    conn.send(("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
               % (status, reason, len(body), extra)).encode(), body)


# --- the fake Lambda API (--serve) -------------------------------------------------------------

@functools.lru_cache(maxsize=8)
def payload(size):
    """A JSON object of exactly `size` bytes (made once per size)."""
    return b'{"pad":"' + b"x" * (size - 10) + b'"}'


class FakeApi:
    """The Runtime API and the Extensions API of one environment. By default the extension only
    ever gets SHUTDOWN, as on Managed Instances: what the proxy adds to the runtime's path,
    alone. With INVOKE events on, each event the runtime gets through the proxy is an INVOKE for
    the extension too, as on Lambda [EXT], and the time from the invocation's /response to the
    extension's next /next is its post-response time, billed on Lambda. With the freeze gate on
    as well, the next such event waits until the extension is back in its /next, as Lambda
    starts an invocation only once the runtime and every extension asked for it: back-to-back
    invocations then pay the post-response time too. A runtime connection that sends
    `X-Bench-Direct` is the direct path: never gated, never an INVOKE."""

    def __init__(self):
        self.event_size = KIB
        self.count = 0
        self.cv = threading.Condition()
        self.invokes_on = False
        self.gate = False
        self.shutdown = False
        self.invokes = []               # request ids for the extension's /next
        self.extension_waiting = False  # in /next with nothing to do: its invocation is over
        self.handed = None              # the request id of the INVOKE the extension works on
        self.answered_at = {}           # request id -> its /response, perf_counter
        self.post_response = []         # seconds from a /response to the extension's /next

    def serve(self, conn):
        while True:
            try:
                start, headers, _ = conn.read_message(keep=False)
            except (EOFError, OSError):
                return
            target = start.split(" ")[1]
            direct = "x-bench-direct" in headers
            if target.endswith("/extension/register"):
                answer(conn, 200, b'{"functionName":"bench","functionVersion":"$LATEST",'
                       b'"handler":"app.handler"}', "Lambda-Extension-Identifier: bench-id\r\n")
            elif target.endswith("/extension/event/next"):
                answer(conn, 200, self.extension_next())
            elif target.startswith(RUNTIME + "next"):
                rid, size = self.runtime_next(direct)
                answer(conn, 200, payload(size),
                       "Lambda-Runtime-Aws-Request-Id: %s\r\nLambda-Runtime-Deadline-Ms: %d\r\n"
                       "Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:"
                       "function:bench\r\nLambda-Runtime-Trace-Id: Root=1-bench\r\n"
                       % (rid, int(time.time() * 1000) + 600000))
            elif target.startswith(RUNTIME) or "/error" in target:
                if not direct and self.invokes_on:
                    with self.cv:
                        self.answered_at[target[len(RUNTIME):].split("/")[0]] = time.perf_counter()
                answer(conn, 202, b'{"status":"OK"}')
            elif target.startswith("/bench/event-size/"):
                self.event_size = int(target.rsplit("/", 1)[1])
                answer(conn, 200)
            elif target.startswith("/bench/model/"):  # /bench/model/<invokes>/<gate>
                self.invokes_on, self.gate = (x == "1" for x in target.split("/")[3:5])
                answer(conn, 200)
            elif target == "/bench/post-response":
                with self.cv:
                    spans, self.post_response = self.post_response, []
                answer(conn, 200, json.dumps(spans).encode())
            elif target == "/bench/shutdown":
                with self.cv:
                    self.shutdown = True
                    self.cv.notify_all()
                answer(conn, 200)
            else:
                answer(conn, 404)

    def runtime_next(self, direct):
        with self.cv:
            self.count += 1
            rid = "bench-%d" % self.count
            if direct or not self.invokes_on:
                return rid, self.event_size
            if self.gate:
                self.cv.wait_for(lambda: self.extension_waiting or self.shutdown)
            self.extension_waiting = False
            self.invokes.append(rid)
            self.cv.notify_all()
            return rid, self.event_size

    def extension_next(self):
        with self.cv:
            if self.handed is not None:
                # Back before the response (it did not wait for it): no post-response time.
                answered = self.answered_at.pop(self.handed, None)
                self.post_response.append(0.0 if answered is None else time.perf_counter() - answered)
                self.handed = None
            self.extension_waiting = True
            self.cv.notify_all()
            self.cv.wait_for(lambda: self.invokes or self.shutdown)
            if not self.invokes:
                return json.dumps({"eventType": "SHUTDOWN", "shutdownReason": "spindown",
                                   "deadlineMs": int(time.time() * 1000) + 2000}).encode()
            self.handed = self.invokes.pop(0)
        return json.dumps({"eventType": "INVOKE", "requestId": self.handed,
                           "deadlineMs": int(time.time() * 1000) + 600000,
                           "invokedFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:bench",
                           "tracing": {"type": "X-Amzn-Trace-Id", "value": "Root=1-bench"}}).encode()


def serve_fake():
    api = FakeApi()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print(listener.getsockname()[1], flush=True)
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=api.serve, args=(Conn(sock),), daemon=True).start()


# --- the runtime client and the host ------------------------------------------------------------

def connect(address, direct=False):
    """A runtime's connection; `direct` ones (to the fake itself) say so in each request."""
    host, port = address.rsplit(":", 1)
    conn = Conn(socket.create_connection((host, int(port))))
    conn.mark = b"X-Bench-Direct: 1\r\n" if direct else b""
    return conn


def control(api, target):
    """A request to the fake's /bench/ controls; its answer's body."""
    c = connect(api)
    c.send(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n" % target).encode())
    _, _, body = c.read_message()
    c.sock.close()
    return bytes(body)


def invocation(conn, size=None):
    """One invocation as the runtime sees it: /next, then /response of `size` bytes (default:
    the event's own size). Seconds."""
    started = time.perf_counter()
    conn.send(b"GET " + RUNTIME.encode() + b"next HTTP/1.1\r\nHost: x\r\n" + conn.mark + b"\r\n")
    _, headers, event = conn.read_message()
    body = event if size is None else payload(size)
    conn.send(("POST %s%s/response HTTP/1.1\r\n%sHost: x\r\nContent-Type: application/json\r\n"
               "Content-Length: %d\r\n\r\n" % (RUNTIME, headers["lambda-runtime-aws-request-id"], conn.mark.decode(),
                                               len(body))).encode(), body)
    status, _, _ = conn.read_message()
    if " 202" not in status:
        raise SystemExit("proxy-cost: /response answered %s" % status)
    return time.perf_counter() - started


def timed_response(conn, size):
    """/next (small event), then the seconds a /response of `size` bytes takes to be answered."""
    conn.send(b"GET " + RUNTIME.encode() + b"next HTTP/1.1\r\nHost: x\r\n" + conn.mark + b"\r\n")
    _, headers, _ = conn.read_message()
    body = payload(size)
    started = time.perf_counter()
    conn.send(("POST %s%s/response HTTP/1.1\r\n%sHost: x\r\nContent-Type: application/json\r\n"
               "Content-Length: %d\r\n\r\n" % (RUNTIME, headers["lambda-runtime-aws-request-id"], conn.mark.decode(),
                                               len(body))).encode(), body)
    status, _, _ = conn.read_message()
    if " 202" not in status:
        raise SystemExit("proxy-cost: /response answered %s" % status)
    return time.perf_counter() - started


def streamed_response(conn, total, piece=64 * KIB):
    conn.send(b"GET " + RUNTIME.encode() + b"next HTTP/1.1\r\nHost: x\r\n" + conn.mark + b"\r\n")
    _, headers, _ = conn.read_message()
    started = time.perf_counter()
    conn.send(("POST %s%s/response HTTP/1.1\r\n%sHost: x\r\nContent-Type: application/octet-stream\r\n"
               "Lambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\n"
               "\r\n" % (RUNTIME, headers["lambda-runtime-aws-request-id"], conn.mark.decode())).encode())
    chunk = ("%x\r\n" % piece).encode() + b"y" * piece + b"\r\n"
    for _ in range(total // piece):
        conn.send(chunk)
    conn.send(b"0\r\n\r\n")
    status, _, _ = conn.read_message()
    if " 202" not in status:
        raise SystemExit("proxy-cost: streamed /response answered %s" % status)
    return time.perf_counter() - started


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


def paired(a, b, rounds, warmup=20, **kw):
    """Alternates invocations on connections a and b; ms lists for each (after warm-up)."""
    ta, tb = [], []
    for i in range(warmup + rounds):
        first, second = (a, b) if i % 2 == 0 else (b, a)
        x = invocation(first, **kw)
        y = invocation(second, **kw)
        if i >= warmup:
            ta.append((x if first is a else y) * 1000)
            tb.append((y if first is a else x) * 1000)
    return ta, tb


def added(direct, proxied):
    return {"direct_p50_ms": percentile(direct, 0.5), "direct_p99_ms": percentile(direct, 0.99),
            "proxied_p50_ms": percentile(proxied, 0.5), "proxied_p99_ms": percentile(proxied, 0.99),
            "added_p50_ms": percentile(proxied, 0.5) - percentile(direct, 0.5),
            "added_p99_ms": percentile(proxied, 0.99) - percentile(direct, 0.99),
            "samples": len(direct)}


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class CpuMeter:
    """The host's and its children's CPU time (user + system) from now on, from /proc."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, pid):
        self.pid = pid
        self.children = self._children()
        self.start = self._times()

    def _children(self):
        found = []
        for task in os.listdir("/proc/%d/task" % self.pid):
            try:
                with open("/proc/%d/task/%s/children" % (self.pid, task)) as f:
                    found += [int(x) for x in f.read().split()]
            except OSError:
                pass
        return found

    def _times(self):
        def seconds(pid):
            try:
                with open("/proc/%d/stat" % pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                return 0.0
            return (int(fields[11]) + int(fields[12])) / self.TICK
        return seconds(self.pid), sum(seconds(c) for c in self.children)

    def per(self, invocations):
        """(host µs, children µs) per invocation since the start."""
        now = self._times()
        return tuple((b - a) / invocations * 1e6 for a, b in zip(self.start, now))


def reset_hwm(pid):
    """Peak RSS back to the current RSS (Linux >= 4.0), so each measurement has its own peak."""
    with open("/proc/%d/clear_refs" % pid, "w") as f:
        f.write("5")


def built(name):
    """bench/floor/NAME.c, compiled (static, -O2) into build/bench/NAME when older than its source."""
    out = os.path.join(ROOT, "build", "bench", name)
    src = os.path.join(ROOT, "bench", "floor", name + ".c")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        subprocess.run([os.environ.get("CC", "cc"), "-O2", "-static", "-Wall", "-Wextra", "-Werror",
                        "-o", out, src], check=True)
    return out


def null_child():
    return built("null_child")


class Fake:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve"],
                                     stdout=subprocess.PIPE, text=True)
        self.address = "127.0.0.1:%s" % self.proc.stdout.readline().strip()

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class Floor:
    """bench/floor/proxy_floor.c in front of the fake: the least a proxy adds here. `hooks`: none,
    both or response (a pipe round trip to its echo child per hook)."""

    def __init__(self, api, hooks):
        self.proc = subprocess.Popen([built("proxy_floor"), api.rsplit(":", 1)[1], hooks],
                                     stdout=subprocess.PIPE, text=True)
        self.address = "127.0.0.1:%s" % self.proc.stdout.readline().strip()

    def hooks_ms(self, conn):
        """Ends the runtime connection `conn`; its hooks' time per invocation (ms), timed as the
        proxy's are billed (request written -> reply read), from the floor's line for it."""
        conn.sock.close()
        _, invocations, seconds = self.proc.stdout.readline().split()
        return float(seconds) * 1000 / int(invocations) if int(invocations) else None

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def floor_hooks(mode, handles):
    """The floor's hooks for what the proxy's child takes: observe asks none on the path."""
    if mode != "intercept":
        return "none"
    return "both" if "REQUEST" in handles else "response"


class Host:
    """The binary in Lambda mode with the proxy on and the null child; its proxy's address."""

    def __init__(self, binary, api, mode, child, handles=None):
        self.tmp = tempfile.mkdtemp(prefix="proxy-cost-")
        self.times = os.path.join(self.tmp, "child-times")
        env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=api, EXTENSION_RUNNER_PROXY=mode,
                   EXTENSION_RUNNER_NAME=NAME, EXTENSION_RUNNER_COMMAND="exec " + child,
                   AWS_LAMBDA_EXEC_WRAPPER="/opt/%s/wrapper" % NAME, TMPDIR=self.tmp,
                   AWS_LAMBDA_LOG_LEVEL="INFO", NULL_CHILD_TIMES=self.times,
                   NULL_CHILD_HANDLES=json.dumps(handles) if handles is not None else "")
        for k in ("EXTENSION_RUNNER_CONFIG", "EXTENSION_RUNNER_TELEMETRY", "EXTENSION_RUNNER_MESSAGES"):
            env.pop(k, None)
        self.api = api
        self.log = open(os.path.join(self.tmp, "host.log"), "w+")
        self.proc = subprocess.Popen([binary], env=env, stdout=self.log, stderr=self.log)
        path = os.path.join(self.tmp, "extension-runner-%s.proxy" % NAME)
        deadline = time.time() + 30
        while not os.path.exists(path):
            if time.time() > deadline or self.proc.poll() is not None:
                raise SystemExit("proxy-cost: no proxy address from the host: %s" % self.read_log())
            time.sleep(0.01)
        with open(path) as f:
            self.address = f.read().strip()

    def read_log(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def hook_ms(self):
        """The null child's own time per request (receipt → reply), ms, median."""
        try:
            with open(self.times) as f:
                spans = [(int(r[2]) - int(r[1])) / 1e6 for r in (line.split() for line in f) if r[0] == "?"]
        except OSError:
            return None
        return statistics.median(spans) if spans else None

    def stop(self):
        control(self.api, "/bench/shutdown")
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        log = self.read_log()
        hook = self.hook_ms()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return log, hook


BILLED = re.compile(r"proxy: (\d+) invocations.*?, ([\d.]+) ms billed \(")


def billed_per_invocation(log):
    """The hooks' billed time per invocation (ms) from the host's counters line: what the
    runner protocol bills the child for (request written -> reply read, timed by the host)."""
    found = BILLED.search(log)
    if not found or int(found.group(1)) == 0:
        return None
    return float(found.group(2)) / int(found.group(1))


# Blocks of pairs, the proxy's and the floor's in turn, per measurement with a floor.
FLOOR_BLOCKS = 4

# The child of a proxy extension: both hooks, no INVOKE handler (so it is not sent INVOKEs).
BOTH_HOOKS = ["REQUEST", "RESPONSE"]


def measure_latency(binary, mode, child, a):
    """Each body size in a host of its own, so that its counters line bills that size alone."""
    r, hooks, warnings = {}, [], []
    # (key, body size, invocations, the child's handlers, the fake's model: INVOKEs, gate)
    runs = [("1024", KIB, a.samples, BOTH_HOOKS, (0, 0)),
            ("1048576", MIB, a.big_samples, BOTH_HOOKS, (0, 0)),
            # As on Lambda, back to back: an INVOKE per invocation, and each waits until the
            # extension asked for the next one; the extension's post-response time.
            ("1024_lambda", KIB, a.samples, BOTH_HOOKS, (1, 1))]
    if mode == "intercept":
        # A child with a RESPONSE handler only (a redactor): its REQUEST hook is never asked.
        runs.append(("1024_response_only", KIB, a.samples, ["RESPONSE"], (0, 0)))
    for key, size, rounds, handles, model in runs:
        fake = Fake()
        host = Host(binary, fake.address, mode, child, handles)
        # The floor where the proxy alone is measured (no INVOKEs). Its pairs with the direct
        # path alternate with the proxy's in blocks (FLOOR_BLOCKS), so the machine's drift falls
        # on both: a third path in the same rounds would slow both (at 1 MiB, +1.4 ms became
        # +1.9: their copies share the caches), and one block after the other drifted apart.
        # Its connection is marked direct, which the fake only reads to leave it ungated.
        floor = Floor(fake.address, floor_hooks(mode, handles)) if model == (0, 0) else None
        try:
            direct, proxied = connect(fake.address, direct=True), connect(host.address)
            floored = connect(floor.address, direct=True) if floor else None
            control(fake.address, "/bench/event-size/%d" % size)
            control(fake.address, "/bench/model/%d/%d" % model)
            cpu = CpuMeter(host.proc.pid)
            blocks = FLOOR_BLOCKS if floor else 1
            block = max(1, rounds // blocks)
            warmup = min(20, block // 5)
            ours, theirs = ([], []), ([], [])
            for _ in range(blocks):
                for pair, conn in ((ours, proxied), (theirs, floored)):
                    if conn is not None:
                        d, x = paired(direct, conn, block, warmup=warmup)
                        pair[0].extend(d)
                        pair[1].extend(x)
            r[key] = added(*ours)
            # The host idles through the floor's blocks: its CPU is the proxy's invocations'.
            r[key]["host_cpu_us"], r[key]["child_cpu_us"] = cpu.per(blocks * (block + warmup))
            if floor:
                at_floor = added(*theirs)
                r[key]["added_floor_p50_ms"] = at_floor["added_p50_ms"]
                r[key]["added_floor_p99_ms"] = at_floor["added_p99_ms"]
                r[key]["added_beyond_floor_p50_ms"] = r[key]["added_p50_ms"] - at_floor["added_p50_ms"]
                floor_hooks_ms = floor.hooks_ms(floored)
                if floor_hooks_ms is not None and mode == "intercept":
                    r[key]["floor_hooks_ms"] = floor_hooks_ms
                    r[key]["added_floor_beyond_hooks_p50_ms"] = at_floor["added_p50_ms"] - floor_hooks_ms
            spans = sorted(json.loads(control(fake.address, "/bench/post-response")))
        finally:
            log, hook = host.stop()
            if floor:
                floor.stop()
            fake.stop()
        if spans:
            r[key]["post_response_p50_ms"] = percentile(spans, 0.5) * 1000
            r[key]["post_response_p99_ms"] = percentile(spans, 0.99) * 1000
        billed = billed_per_invocation(log)
        r[key]["billed_ms"] = billed
        if billed is not None:
            r[key]["added_beyond_billed_p50_ms"] = r[key]["added_p50_ms"] - billed
        if key in ("1024", "1048576"):
            hooks.append(hook)
        warnings += [line for line in log.splitlines() if " WARN " in line or " ERROR " in line]
    fake = Fake()
    host = Host(binary, fake.address, mode, child, BOTH_HOOKS)
    try:
        direct, proxied = connect(fake.address, direct=True), connect(host.address)
        control(fake.address, "/bench/event-size/%d" % KIB)
        six_d, six_p = [], []
        for _ in range(3):  # a fresh host's heap grows to hold 6 MiB: not part of the figure
            timed_response(direct, 6 * MIB)
            timed_response(proxied, 6 * MIB)
        for _ in range(a.six_samples):
            six_d.append(timed_response(direct, 6 * MIB) * 1000)
            six_p.append(timed_response(proxied, 6 * MIB) * 1000)
        r["6mib_direct_ms"], r["6mib_proxied_ms"] = statistics.median(six_d), statistics.median(six_p)
        r["stream_100mib_direct_s"] = streamed_response(direct, 100 * MIB)
        r["stream_100mib_s"] = streamed_response(proxied, 100 * MIB)
    finally:
        log, _ = host.stop()
        fake.stop()
    warnings += [line for line in log.splitlines() if " WARN " in line or " ERROR " in line]
    r["hook_ms"], r["hook_ms_big"] = hooks
    if warnings:
        r["host_warnings"] = warnings[:5]
    return r


def measure_peak(binary, mode, child, big):
    """The host's VmHWM after 20 small invocations, then after `big` (one more invocation),
    in a fresh host. An observe copy is made after the answer: its share is waited for."""
    fake = Fake()
    host = Host(binary, fake.address, mode, child, BOTH_HOOKS)
    try:
        conn = connect(host.address)
        for _ in range(20):
            invocation(conn)
        time.sleep(0.5)
        reset_hwm(host.proc.pid)
        before = vm_hwm_kb(host.proc.pid)
        big(conn)
        time.sleep(1.0)
        return before, vm_hwm_kb(host.proc.pid)
    finally:
        host.stop()
        fake.stop()


def combine(runs):
    """The repeats of one measurement: medians, with each added figure's min and max."""
    out = {}
    for key in dict.fromkeys(k for run in runs for k in run):  # a figure some runs lack: of the rest
        values = [run[key] for run in runs if key in run]
        if isinstance(values[0], dict):
            out[key] = combine(values)
        elif isinstance(values[0], (int, float)) and values[0] is not None:
            out[key] = statistics.median(values)
            if key.startswith("added_"):
                out[key + "_range"] = [min(values), max(values)]
        else:
            out[key] = values[0]
    return out


def measure_mode(binary, mode, child, a):
    runs = [measure_latency(binary, mode, child, a) for _ in range(a.repeats)]
    r = combine([{k: v for k, v in run.items() if k not in ("hook_ms", "hook_ms_big", "host_warnings")}
                 for run in runs])
    for key in ("hook_ms", "hook_ms_big"):
        hooks = [run[key] for run in runs if run[key] is not None]
        r[key] = statistics.median(hooks) if hooks else None
    r["host_warnings"] = [w for run in runs for w in run.get("host_warnings", [])][:5]
    r["rss_idle_kb"], r["rss_6mib_kb"] = measure_peak(binary, mode, child,
                                                     lambda c: timed_response(c, 6 * MIB))
    r["rss_idle2_kb"], r["rss_stream_kb"] = measure_peak(binary, mode, child,
                                                        lambda c: streamed_response(c, 100 * MIB))
    return r


def measure_measurer(a):
    """A/A: two direct connections, alternated like the real pairs."""
    return combine([measure_measurer_once(a) for _ in range(a.repeats)])


def measure_measurer_once(a):
    fake = Fake()
    try:
        one, two = connect(fake.address, direct=True), connect(fake.address, direct=True)
        r = {}
        for size, rounds in ((KIB, a.samples), (MIB, a.big_samples)):
            control(fake.address, "/bench/event-size/%d" % size)
            r["%d" % size] = added(*paired(one, two, rounds, warmup=min(20, rounds // 5)))
        return r
    finally:
        fake.stop()


def main():
    if "--serve" in sys.argv:
        serve_fake()
        return
    p = argparse.ArgumentParser()
    p.add_argument("--binary", default=os.path.join(ROOT, "build", "bin", "extension-runner"))
    p.add_argument("--samples", type=int, default=2000, help="invocations per path, 1 KiB")
    p.add_argument("--big-samples", type=int, default=200, help="invocations per path, 1 MiB")
    p.add_argument("--six-samples", type=int, default=20, help="6 MiB responses per path")
    p.add_argument("--repeats", type=int, default=3, help="runs of each latency measurement")
    p.add_argument("--out")
    a = p.parse_args()
    child = null_child()
    results = {"machine": "%s, %d cores, %s" % (cpu_model(), os.cpu_count(), os.uname().release),
               "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "load": os.getloadavg(), "repeats": a.repeats, "measurer": measure_measurer(a)}
    for mode in ("observe", "intercept"):
        results[mode] = measure_mode(a.binary, mode, child, a)
    print_table(results)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(results, f, indent=2)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def spread(x, key):
    low, high = x[key + "_range"]
    return "%+.3f (%+.3f to %+.3f)" % (x[key], low, high)


def print_table(r):
    m = r["measurer"]
    print("proxy-cost: %s, %s, load %.2f %.2f %.2f; median of %d runs (min to max)"
          % (r["machine"], r["date"], *r["load"], r["repeats"]))
    print("| runtime's /next + /response, added by the proxy | p50 (ms) | p99 (ms) | direct p50 / p99 (ms) |")
    print("|---|---|---|---|")
    for size, label in (("1024", "1 KiB"), ("1048576", "1 MiB")):
        x = m[size]
        print("| measurer A/A (two direct connections), %s | %s | %s | %.3f / %.3f |"
              % (label, spread(x, "added_p50_ms"), spread(x, "added_p99_ms"), x["direct_p50_ms"],
                 x["direct_p99_ms"]))
    for mode in ("observe", "intercept"):
        for size, label in (("1024", "1 KiB"), ("1048576", "1 MiB")):
            x = r[mode][size]
            print("| %s, null child, %s | %s | %s | %.3f / %.3f |"
                  % (mode, label, spread(x, "added_p50_ms"), spread(x, "added_p99_ms"),
                     x["direct_p50_ms"], x["direct_p99_ms"]))
    x = r["intercept"]["1024_response_only"]
    print("| intercept, a child with a RESPONSE hook only, 1 KiB | %s | %s | %.3f / %.3f |"
          % (spread(x, "added_p50_ms"), spread(x, "added_p99_ms"), x["direct_p50_ms"],
             x["direct_p99_ms"]))
    for mode in ("observe", "intercept"):
        x = r[mode]["1024_lambda"]
        print("| %s, as on Lambda back to back (an INVOKE each; each waits for the extension), "
              "1 KiB | %s | %s | %.3f / %.3f |"
              % (mode, spread(x, "added_p50_ms"), spread(x, "added_p99_ms"), x["direct_p50_ms"],
                 x["direct_p99_ms"]))
    print()
    print("| the floor (bench/floor/proxy_floor.c), in blocks alternating with the proxy's | the floor adds, p50 (ms) "
          "| p99 (ms) | the proxy beyond the floor, p50 (ms) |\n|---|---|---|---|")
    for mode, key, label in (("observe", "1024", "observe's path: forwarding only, 1 KiB"),
                             ("observe", "1048576", "observe's path: forwarding only, 1 MiB"),
                             ("intercept", "1024", "intercept's path: two hooks, 1 KiB"),
                             ("intercept", "1048576", "intercept's path: two hooks, 1 MiB"),
                             ("intercept", "1024_response_only", "a RESPONSE hook only, 1 KiB")):
        x = r[mode][key]
        print("| %s | %s | %s | %s |" % (label, spread(x, "added_floor_p50_ms"),
                                         spread(x, "added_floor_p99_ms"),
                                         spread(x, "added_beyond_floor_p50_ms")))
    print()
    print("| 1 KiB, per invocation | observe | intercept |\n|---|---|---|")
    o, i = r["observe"], r["intercept"]
    for key, label in (("1024", "host CPU (µs), SHUTDOWN only"), ("1024_lambda", "host CPU (µs), as on Lambda")):
        print("| %s | %.0f | %.0f |" % (label, o[key]["host_cpu_us"], i[key]["host_cpu_us"]))
    print("| the child's CPU (µs) | %.0f | %.0f |" % (o["1024"]["child_cpu_us"], i["1024"]["child_cpu_us"]))
    print("| post-response time as on Lambda: the response to the extension's /next, p50 / p99 (ms) "
          "| %.3f / %.3f | %.3f / %.3f |"
          % (o["1024_lambda"]["post_response_p50_ms"], o["1024_lambda"]["post_response_p99_ms"],
             i["1024_lambda"]["post_response_p50_ms"], i["1024_lambda"]["post_response_p99_ms"]))
    print()
    print("| intercept, null hook | hooks' billed time per invocation, mean (ms) "
          "| added p50 beyond the hooks' billed time (ms) | the floor: its hooks' time (ms) "
          "| the floor beyond its hooks' time (ms) |\n|---|---|---|---|---|")
    for size, label in (("1024", "1 KiB"), ("1048576", "1 MiB"), ("1024_response_only", "1 KiB, RESPONSE only")):
        x = r["intercept"][size]
        floor = ("%.3f | %s" % (x["floor_hooks_ms"], spread(x, "added_floor_beyond_hooks_p50_ms"))
                 if x.get("floor_hooks_ms") is not None else "— | —")
        if x.get("billed_ms") is None:
            print("| %s | — (no counters line) | — | %s |" % (label, floor))
            continue
        print("| %s | %.3f | %s | %s |" % (label, x["billed_ms"], spread(x, "added_beyond_billed_p50_ms"), floor))
    print()
    print("| | observe | intercept |\n|---|---|---|")
    o, i = r["observe"], r["intercept"]
    for key, label in (("hook_ms", "1 KiB"), ("hook_ms_big", "1 MiB")):
        print("| null hook's own time in the child (receipt → reply), %s, median (ms) | %s | %s |"
              % ((label,) + tuple("%.4f" % x[key] if x[key] is not None else "—" for x in (o, i))))
    print("| 6 MiB /response answered, direct → proxied, median (ms) | %.2f → %.2f | %.2f → %.2f |"
          % (o["6mib_direct_ms"], o["6mib_proxied_ms"], i["6mib_direct_ms"], i["6mib_proxied_ms"]))
    print("| host peak RSS: idle → 6 MiB response (MiB) | %.1f → %.1f | %.1f → %.1f |"
          % (o["rss_idle_kb"] / 1024, o["rss_6mib_kb"] / 1024, i["rss_idle_kb"] / 1024, i["rss_6mib_kb"] / 1024))
    print("| host peak RSS: idle → 100 MiB streamed response (MiB) | %.1f → %.1f | %.1f → %.1f |"
          % (o["rss_idle2_kb"] / 1024, o["rss_stream_kb"] / 1024, i["rss_idle2_kb"] / 1024, i["rss_stream_kb"] / 1024))
    print("| 100 MiB stream, direct → proxied (s) | %.2f → %.2f | %.2f → %.2f |"
          % (o["stream_100mib_direct_s"], o["stream_100mib_s"], i["stream_100mib_direct_s"], i["stream_100mib_s"]))
    for mode in ("observe", "intercept"):
        for w in r[mode].get("host_warnings", []):
            print("host (%s): %s" % (mode, w))


if __name__ == "__main__":
    main()
