"""The function side of metrics-aggregator: a handler that counts and times its work and hands
the numbers to the extension with ``send`` (never raises; False when the extension is away)."""

import time

from extension_runner import send_many


def handler(event, context):
    started = time.monotonic()
    items = event.get("items", []) if isinstance(event, dict) else []
    for _ in items:
        pass  # the work
    send_many(
        [
            {"metric": "ItemsProcessed", "value": len(items)},
            {"metric": "HandlerTime", "value": (time.monotonic() - started) * 1000, "unit": "Milliseconds"},
        ],
        request_id=getattr(context, "aws_request_id", None),
    )
    return {"processed": len(items)}
