"""Rejects every event lacking a field (Runtime API proxy, intercept mode): the function never
sees it, the invocation fails with Validation.MissingField.

REQUIRED_FIELD: the top-level field every event must carry (default "tenant"). Run alone, or
with the redactor as guard.py.
"""
import os

from extension_runner import Extension

REQUIRED = os.environ.get("REQUIRED_FIELD", "tenant")


def validate(event, ctx):
    if isinstance(event.payload, dict) and REQUIRED in event.payload:
        return None  # forward unchanged
    return event.reject("Validation.MissingField", 'the event has no "%s" field' % REQUIRED)


if __name__ == "__main__":
    ext = Extension()
    ext.on_request(validate)
    ext.run()
