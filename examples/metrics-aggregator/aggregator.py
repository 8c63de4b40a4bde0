"""metrics-aggregator: the function ``send``s counters and timings; this extension adds them up per
invocation and writes one CloudWatch Embedded Metric Format line per invocation (docs/messages.md).

A message is ``{"metric": NAME, "value": NUMBER, "unit": UNIT}`` (unit optional, default
"Count"): values of a "Count" metric are summed; any other unit (e.g. "Milliseconds") keeps every
value (EMF takes an array: CloudWatch builds the statistics). Anything else is counted as
ignored. An invocation's line is written when the next INVOKE arrives (its messages came first:
EXTENSION_RUNNER_FLUSH=invoke delivers them before the next /next) and at SHUTDOWN for the rest
(Managed Instances, which has no INVOKE events, writes all its lines then).

Settings: EMF_NAMESPACE (default "ExtensionRunner/App").
"""

import json
import os
import sys
import time

from extension_runner import Extension


class Aggregator:
    """Per-invocation sums (Count) and value lists (other units), in first-seen order."""

    def __init__(self, namespace, function_name):
        self.namespace = namespace
        self.function_name = function_name
        self.open = {}  # requestId -> {metric: (unit, total or [values])}
        self.ignored = 0

    def add(self, messages):
        for m in messages:
            body = m.get("message") if isinstance(m, dict) else None
            if not isinstance(body, dict) or not isinstance(body.get("metric"), str):
                self.ignored += 1
                continue
            value = body.get("value", 1)
            unit = body.get("unit", "Count")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not isinstance(unit, str):
                self.ignored += 1
                continue
            metrics = self.open.setdefault(m.get("requestId"), {})
            if unit == "Count":
                previous = metrics.get(body["metric"], (unit, 0))[1]
                metrics[body["metric"]] = (unit, previous + value)
            else:
                metrics.setdefault(body["metric"], (unit, []))[1].append(value)

    def close(self, keep=None):
        """EMF lines of every open invocation but ``keep``, which stay open."""
        lines = []
        for request_id in [r for r in self.open if r != keep]:
            lines.append(self.emf_line(request_id, self.open.pop(request_id)))
        return lines

    def emf_line(self, request_id, metrics):
        line = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [["FunctionName"]],
                    "Metrics": [{"Name": name, "Unit": unit} for name, (unit, _) in metrics.items()],
                }],
            },
            "FunctionName": self.function_name,
            "requestId": request_id,
        }
        for name, (_, value) in metrics.items():
            line[name] = value
        return line


def main():
    ext = Extension()
    state = {}

    @ext.on_start
    def start(startup):
        state["agg"] = Aggregator(os.environ.get("EMF_NAMESPACE") or "ExtensionRunner/App",
                                  startup.function.name)

    def emit(lines):
        for line in lines:
            ext.output(json.dumps(line, separators=(",", ":")))

    @ext.on_messages
    def messages(batch, ctx):
        state["agg"].add(batch)

    @ext.on_invoke
    def invoke(event, ctx):
        emit(state["agg"].close(keep=ctx.request_id))

    @ext.on_shutdown
    def shutdown(event, ctx):
        emit(state["agg"].close())
        if state["agg"].ignored:
            print("metrics-aggregator: ignored %d messages" % state["agg"].ignored, file=sys.stderr)

    ext.run()


if __name__ == "__main__":
    main()
