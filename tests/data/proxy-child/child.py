"""A runner-protocol child (docs/runner-protocol.md) for the proxy host tests: it logs every
event it gets (one JSON line each, to $PROXY_CHILD_LOG) and answers the proxy's REQUEST hook
as $PROXY_CHILD_MODE says (null, replace, respond, reject, crash, slow, garbage) for an event
whose payload has "apply": true, and with null for any other. In slow mode it first writes a
line to the FIFO $PROXY_CHILD_SIGNAL, if set: the hook is now holding the invocation. In
slow-copy mode it takes 300 ms over each RESPONSE event, then logs {"done": "RESPONSE"}.
$PROXY_CHILD_HANDLES, if set, is the startup response's `handles` (comma-separated)."""
import json
import os
import sys
import time

mode = os.environ.get("PROXY_CHILD_MODE", "null")
log_path = os.environ["PROXY_CHILD_LOG"]


def reply(request_id, result=None, errortype="", errors=False):
    answer = {"result": result, "errortype": errortype, "invokeid": request_id}
    if errors:
        answer["errors"] = True
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


def request_hook(request_id):
    if mode == "replace":
        return reply(request_id, {"payload": {"replaced": True}})
    if mode == "respond":
        return reply(request_id, {"respond": {"answered": "by the extension"}})
    if mode == "reject":
        return reply(request_id, "not allowed", "Policy.Denied", True)
    if mode == "crash":
        os._exit(3)
    if mode == "slow":
        signal = os.environ.get("PROXY_CHILD_SIGNAL")
        if signal:
            with open(signal, "w") as fifo:
                fifo.write("held\n")
        time.sleep(30)
    if mode == "garbage":
        sys.stdout.write("this is not JSON\n")
        sys.stdout.flush()
        return None
    return reply(request_id)


sys.stdin.readline()
handles = os.environ.get("PROXY_CHILD_HANDLES")
ready = {"ok": True}
if handles is not None:
    ready["handles"] = [h for h in handles.split(",") if h]
sys.stdout.write(json.dumps(ready) + "\n")
sys.stdout.flush()
for line in sys.stdin:
    request = json.loads(line)
    event = request["event"]
    request_id = request["context"]["aws_request_id"]
    with open(log_path, "a") as log:
        log.write(json.dumps(event) + "\n")
    payload = event.get("payload") if isinstance(event, dict) else None
    if event.get("eventType") == "REQUEST" and isinstance(payload, dict) and payload.get("apply"):
        request_hook(request_id)
    elif event.get("eventType") == "RESPONSE" and mode == "slow-copy":
        time.sleep(0.3)
        with open(log_path, "a") as log:
            log.write(json.dumps({"done": "RESPONSE"}) + "\n")
        reply(request_id)
    else:
        reply(request_id)
