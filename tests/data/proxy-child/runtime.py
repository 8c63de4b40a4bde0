"""A function runtime for the proxy host tests: takes one event from $AWS_LAMBDA_RUNTIME_API,
prints it, and answers it with {"echo": <event>}; prints what the Runtime API it was given is.
With RUNTIME_KEEP_ALIVE=1 both calls go over one kept connection, as the runtime clients of
Lambda's managed runtimes do; otherwise each has its own."""
import http.client
import json
import os
import urllib.request

api = os.environ["AWS_LAMBDA_RUNTIME_API"]
print("runtime api=" + api, flush=True)
if os.environ.get("RUNTIME_KEEP_ALIVE") == "1":
    host, port = api.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    r = conn.getresponse()
    request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
    event = r.read().decode()
    print("event " + request_id + " " + event, flush=True)
    body = json.dumps({"echo": json.loads(event)}).encode()
    conn.request("POST", f"/2018-06-01/runtime/invocation/{request_id}/response", body=body)
    r = conn.getresponse()
    r.read()
    print("response status " + str(r.status), flush=True)
    raise SystemExit(0)
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
