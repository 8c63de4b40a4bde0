#!/usr/bin/env python3
"""The bench's Python extension: what extension-runner does, in Python's standard library only.

Registers for INVOKE and SHUTDOWN, loops on /event/next over one keep-alive connection
(http.client) and, without a child, prints each event as one line to stdout. With
BENCH_CHILD set it starts that command (/bin/sh -c, like EXTENSION_RUNNER_COMMAND) and
drives it over the runner protocol (docs/runner-protocol.md): a StartupRequest, then one
InvokeRequest line per event and one reply line read back, then stdin closed after
SHUTDOWN. It exists only to be measured against (bench/README.md); no third-party code.
"""
import http.client
import json
import os
import subprocess
import sys

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
BASE = "/2020-01-01/extension"


def main():
    conn = http.client.HTTPConnection(API)
    name = os.path.basename(sys.argv[0])
    conn.request("POST", BASE + "/register", body=json.dumps({"events": ["INVOKE", "SHUTDOWN"]}),
                 headers={"Lambda-Extension-Name": name, "Content-Type": "application/json"})
    resp = conn.getresponse()
    registration = json.loads(resp.read() or b"{}")
    ext_id = resp.getheader("Lambda-Extension-Identifier")
    child = None
    command = os.environ.get("BENCH_CHILD")
    if command:
        child = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, bufsize=0)
        startup = {"handler": "", "env": {"AWS_LAMBDA_FUNCTION_NAME":
                                          registration.get("functionName", "")},
                   "version": 1, "name": name, "mode": "lambda"}
        child.stdin.write((json.dumps(startup, separators=(",", ":")) + "\n").encode())
        answer = json.loads(child.stdout.readline())
        if not answer.get("ok"):
            conn.request("POST", BASE + "/init/error", body=json.dumps(
                {"errorMessage": answer.get("error", ""), "errorType": "Extension.ChildStartupFailed",
                 "stackTrace": []}), headers={"Lambda-Extension-Identifier": ext_id,
                                              "Lambda-Extension-Function-Error-Type":
                                              "Extension.ChildStartupFailed"})
            conn.getresponse().read()
            sys.exit(1)
    out = sys.stdout
    while True:
        conn.request("GET", BASE + "/event/next", headers={"Lambda-Extension-Identifier": ext_id})
        body = conn.getresponse().read()
        event = json.loads(body)
        if child is None:
            out.write(json.dumps(event, separators=(",", ":")) + "\n")
            out.flush()
        else:
            request = {"context": {"aws_request_id": event.get("requestId", "shutdown"),
                                   "client_context": None, "identity": None,
                                   "invoked_function_arn": event.get("invokedFunctionArn", "")},
                       "event": event, "deadline": event["deadlineMs"]}
            child.stdin.write((json.dumps(request, separators=(",", ":")) + "\n").encode())
            reply = json.loads(child.stdout.readline())
            if reply.get("invokeid") != request["context"]["aws_request_id"]:
                sys.exit("child answered out of step")
        if event.get("eventType") == "SHUTDOWN":
            if child is not None:
                child.stdin.close()
                child.wait()
            return


if __name__ == "__main__":
    main()
