"""Soak-test child runtime (runner protocol v1, docs/runner-protocol.md).

Each INVOKE's requestId ends in the behaviour the soak test drew for it from its seeded random
schedule: "-ok" answers, "-crash" exits at once, "-hang" sleeps past the deadline, "-garbage"
writes a non-JSON line and a reply whose fields have the wrong types. TELEMETRY requests are
answered, after $SOAK_TELEMETRY_DELAY_MS (a slow consumer, for the listener load test). Every
start, every behaviour and every telemetry record count is appended to $SOAK_LOG, which the
tests read to check that the counters add up.
"""
import json
import os
import sys
import time

proto = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
log = open(os.environ["SOAK_LOG"], "a", buffering=1)
# A slow consumer of telemetry (the listener load test): seconds per TELEMETRY request.
telemetry_delay = float(os.environ.get("SOAK_TELEMETRY_DELAY_MS", "0")) / 1000


def send(obj):
    proto.write(json.dumps(obj) + "\n")
    proto.flush()


sys.stdin.readline()  # StartupRequest
log.write("start %d\n" % os.getpid())
send({"ok": True})
for line in sys.stdin:
    req = json.loads(line)
    rid = req["context"]["aws_request_id"]
    event = req["event"]
    kind = event.get("eventType") if isinstance(event, dict) else None
    if kind == "TELEMETRY":
        time.sleep(telemetry_delay)
        log.write("telemetry %d\n" % len(event["records"]))
        send({"result": None, "errortype": "", "invokeid": rid})
        continue
    if kind == "SHUTDOWN":
        log.write("shutdown\n")
        send({"result": None, "errortype": "", "invokeid": rid})
        continue
    behaviour = rid.rsplit("-", 1)[-1]
    log.write("%s %s\n" % (behaviour, rid))
    if behaviour == "crash":
        os._exit(3)
    if behaviour == "hang":
        time.sleep(3600)
    if behaviour == "garbage":
        proto.write("\x01\x02 this is not json\n")
        send({"invokeid": rid, "errortype": 42, "result": {}})
        continue
    send({"result": {"ok": True}, "errortype": "", "invokeid": rid})
