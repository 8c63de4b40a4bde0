"""The redactor and the validator as hooks: what each decides for the events and responses a
function sees (the end-to-end run through the real proxy is tests/integration/proxy_sdk_test.cpp)."""
import base64
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from extension_runner import ProxyEvent  # noqa: E402
from redactor import redact  # noqa: E402
from validator import validate  # noqa: E402


def response(**fields):
    return ProxyEvent(dict({"eventType": "RESPONSE", "requestId": "r1", "status": "success"}, **fields))


def request(**fields):
    return ProxyEvent(dict({"eventType": "REQUEST", "requestId": "r1"}, **fields))


class RedactorTest(unittest.TestCase):
    def test_masks_the_field_at_any_depth(self):
        api_gateway_body = json.dumps({"user": {"ssn": "123-45-6789", "name": "a"}})
        cases = [
            ({"ssn": "123-45-6789", "name": "a"}, {"payload": {"ssn": "***", "name": "a"}}),
            ({"users": [{"ssn": "1"}, {"id": 2}]}, {"payload": {"users": [{"ssn": "***"}, {"id": 2}]}}),
            (
                {"statusCode": 200, "body": api_gateway_body},
                {"payload": {"statusCode": 200, "body": json.dumps({"user": {"ssn": "***", "name": "a"}})}},
            ),
            ({"name": "a"}, None),  # nothing to mask: forwarded unchanged
            ({"body": "{not json"}, None),
            ("a string", None),
            (None, None),
        ]
        for payload, expected in cases:
            with self.subTest(payload=payload):
                decision = redact(response(payload=payload), None)
                self.assertEqual(None if decision is None else decision.result, expected)

    def test_leaves_bytes_errors_and_streams_alone(self):
        cases = [
            response(payloadBase64=base64.b64encode(b"ssn=1").decode()),
            response(streamed=True, bytes=10),
        ]
        for event in cases:
            with self.subTest(event=event):
                self.assertIsNone(redact(event, None))

    def test_an_error_response_is_masked_too(self):
        decision = redact(response(status="error", errorType="E", payload={"ssn": "1"}), None)
        self.assertEqual(decision.result, {"payload": {"ssn": "***"}})


class ValidatorTest(unittest.TestCase):
    def test_rejects_events_lacking_the_field(self):
        cases = [
            ({"tenant": "t1", "order": 7}, None),
            ({"tenant": None}, None),  # present is enough
            ({"order": 7}, "Validation.MissingField"),
            ([{"tenant": "t1"}], "Validation.MissingField"),
            (None, "Validation.MissingField"),
        ]
        for payload, errortype in cases:
            with self.subTest(payload=payload):
                decision = validate(request(payload=payload), None)
                if errortype is None:
                    self.assertIsNone(decision)
                else:
                    self.assertTrue(decision.errors)
                    self.assertEqual(decision.errortype, errortype)
                    self.assertEqual(decision.result["errorMessage"], 'the event has no "tenant" field')

    def test_a_body_that_is_not_json_is_rejected(self):
        decision = validate(request(payloadBase64=base64.b64encode(b"tenant=t1").decode()), None)
        self.assertEqual(decision.errortype, "Validation.MissingField")


if __name__ == "__main__":
    unittest.main()
