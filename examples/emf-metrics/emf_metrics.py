#!/usr/bin/env python3
"""emf-metrics: one CloudWatch Embedded Metric Format line per invocation, from its telemetry.

A Lambda extension written with the extension-runner Python SDK (docs/sdk.md). Subscribe to
the `platform` telemetry type (EXTENSION_RUNNER_TELEMETRY=telemetry); each invocation's
`platform.report` (joined with its `platform.runtimeDone` where the platform sends one) becomes
one EMF line on the extension's stdout, which Lambda writes to the function's log stream, where
CloudWatch turns it into metrics [EMF]:

  Duration, BilledDuration (ms), MaxMemoryUsed, MemorySize (MB) from platform.report;
  InitDuration (ms) on a cold start (report.initDurationMs, else platform.initReport);
  RuntimeDuration (ms), ProducedBytes from platform.runtimeDone (not sent on Managed Instances).

Configuration (environment):
  EMF_NAMESPACE      metric namespace (default "ExtensionRunner")
  EMF_DIMENSIONS     comma-separated dimension names, each optionally "Name=value"; FunctionName,
                     FunctionVersion and Platform are filled in (default "FunctionName")
  EMF_LOG_RECORDS    "1": also log each source record to stderr (debugging, tests)

Invocations whose report has not arrived by SHUTDOWN are still written (with the metrics known)
and counted in the last log line, so no invocation is silently lost.
"""
import json
import os
import sys

from extension_runner import Extension, InvocationTracker

KNOWN_DIMENSIONS = ("FunctionName", "FunctionVersion", "Platform")

# (metric name, unit, record kind, metrics key) in output order.
REPORT_METRICS = (
    ("Duration", "Milliseconds", "durationMs"),
    ("BilledDuration", "Milliseconds", "billedDurationMs"),
    ("MaxMemoryUsed", "Megabytes", "maxMemoryUsedMB"),
    ("MemorySize", "Megabytes", "memorySizeMB"),
    ("InitDuration", "Milliseconds", "initDurationMs"),
    ("RestoreDuration", "Milliseconds", "restoreDurationMs"),
)
RUNTIME_DONE_METRICS = (
    ("RuntimeDuration", "Milliseconds", "durationMs"),
    ("ProducedBytes", "Bytes", "producedBytes"),
)


class Config:
    """The settings, read from the environment; ValueError names a bad one."""

    def __init__(self, env, function_name=None, function_version=None, platform="lambda"):
        self.namespace = env.get("EMF_NAMESPACE", "ExtensionRunner").strip()
        if not self.namespace:
            raise ValueError("EMF_NAMESPACE is empty")
        self.log_records = env.get("EMF_LOG_RECORDS", "") == "1"
        known = {
            "FunctionName": function_name,
            "FunctionVersion": function_version,
            "Platform": platform,
        }
        self.dimensions = {}
        for item in env.get("EMF_DIMENSIONS", "FunctionName").split(","):
            name, sep, value = item.strip().partition("=")
            name = name.strip()
            if not name:
                continue
            if sep:
                self.dimensions[name] = value.strip()
            elif name in known:
                if not known[name]:
                    raise ValueError("EMF_DIMENSIONS: %s is not known here" % name)
                self.dimensions[name] = known[name]
            else:
                raise ValueError(
                    "EMF_DIMENSIONS: %s needs a value (Name=value); known names: %s"
                    % (name, ", ".join(KNOWN_DIMENSIONS))
                )


def _number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def emf_line(invocation, config, init_duration_ms=None):
    """The EMF object for one Invocation (see extension_runner.InvocationTracker), or None when
    it carries no metric at all."""
    metrics, values = [], {}

    def add(name, unit, value):
        value = _number(value)
        if value is not None and name not in values:
            metrics.append({"Name": name, "Unit": unit})
            values[name] = value

    report = invocation.report.metrics if invocation.report else {}
    for name, unit, key in REPORT_METRICS:
        add(name, unit, report.get(key))
    if init_duration_ms is not None:
        add("InitDuration", "Milliseconds", init_duration_ms)
    done = invocation.runtime_done.metrics if invocation.runtime_done else {}
    for name, unit, key in RUNTIME_DONE_METRICS:
        add(name, unit, done.get(key))
    if not metrics:
        return None
    source = invocation.report or invocation.runtime_done or invocation.start
    when = source.time if source else None
    line = {
        "_aws": {
            "Timestamp": int(when.timestamp() * 1000) if when else 0,
            "CloudWatchMetrics": [
                {
                    "Namespace": config.namespace,
                    "Dimensions": [list(config.dimensions)],
                    "Metrics": metrics,
                }
            ],
        }
    }
    line.update(config.dimensions)
    line.update(values)
    line["requestId"] = invocation.request_id
    fields = (invocation.report or invocation.runtime_done)
    status = fields.fields.get("status") if fields and fields.fields else None
    if isinstance(status, str):
        line["status"] = status
    if invocation.report is None:
        line["reportMissing"] = True
    return line


class EmfMetrics:
    """Joins telemetry into invocations and writes one EMF line per invocation."""

    def __init__(self, write, config, platform):
        self.write = write
        self.config = config
        self.tracker = InvocationTracker(platform)
        self.cold = True  # the first invocation of this environment carries the init duration
        self.lines = 0
        self.without_report = 0

    def init_duration(self, invocation):
        if not self.cold:
            return None
        self.cold = False
        if invocation.report and "initDurationMs" in invocation.report.metrics:
            return None  # the report carries it itself
        init = self.tracker.init.get("platform.initReport")
        return _number(init.metrics.get("durationMs")) if init else None

    def emit(self, invocation):
        line = emf_line(invocation, self.config, self.init_duration(invocation))
        if line is not None:
            self.write(json.dumps(line, separators=(",", ":")))
            self.lines += 1

    def on_records(self, records):
        if self.config.log_records:
            for r in records:
                if r.is_platform:
                    print("emf-metrics: record " + json.dumps(r.raw, separators=(",", ":")), file=sys.stderr)
        for invocation in self.tracker.add(records):
            self.emit(invocation)
        self.tracker.unattributed.clear()  # logs and init records are not metrics

    def on_shutdown(self):
        rest = self.tracker.drain()
        for invocation in rest:
            self.without_report += 1
            self.emit(invocation)
        print(
            "emf-metrics: wrote %d EMF lines; %d invocations without platform.report at shutdown"
            % (self.lines, self.without_report)
        )
        return {"lines": self.lines, "withoutReport": self.without_report}


def main():
    ext = Extension()
    state = {}

    @ext.on_start
    def start(startup):
        env = dict(os.environ, **startup.env)
        config = Config(env, startup.function.name, startup.function.version, startup.platform)
        state["metrics"] = EmfMetrics(ext.output, config, startup.platform)

    @ext.on_telemetry
    def telemetry(batch, ctx):
        state["metrics"].on_records(batch)

    @ext.on_shutdown
    def shutdown(event, ctx):
        return state["metrics"].on_shutdown()

    ext.run()


if __name__ == "__main__":
    main()
