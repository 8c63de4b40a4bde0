"""A function runtime for the proxy host tests: takes one event from $AWS_LAMBDA_RUNTIME_API,
prints it, and answers it with {"echo": <event>}; prints what the Runtime API it was given is."""
import json
import os
import urllib.request

api = os.environ["AWS_LAMBDA_RUNTIME_API"]
print("runtime api=" + api, flush=True)
with urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/invocation/next", timeout=30) as r:
    request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
    event = r.read().decode()
print("event " + request_id + " " + event, flush=True)
body = json.dumps({"echo": json.loads(event)}).encode()
post = urllib.request.Request(
    f"http://{api}/2018-06-01/runtime/invocation/{request_id}/response", data=body, method="POST"
)
with urllib.request.urlopen(post, timeout=30) as r:
    print("response status " + str(r.status), flush=True)
