"""Tests of examples/emf-metrics: the conversion, and the extension end to end under
`extension-runner emulate --telemetry` (standard and Managed-Instances modes).

The emulate tests derive every expected value from the telemetry the emulator delivered
(EMF_LOG_RECORDS=1 makes the extension log each platform record it receives) and from the trace.
ER_BINARY names the binary under test (default: build/bin/extension-runner).
"""

import json
import os
import re
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import emf_metrics  # noqa: E402
from extension_runner import Record, Invocation, InvocationTracker  # noqa: E402


def binary():
    return (
        os.environ.get("ER_BINARY")
        or os.environ.get("ER_DEFAULT_BINARY")
        or os.path.join(ROOT, "build", "bin", "extension-runner")
    )


def rec(type_, record, time_="2026-03-01T12:00:00.250Z"):
    return {"time": time_, "type": type_, "record": record}


def invocation(*records):
    inv = Invocation(records[0]["record"]["requestId"])
    for r in records:
        inv._add(Record(r))
    return inv


class ConfigTest(unittest.TestCase):
    def test_settings(self):
        cases = [
            ({}, "ExtensionRunner", {"FunctionName": "fn"}),
            ({"EMF_NAMESPACE": "Team/Svc", "EMF_DIMENSIONS": "FunctionName, Platform ,Stage=prod"},
             "Team/Svc", {"FunctionName": "fn", "Platform": "lambda", "Stage": "prod"}),
            ({"EMF_DIMENSIONS": ""}, "ExtensionRunner", {}),
            ({"EMF_DIMENSIONS": "FunctionVersion"}, "ExtensionRunner", {"FunctionVersion": "$LATEST"}),
        ]
        for env, namespace, dimensions in cases:
            with self.subTest(env=env):
                c = emf_metrics.Config(env, "fn", "$LATEST", "lambda")
                self.assertEqual(c.namespace, namespace)
                self.assertEqual(c.dimensions, dimensions)

    def test_bad_settings_are_refused(self):
        cases = [
            ({"EMF_NAMESPACE": " "}, "EMF_NAMESPACE"),
            ({"EMF_DIMENSIONS": "Team"}, "needs a value"),
            ({"EMF_DIMENSIONS": "FunctionVersion"}, "not known"),
        ]
        for env, message in cases:
            with self.subTest(env=env):
                with self.assertRaisesRegex(ValueError, message):
                    emf_metrics.Config(env, "fn", None, "lambda")


class EmfLineTest(unittest.TestCase):
    config = emf_metrics.Config({"EMF_NAMESPACE": "NS", "EMF_DIMENSIONS": "FunctionName"}, "fn", "1", "lambda")

    def test_report_and_runtime_done(self):
        inv = invocation(
            rec("platform.start", {"requestId": "r1"}),
            rec("platform.runtimeDone", {"requestId": "r1", "status": "success",
                                         "metrics": {"durationMs": 10.5, "producedBytes": 42}}),
            rec("platform.report", {"requestId": "r1", "status": "success", "metrics": {
                "durationMs": 11.25, "billedDurationMs": 12, "memorySizeMB": 128,
                "maxMemoryUsedMB": 64, "initDurationMs": 150.5}}),
        )
        line = emf_metrics.emf_line(inv, self.config)
        self.assertEqual(line["_aws"]["Timestamp"], 1772366400250)
        directive = line["_aws"]["CloudWatchMetrics"][0]
        self.assertEqual(directive["Namespace"], "NS")
        self.assertEqual(directive["Dimensions"], [["FunctionName"]])
        self.assertEqual(
            [(m["Name"], m["Unit"]) for m in directive["Metrics"]],
            [("Duration", "Milliseconds"), ("BilledDuration", "Milliseconds"),
             ("MaxMemoryUsed", "Megabytes"), ("MemorySize", "Megabytes"),
             ("InitDuration", "Milliseconds"), ("RuntimeDuration", "Milliseconds"),
             ("ProducedBytes", "Bytes")],
        )
        for name, value in [("FunctionName", "fn"), ("Duration", 11.25), ("BilledDuration", 12),
                            ("MaxMemoryUsed", 64), ("MemorySize", 128), ("InitDuration", 150.5),
                            ("RuntimeDuration", 10.5), ("ProducedBytes", 42), ("requestId", "r1"),
                            ("status", "success")]:
            self.assertEqual(line[name], value, name)
        self.assertNotIn("reportMissing", line)
        # Every metric named in the directive has its value as a member (EMF requires it).
        for m in directive["Metrics"]:
            self.assertIn(m["Name"], line)

    def test_managed_instances_report_has_duration_only(self):
        inv = invocation(rec("platform.report", {"requestId": "r2", "status": "success", "metrics": {"durationMs": 3}}))
        line = emf_metrics.emf_line(inv, self.config, init_duration_ms=716)
        self.assertEqual([m["Name"] for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]], ["Duration", "InitDuration"])
        self.assertEqual((line["Duration"], line["InitDuration"]), (3, 716))

    def test_no_report_at_shutdown(self):
        inv = invocation(rec("platform.runtimeDone", {"requestId": "r3", "status": "timeout", "metrics": {"durationMs": 9}}))
        line = emf_metrics.emf_line(inv, self.config)
        self.assertEqual(line["RuntimeDuration"], 9)
        self.assertEqual(line["status"], "timeout")
        self.assertIs(line["reportMissing"], True)
        self.assertIsNone(emf_metrics.emf_line(invocation(rec("platform.start", {"requestId": "r4"})), self.config))

    def test_non_numbers_are_not_metrics(self):
        inv = invocation(rec("platform.report", {"requestId": "r5", "metrics": {"durationMs": "1", "billedDurationMs": True, "maxMemoryUsedMB": 5}}))
        line = emf_metrics.emf_line(inv, self.config)
        self.assertEqual([m["Name"] for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]], ["MaxMemoryUsed"])


class ColdStartTest(unittest.TestCase):
    def run_records(self, batches, platform="lambda"):
        lines = []
        m = emf_metrics.EmfMetrics(lines.append, emf_metrics.Config({}, "fn", "1", platform), platform)
        for b in batches:
            m.on_records([Record(r) for r in b])
        summary = m.on_shutdown()
        return [json.loads(l) for l in lines], summary

    def test_init_duration_only_on_the_first_invocation(self):
        lines, summary = self.run_records([
            [rec("platform.initReport", {"metrics": {"durationMs": 80}}),
             rec("platform.start", {"requestId": "a"}), rec("platform.runtimeDone", {"requestId": "a"})],
            [rec("platform.report", {"requestId": "a", "metrics": {"durationMs": 1}}),
             rec("platform.start", {"requestId": "b"})],
            [rec("platform.report", {"requestId": "b", "metrics": {"durationMs": 2}})],
        ])
        self.assertEqual([(l["requestId"], l.get("InitDuration")) for l in lines], [("a", 80), ("b", None)])
        self.assertEqual(summary, {"lines": 2, "withoutReport": 0})

    def test_report_init_duration_wins(self):
        lines, _ = self.run_records([[
            rec("platform.initReport", {"metrics": {"durationMs": 80}}),
            rec("platform.report", {"requestId": "a", "metrics": {"durationMs": 1, "initDurationMs": 77}}),
        ]])
        self.assertEqual(lines[0]["InitDuration"], 77)

    def test_invocations_without_report_are_written_at_shutdown(self):
        lines, summary = self.run_records([[
            rec("platform.start", {"requestId": "a"}),
            rec("platform.runtimeDone", {"requestId": "a", "metrics": {"durationMs": 4}}),
        ]])
        self.assertEqual([(l["requestId"], l["RuntimeDuration"], l["reportMissing"]) for l in lines], [("a", 4, True)])
        self.assertEqual(summary, {"lines": 1, "withoutReport": 1})


class EmulateTest(unittest.TestCase):
    """The extension under the real binary, against the embedded emulator."""

    def emulate(self, *extra, invokes=3):
        if not os.access(binary(), os.X_OK):
            self.skipTest("no extension-runner binary at %s (build first)" % binary())
        env = dict(os.environ, EMF_LOG_RECORDS="1", EMF_NAMESPACE="EmulateTest",
                   EMF_DIMENSIONS="FunctionName,Platform,Stage=test")
        env.pop("AWS_LAMBDA_RUNTIME_API", None)
        run = subprocess.run(
            [binary(), "emulate", "--json", "--telemetry", "--invokes", str(invokes), *extra,
             "--runtime", "exec %s %s" % (sys.executable, os.path.join(HERE, "emf_metrics.py"))],
            capture_output=True, text=True, env=env, timeout=120,
        )
        self.assertEqual(run.returncode, 0, run.stderr[-3000:])
        trace, emf = [], []
        for line in run.stdout.splitlines():
            obj = json.loads(line)  # every stdout line is JSON: trace lines and EMF lines
            (emf if "_aws" in obj else trace).append(obj)
        records = [json.loads(l.split("emf-metrics: record ", 1)[1])
                   for l in run.stderr.splitlines() if "emf-metrics: record " in l]
        return trace, emf, records, run.stderr

    def check(self, trace, emf, records, platform, invokes):
        tracker = InvocationTracker(platform)
        expected = {}
        for inv in tracker.add(records):
            expected[inv.request_id] = inv
        self.assertEqual(len(expected), invokes, "one platform.report per invocation")
        self.assertEqual(sorted(l["requestId"] for l in emf), sorted(expected), "one EMF line per invocation")
        init = tracker.init.get("platform.initReport")
        for n, line in enumerate(emf):
            inv = expected[line["requestId"]]
            directive = line["_aws"]["CloudWatchMetrics"][0]
            self.assertEqual(directive["Namespace"], "EmulateTest")
            self.assertEqual(directive["Dimensions"], [["FunctionName", "Platform", "Stage"]])
            self.assertEqual(line["Platform"], platform)
            self.assertEqual(line["Stage"], "test")
            self.assertTrue(line["FunctionName"])
            self.assertEqual(line["_aws"]["Timestamp"], int(inv.report.time.timestamp() * 1000))
            for name, _, key in emf_metrics.REPORT_METRICS:
                if key in inv.report.metrics:
                    self.assertEqual(line[name], inv.report.metrics[key], name)
            if inv.runtime_done is not None:
                self.assertEqual(line["RuntimeDuration"], inv.runtime_done.metrics["durationMs"])
            for m in directive["Metrics"]:
                self.assertIsInstance(line[m["Name"]], (int, float))
            if init is not None and "initDurationMs" not in inv.report.metrics:
                self.assertEqual(line.get("InitDuration"), init.metrics["durationMs"] if n == 0 else None)
        return expected

    def test_standard_platform(self):
        trace, emf, records, stderr = self.emulate(invokes=3)
        expected = self.check(trace, emf, records, "lambda", 3)
        invoked = [t["detail"].split()[1] for t in trace if t["what"] == "next" and t["detail"].startswith("INVOKE ")]
        self.assertEqual(sorted(invoked), sorted(expected))
        for line in emf:  # the standard platform reports billing and memory
            for name in ("Duration", "BilledDuration", "MaxMemoryUsed", "MemorySize", "RuntimeDuration"):
                self.assertIn(name, line)
        self.assertIn("emf-metrics: wrote 3 EMF lines; 0 invocations without platform.report", stderr)

    def test_managed_instances(self):
        trace, emf, records, stderr = self.emulate("--managed-instances", invokes=4)
        expected = self.check(trace, emf, records, "managed-instances", 4)
        reported = {m.group(1) for t in trace if t["what"] == "request"
                    for m in [re.match(r"([0-9a-f-]{36}):", t["detail"])] if m}
        self.assertEqual(reported, set(expected))
        self.assertTrue(any("InitDuration" in l for l in emf), "cold start: init duration from platform.initReport")
        self.assertIn("emf-metrics: wrote 4 EMF lines", stderr)

    def test_a_bad_setting_fails_the_start(self):
        if not os.access(binary(), os.X_OK):
            self.skipTest("no extension-runner binary")
        env = dict(os.environ, EMF_DIMENSIONS="Team", EXTENSION_RUNNER_ON_FAILURE="report")
        env.pop("AWS_LAMBDA_RUNTIME_API", None)
        run = subprocess.run(
            [binary(), "emulate", "--telemetry", "--runtime",
             "exec %s %s" % (sys.executable, os.path.join(HERE, "emf_metrics.py"))],
            capture_output=True, text=True, env=env, timeout=120,
        )
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("EMF_DIMENSIONS: Team needs a value", run.stdout + run.stderr)


if __name__ == "__main__":
    unittest.main()
