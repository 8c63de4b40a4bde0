"""Tests of examples/metrics-aggregator: the aggregation, and one EMF line per invocation end to end
under `extension-runner emulate` (scenario `messages`), standard and Managed Instances.
ER_BINARY names the binary under test (default: build/bin/extension-runner).
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import aggregator  # noqa: E402


def binary():
    return (
        os.environ.get("ER_BINARY")
        or os.environ.get("ER_DEFAULT_BINARY")
        or os.path.join(ROOT, "build", "bin", "extension-runner")
    )


def msg(request_id, body):
    return {"requestId": request_id, "time": "2026-03-01T12:00:00.000Z", "message": body}


class AggregatorTest(unittest.TestCase):
    def test_counts_sum_timings_collect_and_junk_is_ignored(self):
        agg = aggregator.Aggregator("NS", "fn")
        agg.add([
            msg("a", {"metric": "Items", "value": 2}),
            msg("a", {"metric": "Items", "value": 3}),
            msg("a", {"metric": "Time", "value": 1.5, "unit": "Milliseconds"}),
            msg("b", {"metric": "Items"}),
            msg("a", {"metric": "Time", "value": 2.5, "unit": "Milliseconds"}),
            msg("a", "not an object"),
            msg("a", {"metric": "Items", "value": "3"}),
            msg("a", {"metric": "Items", "value": True}),
        ])
        self.assertEqual(agg.ignored, 3)
        lines = agg.close(keep="b")
        self.assertEqual(len(lines), 1)
        line = lines[0]
        self.assertEqual((line["requestId"], line["Items"], line["Time"]), ("a", 5, [1.5, 2.5]))
        directive = line["_aws"]["CloudWatchMetrics"][0]
        self.assertEqual(directive["Namespace"], "NS")
        self.assertEqual(directive["Metrics"], [{"Name": "Items", "Unit": "Count"},
                                                {"Name": "Time", "Unit": "Milliseconds"}])
        self.assertEqual([l["Items"] for l in agg.close()], [1])
        self.assertEqual(agg.close(), [])


class FunctionTest(unittest.TestCase):
    def test_handler_returns_even_without_the_extension(self):
        import socket

        import extension_runner
        import function

        dead = socket.socket()
        dead.bind(("127.0.0.1", 0))
        url = "http://127.0.0.1:%d/v1/messages" % dead.getsockname()[1]
        dead.close()
        saved = os.environ.get(extension_runner.MESSAGES_URL_ENV)
        os.environ[extension_runner.MESSAGES_URL_ENV] = url
        try:
            self.assertEqual(function.handler({"items": [1, 2]}, None), {"processed": 2})
        finally:
            if saved is None:
                os.environ.pop(extension_runner.MESSAGES_URL_ENV)
            else:
                os.environ[extension_runner.MESSAGES_URL_ENV] = saved


class EmulateTest(unittest.TestCase):
    """One EMF line per invocation, holding exactly what the emulated function sent."""

    def emulate(self, *extra, invokes=3):
        if not os.access(binary(), os.X_OK):
            self.skipTest("no extension-runner binary at %s (build first)" % binary())
        messages = [{"metric": "ItemsProcessed", "value": 2},
                    {"metric": "ItemsProcessed", "value": 5},
                    {"metric": "HandlerTime", "value": 1.25, "unit": "Milliseconds"}]
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({"invokes": invokes, "messages": messages}, f)
        self.addCleanup(os.unlink, f.name)
        env = dict(os.environ, EMF_NAMESPACE="EmulateTest",
                   EXTENSION_RUNNER_MESSAGES_LISTEN="127.0.0.1:0", EXTENSION_RUNNER_FLUSH="invoke")
        if "--managed-instances" in extra:
            env["EXTENSION_RUNNER_FLUSH"] = "periodic"  # no INVOKE to flush at there
        env.pop("AWS_LAMBDA_RUNTIME_API", None)
        run = subprocess.run(
            [binary(), "emulate", "--json", "--scenario", f.name, *extra,
             "--runtime", "exec %s %s" % (sys.executable, os.path.join(HERE, "aggregator.py"))],
            capture_output=True, text=True, env=env, timeout=120,
        )
        self.assertEqual(run.returncode, 0, run.stderr[-3000:])
        trace, emf = [], []
        for line in run.stdout.splitlines():
            obj = json.loads(line)
            (emf if "_aws" in obj else trace).append(obj)
        posted = [t["detail"].split(" ")[2] for t in trace if t.get("what") == "messages"]
        return emf, posted, run.stderr

    def check(self, emf, posted, invokes):
        self.assertEqual(len(posted), invokes)
        self.assertEqual(sorted(l["requestId"] for l in emf), sorted(posted), "one EMF line per invocation")
        for line in emf:
            self.assertEqual(line["ItemsProcessed"], 7)
            self.assertEqual(line["HandlerTime"], [1.25])
            self.assertEqual(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], "EmulateTest")

    def test_standard_platform(self):
        emf, posted, stderr = self.emulate(invokes=3)
        self.check(emf, posted, 3)
        self.assertIn("messages: received=9 delivered=9 refused=0", stderr)

    def test_managed_instances(self):
        emf, posted, stderr = self.emulate("--managed-instances", "--telemetry", invokes=4)
        self.check(emf, posted, 4)


if __name__ == "__main__":
    unittest.main()
