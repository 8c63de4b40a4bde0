"""Tests of examples/log-forwarder-python: the batching, retry and background-sending logic with
a fake transport, and the extension end to end under `extension-runner emulate --telemetry`
(standard and Managed-Instances modes) against a local HTTP endpoint on 127.0.0.1 port 0, which
must receive every function record exactly once; with an endpoint that always fails, the
post-runtime time must stay free of retries. ER_BINARY names the binary under test (default:
build/bin/extension-runner). Expected records come from the scenario file the test writes.
"""

import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import log_forwarder  # noqa: E402
from extension_runner import TelemetryBatch  # noqa: E402


def binary():
    return (
        os.environ.get("ER_BINARY")
        or os.environ.get("ER_DEFAULT_BINARY")
        or os.path.join(ROOT, "build", "bin", "extension-runner")
    )


def rec(type_, record):
    return {"time": "2026-03-01T12:00:00.000Z", "type": type_, "record": record}


def records(n, request_id="r1"):
    return TelemetryBatch(
        [rec("platform.start", {"requestId": request_id})]
        + [rec("function", "line %d" % i) for i in range(n)]
        + [rec("platform.runtimeDone", {"requestId": request_id})]
    )


def config(**over):
    c = log_forwarder.Config({"LOG_FORWARDER_URL": "http://127.0.0.1:1/"})
    for k, v in over.items():
        setattr(c, k, v)
    return c


class FakeSend:
    """A transport answering from a list of statuses (or exceptions; the last one repeats)."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.calls = []

    def __call__(self, url, body, headers, timeout):
        self.calls.append({"body": body.decode(), "key": headers["Idempotency-Key"]})
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


class ConfigTest(unittest.TestCase):
    def test_defaults(self):
        c = log_forwarder.Config({"LOG_FORWARDER_URL": "http://127.0.0.1:9/logs"})
        self.assertEqual((c.url.geturl(), c.batch, c.retries, c.timeout_ms, c.flush_ms, c.max_buffer),
                         ("http://127.0.0.1:9/logs", 500, 3, 2000, 1000, 10000))

    def test_refusals(self):
        cases = [
            ({}, "LOG_FORWARDER_URL is not set"),
            ({"LOG_FORWARDER_URL": "nope"}, "must be an http"),
            ({"LOG_FORWARDER_URL": "ftp://x/"}, "must be an http"),
            ({"LOG_FORWARDER_URL": "http://x:port/"}, "bad port"),
            ({"LOG_FORWARDER_URL": "http://x/", "LOG_FORWARDER_BATCH": "0"}, "LOG_FORWARDER_BATCH must be an integer >= 1"),
            ({"LOG_FORWARDER_URL": "http://x/", "LOG_FORWARDER_RETRIES": "-1"}, "LOG_FORWARDER_RETRIES"),
            ({"LOG_FORWARDER_URL": "http://x/", "LOG_FORWARDER_TIMEOUT_MS": "1.5"}, "LOG_FORWARDER_TIMEOUT_MS"),
        ]
        for env, message in cases:
            with self.subTest(env=env):
                with self.assertRaisesRegex(ValueError, message):
                    log_forwarder.Config(env)


class ForwarderTest(unittest.TestCase):
    def test_batches_of_the_configured_size_with_the_request_id(self):
        send = FakeSend([200])
        f = log_forwarder.Forwarder(config(batch=2), send)
        f.add(records(5))
        f.add(TelemetryBatch([rec("extension", "not a function record")]))
        self.assertTrue(f.flush(time.time() + 10))
        self.assertEqual([len(c["body"].strip().split("\n")) for c in send.calls], [2, 2, 1])
        lines = [json.loads(l) for c in send.calls for l in c["body"].strip().split("\n")]
        self.assertEqual([(l["requestId"], l["message"], l["record"], l["type"]) for l in lines],
                         [("r1", "line %d" % i, "line %d" % i, "function") for i in range(5)])
        self.assertRegex(f.summary(), r"received 5 records, sent 5 in 3 batches, unsent 0 ")

    def test_a_retryable_failure_is_retried_with_the_same_key(self):
        send = FakeSend([503, ConnectionResetError("reset"), 200])
        f = log_forwarder.Forwarder(config(retries=3), send)
        f.add(records(3))
        self.assertTrue(f.flush(time.time() + 10))
        self.assertEqual(len(send.calls), 3)
        self.assertEqual(len({c["key"] for c in send.calls}), 1)
        self.assertRegex(f.summary(), r"sent 3 in 1 batches, unsent 0 .*2 failed POSTs")

    def test_bounded_retries_unsent_records_stay_buffered(self):
        for status, retries, posts in [(500, 2, 3), (400, 2, 1)]:
            with self.subTest(status=status):
                send = FakeSend([status])
                f = log_forwarder.Forwarder(config(retries=retries), send)
                f.add(records(4))
                self.assertFalse(f.flush(time.time() + 10))
                self.assertEqual(len(send.calls), posts)
                self.assertEqual(len(f.buffer), 4)
                self.assertRegex(f.summary(), (
                    r"received 4 records, sent 0 in 0 batches, unsent 4 \(4 after retries, 0 over "
                    r"the buffer limit\), %d failed POSTs, last error: HTTP %d") % (posts, status))

    def test_the_buffer_bound_and_a_passed_deadline(self):
        send = FakeSend([200])
        f = log_forwarder.Forwarder(config(max_buffer=3), send)
        f.add(records(5))
        self.assertFalse(f.flush(time.time() - 1))
        self.assertEqual(send.calls, [])
        self.assertRegex(f.summary(), r"received 5 records, sent 0 in 0 batches, unsent 5 \(3 after retries, 2 over the buffer limit\)")

    def test_due_by_size_and_by_age(self):
        f = log_forwarder.Forwarder(config(batch=3, flush_ms=60000), FakeSend([200]))
        f.add(records(2))
        self.assertFalse(f.due())
        f.add(records(1))
        self.assertTrue(f.due())
        g = log_forwarder.Forwarder(config(batch=100, flush_ms=0), FakeSend([200]))
        self.assertFalse(g.due())
        g.add(records(1))
        self.assertTrue(g.due())

    def test_kick_starts_one_background_flush_and_never_waits(self):
        answer = threading.Event()
        posted = threading.Semaphore(0)
        bodies = []

        def send(url, body, headers, timeout):
            bodies.append(body)
            posted.release()
            answer.wait(10)
            return 200

        f = log_forwarder.Forwarder(config(), send)
        self.assertFalse(f.kick(), "an empty buffer starts nothing")
        f.add(records(2))
        started = time.monotonic()
        self.assertTrue(f.kick())
        self.assertLess(time.monotonic() - started, 0.5, "kick() returned before the POST was answered")
        self.assertTrue(posted.acquire(timeout=10))
        f.add(records(1))
        self.assertTrue(f.kick(), "a second kick joins the flush in progress")
        answer.set()
        self.assertTrue(f.drain(time.time() + 10))
        self.assertEqual(len(bodies), 2, "one POST at a time; the record added meanwhile follows")
        self.assertRegex(f.summary(), r"received 3 records, sent 3 ")

    def test_after_a_batch_fails_for_good_no_background_flush_for_a_flush_interval(self):
        send = FakeSend([500])
        f = log_forwarder.Forwarder(config(retries=0, flush_ms=60000), send)
        f.add(records(1))
        self.assertTrue(f.kick())
        f._sender.join(10)
        self.assertEqual(len(send.calls), 1)
        self.assertFalse(f.kick(), "paused")
        self.assertEqual(len(send.calls), 1)
        self.assertFalse(f.drain(time.time() + 5), "SHUTDOWN still tries: drain ignores the pause")
        self.assertEqual(len(send.calls), 2)

    def test_drain_waits_for_the_background_flush_but_not_past_its_deadline(self):
        for answer_s, deadline_s, result, sent in [(0.01, 5.0, True, 2), (5.0, 0.05, False, 0)]:
            with self.subTest(answer_s=answer_s):
                release = threading.Event()

                def send(url, body, headers, timeout):
                    release.wait(answer_s)
                    return 200

                f = log_forwarder.Forwarder(config(), send)
                f.add(records(2))
                f.kick()
                started = time.monotonic()
                self.assertEqual(f.drain(time.time() + deadline_s), result)
                self.assertLess(time.monotonic() - started, deadline_s + 1)
                self.assertEqual(f.counts["sent"], sent)
                release.set()


# ---------------------------------------------------------------------------------------------
# End to end under emulate
# ---------------------------------------------------------------------------------------------

SCENARIO_LOGS = ["line one", {"level": "INFO", "message": "line two"}, "line three"]


def message_of(log):
    return log if isinstance(log, str) else log["message"]


class Endpoint:
    """A local NDJSON endpoint on 127.0.0.1, port 0: answers each POST from `statuses` (the last
    one repeats), keeps the lines of the accepted ones."""

    def __init__(self, statuses):
        self.statuses = list(statuses)
        self.received = []
        self.posts = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                status = outer.statuses.pop(0) if len(outer.statuses) > 1 else outer.statuses[0]
                outer.posts.append({"status": status, "type": self.headers.get("Content-Type"),
                                    "key": self.headers.get("Idempotency-Key")})
                if status == 200:
                    outer.received.extend(json.loads(l) for l in body.split("\n") if l)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/ingest" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class EmulateTest(unittest.TestCase):
    def setUp(self):
        if not os.access(binary(), os.X_OK):
            self.skipTest("no extension-runner binary at %s (build first)" % binary())
        self.dir = tempfile.mkdtemp(prefix="er-logfwd-py-")

    def tearDown(self):
        subprocess.run(["rm", "-rf", self.dir], check=False)

    def scenario(self, **fields):
        path = os.path.join(self.dir, "scenario.json")
        with open(path, "w") as f:
            json.dump(dict(logs=SCENARIO_LOGS, **fields), f)
        return path

    def emulate(self, *args, env=None, buffer_timeout_ms=100):
        # --buffer-timeout-ms=100: the emulator drops a batch that becomes ready while a POST is
        # still pending, as the platform does; on a starved test machine a POST can outlast the
        # default 25 ms, and the exactly-once tests count every record.
        full_env = dict(os.environ, AWS_LAMBDA_RUNTIME_API="", **(env or {}))
        return subprocess.run(
            [binary(), "emulate", "--json", "--telemetry", "--buffer-timeout-ms=%d" % buffer_timeout_ms,
             *args, "--runtime", "exec %s %s" % (sys.executable, os.path.join(HERE, "log_forwarder.py"))],
            capture_output=True, text=True, env=full_env, timeout=120,
        )

    @staticmethod
    def invocation_ids(stdout):
        ids = []
        for line in stdout.splitlines():
            t = json.loads(line)
            if t.get("what") == "next" and t["detail"].startswith("INVOKE "):
                ids.append(t["detail"].split()[1])
            m = t.get("what") == "request" and re.match(r"([0-9a-f-]{36}):", t["detail"])
            if m:
                ids.append(m.group(1))
        return list(dict.fromkeys(ids))

    def test_every_function_record_reaches_the_endpoint_exactly_once(self):
        for mode, args, invokes in [("standard", [], 3), ("managed-instances", ["--managed-instances"], 4)]:
            with self.subTest(mode=mode):
                server = Endpoint([200])
                try:
                    run = self.emulate(*args, "--invokes", str(invokes), "--scenario", self.scenario(),
                                       env={"LOG_FORWARDER_URL": server.url, "LOG_FORWARDER_BATCH": "2"})
                    self.assertEqual(run.returncode, 0, run.stderr[-3000:])
                    ids = self.invocation_ids(run.stdout)
                    self.assertEqual(len(ids), invokes)
                    expected = sorted("%s %s" % (i, message_of(l)) for i in ids for l in SCENARIO_LOGS)
                    got = sorted("%s %s" % (r["requestId"], r["message"]) for r in server.received)
                    self.assertEqual(got, expected)
                    self.assertTrue(all(p["type"] == "application/x-ndjson" for p in server.posts))
                    n = len(expected)
                    self.assertRegex(run.stderr, r"log-forwarder: received %d records, sent %d in \d+ batches, unsent 0 " % (n, n))
                finally:
                    server.close()

    def test_a_refused_post_is_retried_and_still_delivers_each_record_once(self):
        server = Endpoint([503, 200])
        try:
            run = self.emulate("--invokes", "2", "--scenario", self.scenario(),
                               env={"LOG_FORWARDER_URL": server.url})
            self.assertEqual(run.returncode, 0, run.stderr[-3000:])
            ids = self.invocation_ids(run.stdout)
            expected = sorted("%s %s" % (i, message_of(l)) for i in ids for l in SCENARIO_LOGS)
            self.assertEqual(sorted("%s %s" % (r["requestId"], r["message"]) for r in server.received), expected)
            self.assertEqual(server.posts[0]["status"], 503)
            self.assertEqual(server.posts[1]["key"], server.posts[0]["key"])
            self.assertRegex(run.stderr, r"unsent 0 .*1 failed POSTs, last error: HTTP 503")
        finally:
            server.close()

    def test_a_failing_endpoint_adds_no_post_runtime_time(self):
        # Bound: the first retry alone backs off 100 ms, so a p50 under it means no retry was on
        # the path; what remains is the host's own wait for platform.runtimeDone under the
        # default flush (about buffering.timeoutMs, 25 ms by default), and none under periodic.
        for flush in ([], ["--flush", "periodic"]):
            with self.subTest(flush=flush):
                server = Endpoint([500])
                try:
                    run = self.emulate(*flush, "--scenario", self.scenario(invokes=6, spacingMs=50, durationMs=5),
                                       env={"LOG_FORWARDER_URL": server.url}, buffer_timeout_ms=25)
                    self.assertEqual(run.returncode, 0, run.stderr[-3000:])
                    summary = [json.loads(l) for l in run.stdout.splitlines() if '"what":"summary"' in l][0]
                    self.assertEqual(summary["post_runtime_ms"]["count"], 6)
                    self.assertLess(summary["post_runtime_ms"]["p50"], 100)
                    self.assertTrue(server.posts and all(p["status"] == 500 for p in server.posts))
                    # One flush of 1 + 3 POSTs, then at most one per flush interval, and SHUTDOWN's.
                    self.assertLessEqual(len(server.posts), 16)
                    last = re.search(r"log-forwarder: received (\d+) records, sent 0 in 0 batches, unsent (\d+) ", run.stderr)
                    self.assertIsNotNone(last, run.stderr[-2000:])
                    self.assertEqual(last.group(2), last.group(1))
                    self.assertGreater(int(last.group(1)), 0)
                finally:
                    server.close()

    def test_without_an_url_the_extension_fails_its_start(self):
        # report: the start-up failure reaches Lambda (the function's init fails); continue: it
        # is logged and counted, and the function is untouched (exit 0).
        for policy, failed in [("report", True), ("continue", False)]:
            with self.subTest(policy=policy):
                run = self.emulate(env={"LOG_FORWARDER_URL": "", "EXTENSION_RUNNER_ON_FAILURE": policy})
                self.assertEqual(run.returncode != 0, failed, run.stderr[-2000:])
                self.assertIn("LOG_FORWARDER_URL is not set", run.stdout + run.stderr)


if __name__ == "__main__":
    unittest.main()
