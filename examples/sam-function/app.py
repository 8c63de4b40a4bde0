"""Sample function for the SAM template: the function itself does almost nothing.

The interesting part runs next to it: the extension-runner layer starts as a Lambda extension,
receives every INVOKE event and hands it to the child runtime configured by
EXTENSION_RUNNER_COMMAND (runner.py, packaged next to this file by `make build-SampleFunction`).
"""

import json


def handler(event, context):
    print(json.dumps({"message": "sample function invoked", "request_id": context.aws_request_id}))
    return {"ok": True, "echo": event}
