"""Tests of the Python SDK's Runtime API proxy hooks (on_request / on_response, ProxyEvent):
the decisions as the host reads them (docs/runner-protocol.md, "What the reply decides"), the
misuse errors, non-JSON and streamed events. A real child process, driven like the host does.
"""

import base64
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from test_extension_runner import Child  # noqa: E402

# Each hook does what the event's "Test-Decision" header says; "describe" replaces the payload
# by what the SDK made of the event.
HOOKS = """
    import asyncio
    from extension_runner import Extension
    ext = Extension()

    def describe(event, ctx):
        return {"type": event.event_type, "id": event.request_id, "json": event.is_json,
                "payload": event.payload,
                "bytes_b64": None if event.payload_bytes is None
                else __import__("base64").b64encode(event.payload_bytes).decode(),
                "status": event.status, "error_type": event.error_type,
                "streamed": event.streamed, "size": event.bytes, "prelude": event.prelude,
                "request": event.is_request, "response": event.is_response,
                "headers": event.headers, "ctx_id": ctx.request_id,
                "client_context": ctx.client_context}

    def decide(event, ctx):
        d = event.headers.get("Test-Decision")
        if d == "none":
            return None
        if d == "forward":
            return event.forward()
        if d == "replace":
            return event.replace({"masked": True})
        if d == "replace_null":
            return event.replace(None)
        if d == "replace_bytes":
            return event.replace_bytes(b"\\x00\\xffraw")
        if d == "respond":
            return event.respond({"answered": 1})
        if d == "respond_bytes":
            return event.respond_bytes(bytearray(b"plain text"))
        if d == "reject":
            return event.reject("Policy.Denied", "no tenant")
        if d == "reject_default":
            return event.reject("Policy.Denied")
        if d == "describe":
            return event.replace(describe(event, ctx))
        # misuse
        if d == "reject_runner":
            return event.reject("Runner.Timeout", "x")
        if d == "reject_empty":
            return event.reject("", "x")
        if d == "reject_none":
            return event.reject(None)
        if d == "reject_newline":
            return event.reject("Bad\\nType")
        if d == "reject_message_object":
            return event.reject("Policy.Denied", {"why": 1})
        if d == "replace_bytes_str":
            return event.replace_bytes("text")
        if d == "return_dict":
            return {"payload": 1}
        if d == "replace_unserialisable":
            return event.replace({1, 2})
        if d == "raise_key_error":
            return event.payload["tenant"]
        raise KeyError(d)

    ext.on_request(decide)

    @ext.on_response
    async def response(event, ctx):
        await asyncio.sleep(0)
        return decide(event, ctx)

    ext.run()
"""

RAW_BYTES = b"\x00\xffraw"


def request_event(decision, **fields):
    event = {
        "eventType": "REQUEST",
        "requestId": "r1",
        "headers": {"Lambda-Runtime-Aws-Request-Id": "r1", "Test-Decision": decision},
        "payload": {"order": 7},
    }
    event.update(fields)
    return event


def response_event(decision, **fields):
    event = {
        "eventType": "RESPONSE",
        "requestId": "r1",
        "status": "success",
        "headers": {"Test-Decision": decision},
        "payload": {"ssn": "123"},
    }
    event.update(fields)
    return event


def streamed_response(decision):
    event = response_event(decision, streamed=True, bytes=1048576)
    del event["payload"]
    return event


class ProxyHookTest(unittest.TestCase):
    def setUp(self):
        self.child = Child(HOOKS)
        self.assertEqual(self.child.start(), {"ok": True, "handles": ["REQUEST", "RESPONSE"]})

    def tearDown(self):
        if self.child.proc.poll() is None:
            self.assertEqual(self.child.close(), 0)

    def ask(self, event):
        reply = self.child.request("r1", event)
        self.assertEqual(reply["invokeid"], "r1")
        return reply

    def test_decisions(self):
        ok = lambda result: {"result": result, "errortype": ""}  # noqa: E731
        rejected = {
            "result": {"errorType": "Policy.Denied", "errorMessage": "no tenant"},
            "errortype": "Policy.Denied",
            "errors": True,
        }
        bytes_b64 = base64.b64encode(RAW_BYTES).decode()
        cases = [
            ("none", request_event, ok(None)),
            ("none", response_event, ok(None)),
            ("forward", request_event, ok(None)),
            ("forward", response_event, ok(None)),
            ("replace", request_event, ok({"payload": {"masked": True}})),
            ("replace", response_event, ok({"payload": {"masked": True}})),
            ("replace_null", response_event, ok({"payload": None})),
            ("replace_bytes", request_event, ok({"payloadBase64": bytes_b64})),
            ("replace_bytes", response_event, ok({"payloadBase64": bytes_b64})),
            ("respond", request_event, ok({"respond": {"answered": 1}})),
            ("respond_bytes", request_event, ok({"respondBase64": base64.b64encode(b"plain text").decode()})),
            ("reject", request_event, rejected),
            ("reject", response_event, rejected),
            (
                "reject_default",
                request_event,
                dict(rejected, result={"errorType": "Policy.Denied", "errorMessage": "rejected by the extension"}),
            ),
            ("none", streamed_response, ok(None)),
        ]
        for decision, make, expected in cases:
            event = make(decision)
            with self.subTest(decision=decision, event=make.__name__):
                reply = self.ask(event)
                for key, value in expected.items():
                    self.assertEqual(reply[key], value)
                if "errors" not in expected:
                    self.assertNotIn("errors", reply)

    def test_misuse_and_exceptions_are_a_failed_hook_naming_the_mistake(self):
        cases = [
            ("respond", response_event, "ProxyDecisionError", "REQUEST events only"),
            ("respond_bytes", response_event, "ProxyDecisionError", "REQUEST events only"),
            ("reject_runner", request_event, "ProxyDecisionError", "'Runner.' are the host's own"),
            ("reject_runner", response_event, "ProxyDecisionError", "'Runner.' are the host's own"),
            ("reject_empty", request_event, "ProxyDecisionError", "non-empty error type"),
            ("reject_none", request_event, "ProxyDecisionError", "non-empty error type"),
            ("reject_newline", request_event, "ProxyDecisionError", "control characters"),
            ("reject_message_object", request_event, "ProxyDecisionError", "message as a string"),
            ("replace_bytes_str", request_event, "ProxyDecisionError", "takes bytes, not str"),
            ("replace", streamed_response, "ProxyDecisionError", "already forwarded"),
            ("reject", streamed_response, "ProxyDecisionError", "already forwarded"),
            ("return_dict", request_event, "TypeError", "returned dict"),
            ("replace_unserialisable", response_event, "TypeError", "not JSON serializable"),
            ("raise_key_error", request_event, "KeyError", "'tenant'"),
            ("raise_key_error", response_event, "KeyError", "'tenant'"),
        ]
        for decision, make, errortype, message in cases:
            with self.subTest(decision=decision, event=make.__name__):
                reply = self.ask(make(decision))
                # Raised in a hook: a failed hook for the host (its fail policy), never a
                # rejection named after the exception.
                self.assertIs(reply.get("errors"), True)
                self.assertEqual(reply["errortype"], "Runner.HookFailed")
                self.assertIn(errortype + ": ", reply["result"]["errorMessage"])
                self.assertIn(message, reply["result"]["errorMessage"])
        # One request at a time, one reply each: the child still serves after every mistake.
        self.assertEqual(self.ask(request_event("none"))["result"], None)

    def test_what_the_hook_sees(self):
        cases = [
            (
                "a JSON event, with its context",
                request_event("describe"),
                {"client_context": {"custom": {"tenant": "t1"}}},
                {"type": "REQUEST", "json": True, "payload": {"order": 7}, "bytes_b64": None,
                 "status": None, "request": True, "response": False, "streamed": False,
                 "size": None, "client_context": {"custom": {"tenant": "t1"}}},
            ),
            (
                "a body that is not JSON",
                dict(
                    {k: v for k, v in request_event("describe").items() if k != "payload"},
                    payloadBase64=base64.b64encode(RAW_BYTES).decode(),
                ),
                {},
                {"json": False, "payload": None, "bytes_b64": base64.b64encode(RAW_BYTES).decode()},
            ),
            (
                "an /error response",
                response_event("describe", status="error", errorType="Function.Unhandled",
                               payload={"errorMessage": "boom"}),
                {},
                {"type": "RESPONSE", "status": "error", "error_type": "Function.Unhandled",
                 "payload": {"errorMessage": "boom"}, "request": False, "response": True},
            ),
            (
                "a JSON null response",
                response_event("describe", payload=None),
                {},
                {"json": True, "payload": None, "bytes_b64": None},
            ),
        ]
        for what, event, context, expected in cases:
            with self.subTest(what):
                reply = self.child.request("r1", event, **context)
                self.assertNotIn("errors", reply)
                seen = reply["result"]["payload"]
                self.assertEqual(seen["id"], "r1")
                self.assertEqual(seen["ctx_id"], "r1")
                self.assertEqual(seen["headers"]["Test-Decision"], "describe")
                for key, value in expected.items():
                    self.assertEqual(seen[key], value, key)

    def test_a_streamed_response_has_no_payload_and_nothing_to_decide(self):
        event = streamed_response("none")
        event["prelude"] = {"statusCode": 201}
        event["status"] = "error"
        event["errorType"] = "Function.Stream"
        self.assertEqual(self.ask(event)["result"], None)
        reply = self.ask(dict(event, headers={"Test-Decision": "replace"}))
        self.assertEqual(reply["errortype"], "Runner.HookFailed")
        self.assertIn("ProxyDecisionError: ", reply["result"]["errorMessage"])
        self.assertIn("streamed response r1 was already forwarded", reply["result"]["errorMessage"])


class ProxyEventTest(unittest.TestCase):
    """ProxyEvent on its own: what the child makes of events the host sends."""

    def setUp(self):
        import extension_runner as er

        self.er = er

    def test_streamed_response_fields(self):
        event = self.er.ProxyEvent(
            {"eventType": "RESPONSE", "requestId": "r9", "status": "success", "streamed": True,
             "bytes": 209715200, "prelude": {"statusCode": 200}, "headers": {"A": "1", "B": 2}}
        )
        self.assertTrue(event.streamed)
        self.assertEqual(event.bytes, 209715200)
        self.assertEqual(event.prelude, {"statusCode": 200})
        self.assertIsNone(event.payload)
        self.assertIsNone(event.payload_bytes)
        self.assertFalse(event.is_json)
        self.assertEqual(event.headers, {"A": "1"})  # non-string header values are dropped

    def test_bad_base64_is_a_clear_error(self):
        with self.assertRaises(ValueError):
            self.er.ProxyEvent({"eventType": "REQUEST", "requestId": "r", "payloadBase64": "%%%"})

    def test_only_on_event_gets_the_raw_event(self):
        child = Child(
            """
            from extension_runner import Extension
            ext = Extension()

            @ext.on_event
            def any_event(event, ctx):
                return {"raw": event}

            ext.run()
            """
        )
        # "*": the catch-all takes every event, so the host still asks the proxy hooks.
        self.assertEqual(child.start(), {"ok": True, "handles": ["*"]})
        event = request_event("none")
        self.assertEqual(child.request("r1", event)["result"], {"raw": event})
        self.assertEqual(child.close(), 0)


if __name__ == "__main__":
    unittest.main()
