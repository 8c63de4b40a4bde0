"""Masks a field in every response of the function (Runtime API proxy, intercept mode).

REDACT_FIELDS: comma-separated field names (default "ssn"), masked as "***" at any depth of a
JSON response, inside JSON strings too (an API Gateway response's "body"). Run alone, or with
the validator as guard.py.
"""
import json
import os

from extension_runner import Extension

FIELDS = set(os.environ.get("REDACT_FIELDS", "ssn").split(","))


def masked(value):
    if isinstance(value, dict):
        return {k: "***" if k in FIELDS else masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            inner = json.loads(value)
        except ValueError:
            return value
        clean = masked(inner)
        return value if clean == inner else json.dumps(clean)
    return value


def redact(event, ctx):
    if not event.is_json:
        return None  # bytes, or a stream that was forwarded as it arrived: nothing to mask
    clean = masked(event.payload)
    return None if clean == event.payload else event.replace(clean)


if __name__ == "__main__":
    ext = Extension()
    ext.on_response(redact)
    ext.run()
