#!/usr/bin/env python3
"""extension-runner child runtime: a generic handler host on the Python SDK (docs/sdk.md).

EXTENSION_RUNNER_HANDLER="module.function" loads a handler from EXTENSION_RUNNER_HANDLER_DIR
(default: the current directory); without it a built-in echo handler answers. The handler is
called as handler(event, context) for every event, context being the protocol's context object
plus "deadline", "function" (the Register answer) and "platform" ("lambda" or
"managed-instances", where no INVOKE ever comes). extension_runner.py (the SDK) sits next to
this file.
"""
import importlib
import os
import sys

from extension_runner import Extension

ext = Extension()
handler = None


def echo(event, context):
    print("echo handler got", event.get("eventType"), context["aws_request_id"])
    return {"eventType": event.get("eventType"), "requestId": event.get("requestId")}


@ext.on_start
def load(startup):
    global handler
    spec = startup.handler or os.environ.get("EXTENSION_RUNNER_HANDLER", "")
    if not spec:
        handler = echo
        return
    module, _, function = spec.rpartition(".")
    sys.path.insert(0, os.environ.get("EXTENSION_RUNNER_HANDLER_DIR", os.getcwd()))
    try:
        handler = getattr(importlib.import_module(module), function)
    except Exception as e:  # the host reports this as Extension.ChildStartupFailed
        raise RuntimeError("cannot load handler: %r" % e) from e


@ext.on_event
def any_event(event, ctx):
    return handler(event if isinstance(event, dict) else {}, ctx.as_dict())


ext.run()
