#!/usr/bin/env python3
"""extension-runner child runtime (runner protocol v1, docs/runner-protocol.md), stdlib only.

EXTENSION_RUNNER_HANDLER="module.function" loads a handler from EXTENSION_RUNNER_HANDLER_DIR
(default: the current directory); without it a built-in echo handler answers.
"""
import importlib, json, os, sys, traceback

# The protocol owns the original stdout; anything the user prints goes to stderr instead.
proto = os.fdopen(os.dup(1), "w", encoding="utf-8")
os.dup2(2, 1)
sys.stdout = os.fdopen(1, "w", buffering=1, encoding="utf-8", closefd=False)


def send(message):
    proto.write(json.dumps(message, separators=(",", ":")) + "\n")
    proto.flush()


def echo(event, context):
    print("echo handler got", event.get("eventType"), context["aws_request_id"])
    return {"eventType": event.get("eventType"), "requestId": event.get("requestId")}


def load(spec):
    if not spec:
        return echo
    module, _, function = spec.rpartition(".")
    sys.path.insert(0, os.environ.get("EXTENSION_RUNNER_HANDLER_DIR", os.getcwd()))
    return getattr(importlib.import_module(module), function)


startup = json.loads(sys.stdin.readline() or "{}")
try:
    handler = load(startup.get("handler") or os.environ.get("EXTENSION_RUNNER_HANDLER", ""))
except Exception as e:  # the host reports this as Extension.ChildStartupFailed
    send({"ok": False, "error": "cannot load handler: %r" % e})
    sys.exit(1)
send({"ok": True})

for line in sys.stdin:
    request = json.loads(line)
    context = request["context"]
    reply = {"result": None, "errortype": "", "invokeid": context["aws_request_id"]}
    try:
        # function: the Register answer; platform: "lambda" or "managed-instances", where no
        # INVOKE ever comes and each request's telemetry ends with its platform.report.
        reply["result"] = handler(request["event"], dict(
            context, deadline=request["deadline"], function=startup.get("function", {}),
            platform=startup.get("platform", "lambda")))
    except Exception as e:
        traceback.print_exc()
        reply.update(result={"errorMessage": str(e)}, errortype=type(e).__name__, errors=True)
    send(reply)
