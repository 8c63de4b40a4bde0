#!/usr/bin/env python3
"""What the messages endpoint costs the function, and what it carries (docs/messages.md).

Usage: bench/messages-cost.py [--binary BIN] [--posts N] [--messages N] [--out FILE]

Runs `BIN emulate` with EXTENSION_RUNNER_MESSAGES=on, one long invocation, and a counting
Python child (bench/messages_child.py), then measures against its endpoint:
  accept   latency of one POST of a 1 KiB message on a kept-alive connection, raw bytes over a
           socket (p50/p99 over N posts): what the function waits for at the least;
  sdk      100 send() calls (Python SDK, and the Node.js SDK) per "invocation": total ms, the
           median and max over 20 rounds;
  rate     messages/s reaching the child: 4 senders post batches of 100 small messages (backing
           off on 503) until N are accepted; from the first post to the SHUTDOWN counters line
           (the queue drained into the child);
  memory   the host's peak RSS (VmHWM) after that saturating phase, vs. before it.
Prints a Markdown table; --out writes JSON. Never asserted by a test (figures: docs/messages.md).
"""
import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "sdk", "python"))
import extension_runner as sdk  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class Host:
    def __init__(self, binary, port):
        scenario = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump({"invokes": 1, "durationMs": 600000, "functionTimeoutMs": 900000}, scenario)
        scenario.close()
        self.scenario = scenario.name
        env = dict(os.environ, EXTENSION_RUNNER_MESSAGES="on", EXTENSION_RUNNER_FLUSH="periodic",
                   EXTENSION_RUNNER_MESSAGES_LISTEN="127.0.0.1:%d" % port)
        env.pop("AWS_LAMBDA_RUNTIME_API", None)
        child = "exec %s %s" % (sys.executable, os.path.join(ROOT, "bench", "messages_child.py"))
        self.proc = subprocess.Popen([binary, "emulate", "--json", "--scenario", self.scenario,
                                      "--runtime", child], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, env=env)
        self.lines = []
        self.ready = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        if not self.ready.wait(30):
            raise SystemExit("messages-cost: the host did not start: %s" % "".join(self.lines[-5:]))

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)
            if "INVOKE" in line or "messages endpoint at" in line:
                pass
            if "[extension-runner] started" in line or "registered as" in line:
                self.ready.set()

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(60)
        self.reader.join(10)
        os.unlink(self.scenario)
        return "".join(self.lines)


def accept_latency(port, posts):
    message = json.dumps({"pad": "x" * 1000})  # 1 KiB of JSON
    request = ("POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               "Content-Length: %d\r\n\r\n%s" % (len(message), message)).encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    samples = []
    for _ in range(posts):
        started = time.perf_counter()
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.split(b"\r\n\r\n", 1)[1].endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                raise SystemExit("messages-cost: the endpoint closed the connection")
            answer += chunk
        samples.append((time.perf_counter() - started) * 1000)
        if not answer.startswith(b"HTTP/1.1 202"):
            raise SystemExit("messages-cost: unexpected answer %r" % answer[:40])
    sock.close()
    samples.sort()
    return samples[len(samples) // 2], samples[int(len(samples) * 0.99)]


def sdk_python(port, rounds=20):
    os.environ[sdk.MESSAGES_URL_ENV] = "http://127.0.0.1:%d/v1/messages" % port
    totals = []
    for r in range(rounds):
        started = time.perf_counter()
        ok = sum(sdk.send({"metric": "n", "value": i, "round": r}) for i in range(100))
        totals.append((time.perf_counter() - started) * 1000)
        if ok != 100:
            raise SystemExit("messages-cost: %d of 100 Python sends failed" % (100 - ok))
    return statistics.median(totals), max(totals)


NODE_SCRIPT = r"""
const er = require(process.argv[1]);
(async () => {
  const totals = [];
  for (let r = 0; r < 20; r++) {
    const t = process.hrtime.bigint();
    let ok = 0;
    for (let i = 0; i < 100; i++) ok += (await er.send({ metric: 'n', value: i, round: r })) ? 1 : 0;
    totals.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (ok !== 100) { console.error(`${100 - ok} sends failed`); process.exit(1); }
  }
  console.log(JSON.stringify(totals));
})();
"""


def sdk_node(port):
    env = dict(os.environ, EXTENSION_RUNNER_MESSAGES_URL="http://127.0.0.1:%d/v1/messages" % port)
    try:
        run = subprocess.run(["node", "-e", NODE_SCRIPT, os.path.join(ROOT, "sdk", "node", "extension-runner.js")],
                             capture_output=True, text=True, env=env, timeout=120)
    except FileNotFoundError:
        return None
    if run.returncode != 0:
        raise SystemExit("messages-cost: node: %s" % run.stderr)
    totals = json.loads(run.stdout)
    return statistics.median(totals), max(totals)


def saturate(port, total, senders=4, per_post=100):
    body = json.dumps([{"metric": "n", "value": i} for i in range(per_post)]).encode()
    request = ("POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               "Content-Length: %d\r\n\r\n" % len(body)).encode() + body
    accepted = [0]
    refused = [0]
    lock = threading.Lock()

    def sender():
        sock = socket.create_connection(("127.0.0.1", port))
        while True:
            with lock:
                if accepted[0] >= total:
                    break
            sock.sendall(request)
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.split(b"\r\n\r\n", 1)[1].endswith(b"\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    raise SystemExit("messages-cost: the endpoint closed the connection")
                answer += chunk
            with lock:
                if answer.startswith(b"HTTP/1.1 202"):
                    accepted[0] += per_post
                else:
                    refused[0] += per_post
            if not answer.startswith(b"HTTP/1.1 202"):
                time.sleep(0.001)  # Retry-After, shortened: the bench wants the queue full
        sock.close()

    started = time.time()
    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return started, accepted[0], refused[0]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", default=os.path.join(ROOT, "build", "bin", "extension-runner"))
    p.add_argument("--posts", type=int, default=5000)
    p.add_argument("--messages", type=int, default=400000)
    p.add_argument("--out")
    a = p.parse_args()
    port = free_port()
    host = Host(a.binary, port)
    results = {}
    try:
        results["accept_p50_ms"], results["accept_p99_ms"] = accept_latency(port, a.posts)
        results["sdk_python_100_ms"], results["sdk_python_100_max_ms"] = sdk_python(port)
        node = sdk_node(port)
        if node:
            results["sdk_node_100_ms"], results["sdk_node_100_max_ms"] = node
        results["rss_before_kb"] = vm_hwm_kb(host.proc.pid)
        started, accepted, refused = saturate(port, a.messages)
        results["rss_peak_kb"] = vm_hwm_kb(host.proc.pid)
        results["saturate_accepted"], results["saturate_refused_503"] = accepted, refused
    finally:
        log = host.stop()
    m = re.search(r"(\d{4}-\d\d-\d\dT[\d:.]+)Z INFO [^\n]*messages: received=(\d+) delivered=(\d+)", log)
    if m:
        import datetime

        end = datetime.datetime.fromisoformat(m.group(1)).replace(tzinfo=datetime.timezone.utc).timestamp()
        results["delivered_total"] = int(m.group(3))
        results["messages_per_s"] = accepted / max(end - started, 1e-3)
    rows = [
        ("accept, 1 KiB, raw socket p50 / p99", "%.3f / %.3f ms" % (results["accept_p50_ms"], results["accept_p99_ms"])),
        ("Python send() x100 median / max", "%.1f / %.1f ms" % (results["sdk_python_100_ms"], results["sdk_python_100_max_ms"])),
    ]
    if "sdk_node_100_ms" in results:
        rows.append(("Node send() x100 median / max", "%.1f / %.1f ms" % (results["sdk_node_100_ms"], results["sdk_node_100_max_ms"])))
    if "messages_per_s" in results:
        rows.append(("messages/s to a counting child (4 senders)", "%.0f (%d accepted, %d answered 503)" % (
            results["messages_per_s"], accepted, refused)))
    rows.append(("host peak RSS before / after saturation", "%d / %d KiB" % (results["rss_before_kb"], results["rss_peak_kb"])))
    print("| messages | |\n|---|---|")
    for name, value in rows:
        print("| %s | %s |" % (name, value))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
