"""Child SDK for extension-runner (runner protocol v1, docs/runner-protocol.md), stdlib only.

A Lambda extension in a few lines, run by extension-runner as its child runtime::

    from extension_runner import Extension

    ext = Extension()

    @ext.on_invoke
    def invoke(event, ctx):
        print("invocation", ctx.request_id, ctx.remaining_ms(), "ms left")

    @ext.on_telemetry
    def telemetry(batch, ctx):
        for request_id, records in batch.by_request_id().items():
            print(request_id, [r.type for r in records])

    @ext.on_response  # with EXTENSION_RUNNER_PROXY=intercept (docs/proxy.md)
    def redact(event, ctx):
        if isinstance(event.payload, dict) and "ssn" in event.payload:
            return event.replace(dict(event.payload, ssn="***"))
        return None  # forward unchanged

    ext.run()

The SDK owns the protocol stream: it keeps the original stdout for the protocol and points file
descriptor 1 at stderr (so ``print`` and subprocesses write to the log, never into the protocol),
replies exactly once per request with the request's ``invokeid``, turns an exception into a reply
with ``errors: true`` and ``errortype`` = the exception's class, and returns from ``run()`` when
the host closes stdin. Handlers may be plain functions or ``async def`` coroutines.

Python >= 3.9. One file: copy it next to your code or ``pip install`` the folder holding it.
"""

import base64
import datetime
import json
import os
import sys
import time
import traceback

__all__ = [
    "Extension",
    "Startup",
    "Context",
    "FunctionInfo",
    "Record",
    "TelemetryBatch",
    "Invocation",
    "InvocationTracker",
    "ProxyEvent",
    "HOOK_FAILED_ERROR_TYPE",
    "ProxyDecision",
    "ProxyDecisionError",
    "group_by_request_id",
    "parse_time",
    "PROTOCOL_VERSION",
    "send",
    "send_many",
    "MESSAGES_URL_ENV",
]
__version__ = "1.0.0"

PROTOCOL_VERSION = 1

# Platform names as the host sends them in StartupRequest.platform.
PLATFORM_LAMBDA = "lambda"
PLATFORM_MANAGED_INSTANCES = "managed-instances"


def _log(message):
    """One line on stderr, which extension-runner logs with the extension's name as source."""
    try:
        sys.stderr.write("extension_runner: %s\n" % message)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


# --------------------------------------------------------------------------------------------
# Start-up and per-request context
# --------------------------------------------------------------------------------------------


class FunctionInfo:
    """The function this extension runs with: the Extensions API Register response [EXT].

    Taken from ``StartupRequest.function`` (``functionName``, ``functionVersion``, ``handler``,
    ``accountId`` when the host requested it); hosts that do not send it leave ``handler`` and
    ``account_id`` None and take name and version from the AWS_LAMBDA_FUNCTION_* variables.
    """

    __slots__ = ("name", "version", "handler", "account_id", "raw")

    def __init__(self, raw, env):
        raw = raw if isinstance(raw, dict) else {}
        self.raw = raw
        self.name = _str_or_none(raw.get("functionName")) or env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.version = _str_or_none(raw.get("functionVersion")) or env.get(
            "AWS_LAMBDA_FUNCTION_VERSION"
        )
        self.handler = _str_or_none(raw.get("handler"))
        self.account_id = _str_or_none(raw.get("accountId"))

    def __repr__(self):
        return "FunctionInfo(name=%r, version=%r, handler=%r, account_id=%r)" % (
            self.name,
            self.version,
            self.handler,
            self.account_id,
        )


def _str_or_none(value):
    return value if isinstance(value, str) else None


class Startup:
    """The StartupRequest, as given to ``on_start`` handlers.

    ``platform`` is ``"lambda"`` or ``"managed-instances"``; hosts that do not send the field
    only know the standard platform, so it defaults to ``"lambda"``.
    """

    def __init__(self, message):
        self.raw = message
        self.handler = _str_or_none(message.get("handler")) or ""
        env = message.get("env")
        self.env = {k: v for k, v in env.items() if isinstance(v, str)} if isinstance(env, dict) else {}
        self.version = message.get("version", PROTOCOL_VERSION)
        self.name = _str_or_none(message.get("name")) or ""
        self.mode = _str_or_none(message.get("mode")) or "lambda"
        self.platform = _str_or_none(message.get("platform")) or PLATFORM_LAMBDA
        self.function = FunctionInfo(message.get("function"), _merged_env(self.env))

    @property
    def managed_instances(self):
        """True on Lambda Managed Instances: no INVOKE events, only telemetry and SHUTDOWN [LMI]."""
        return self.platform == PLATFORM_MANAGED_INSTANCES


def _merged_env(env):
    merged = dict(os.environ)
    merged.update(env)
    return merged


class Context:
    """What a handler knows about the request it serves.

    ``request_id`` is the INVOKE's request id (a host-generated id for SHUTDOWN and telemetry
    requests); ``deadline_ms`` is epoch milliseconds by which the reply must be written.
    """

    def __init__(self, request, startup):
        context = request.get("context") or {}
        self.request_id = context.get("aws_request_id", "")
        self.invoked_function_arn = context.get("invoked_function_arn") or ""
        self.client_context = context.get("client_context")
        self.identity = context.get("identity")
        deadline = request.get("deadline")
        self.deadline_ms = deadline if isinstance(deadline, int) else 0
        self.startup = startup
        self.function = startup.function
        self.platform = startup.platform
        self.extension_name = startup.name
        self.mode = startup.mode
        self._context = context

    def remaining_ms(self):
        """Milliseconds until ``deadline_ms`` (0 once it has passed or when there is none)."""
        return max(0, self.deadline_ms - int(time.time() * 1000))

    def as_dict(self):
        """The protocol's context object plus ``deadline``, ``function`` (the Register answer as
        received, ``{}`` when absent) and ``platform``: the example runners' handler shape."""
        return dict(
            self._context,
            deadline=self.deadline_ms,
            function=self.function.raw,
            platform=self.platform,
        )

    def __repr__(self):
        return "Context(request_id=%r, deadline_ms=%r, platform=%r)" % (
            self.request_id,
            self.deadline_ms,
            self.platform,
        )


# --------------------------------------------------------------------------------------------
# Telemetry helpers
# --------------------------------------------------------------------------------------------


def parse_time(text):
    """An ISO-8601 telemetry ``time`` as an aware UTC datetime, or None when it does not parse."""
    if not isinstance(text, str) or not text:
        return None
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    # fromisoformat (3.9/3.10) takes 3 or 6 fraction digits only; Lambda writes 3, others 1-9.
    dot = t.find(".")
    if dot != -1:
        end = dot + 1
        while end < len(t) and t[end].isdigit():
            end += 1
        fraction = t[dot + 1 : end][:6].ljust(6, "0")
        t = t[: dot + 1] + fraction + t[end:]
    try:
        parsed = datetime.datetime.fromisoformat(t)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed


class Record:
    """One Telemetry API record ``{"time", "type", "record"}`` [TEL], as given plus typed access.

    ``raw`` is the record exactly as delivered; ``record`` its ``record`` member (an object, or a
    string for ``function``/``extension`` lines in text log format). ``request_id`` is the
    record's own ``requestId`` when it has one (platform.start/runtimeDone/report, and JSON-format
    log records); ``message`` is the log line (the string, or the object's ``message``).
    """

    __slots__ = ("raw", "type", "time_text", "record", "_time")

    def __init__(self, raw):
        self.raw = raw
        if not isinstance(raw, dict):
            raw = {}
        self.type = raw.get("type") if isinstance(raw.get("type"), str) else ""
        self.time_text = raw.get("time") if isinstance(raw.get("time"), str) else ""
        self.record = raw.get("record")
        self._time = False

    @property
    def time(self):
        """``time`` parsed to a UTC datetime (None when missing or malformed)."""
        if self._time is False:
            self._time = parse_time(self.time_text)
        return self._time

    @property
    def request_id(self):
        if isinstance(self.record, dict):
            rid = self.record.get("requestId")
            if isinstance(rid, str) and rid:
                return rid
        return None

    @property
    def is_log(self):
        """A ``function`` or ``extension`` log record."""
        return self.type in ("function", "extension")

    @property
    def is_platform(self):
        return self.type.startswith("platform.")

    @property
    def is_text(self):
        """A log record delivered as a plain string (text log format)."""
        return isinstance(self.record, str)

    @property
    def fields(self):
        """The record as an object (JSON log format, platform records), else None."""
        return self.record if isinstance(self.record, dict) else None

    @property
    def message(self):
        if isinstance(self.record, str):
            return self.record
        if isinstance(self.record, dict):
            m = self.record.get("message")
            if isinstance(m, str):
                return m
            if m is not None:
                return json.dumps(m, separators=(",", ":"))
        return None

    @property
    def metrics(self):
        """``record.metrics`` of a platform record ({} when absent)."""
        if isinstance(self.record, dict) and isinstance(self.record.get("metrics"), dict):
            return self.record["metrics"]
        return {}

    def __repr__(self):
        return "Record(type=%r, time=%r, request_id=%r)" % (self.type, self.time_text, self.request_id)


def _records(items):
    return [r if isinstance(r, Record) else Record(r) for r in items]


def group_by_request_id(records, platform=PLATFORM_LAMBDA):
    """Records grouped by invocation: ``{request_id: [Record, …]}`` in arrival order.

    A record counts for the request id it carries. On the standard platform one invocation runs
    at a time, so a log record without an id (text log format) belongs to the invocation opened
    by the last ``platform.start`` and not yet ended by its ``platform.runtimeDone``. On Managed
    Instances invocations run concurrently [LMI]: such records cannot be attributed and go under
    the key None, as do records outside any invocation (init, extension lines).
    """
    groups = {}
    open_id = None
    for record in _records(records):
        rid = record.request_id
        if record.type == "platform.start" and rid:
            open_id = rid if platform != PLATFORM_MANAGED_INSTANCES else None
        if rid is None and record.is_log and record.type == "function":
            rid = open_id
        groups.setdefault(rid, []).append(record)
        if record.type in ("platform.runtimeDone", "platform.report") and rid == open_id:
            open_id = None
    return groups


class TelemetryBatch(list):
    """One TELEMETRY event's records as ``Record`` objects (a list); ``raw`` is the given list."""

    def __init__(self, raw_records, platform=PLATFORM_LAMBDA):
        super().__init__(_records(raw_records if isinstance(raw_records, list) else []))
        self.raw = raw_records
        self.platform = platform

    def by_request_id(self):
        """See ``group_by_request_id``."""
        return group_by_request_id(self, self.platform)

    def of_type(self, *types):
        return [r for r in self if r.type in types]

    def logs(self):
        """The ``function`` log records."""
        return [r for r in self if r.type == "function"]


class Invocation:
    """Everything seen about one request id: its records in order, and the platform ones by name."""

    def __init__(self, request_id):
        self.request_id = request_id
        self.records = []
        self.start = None
        self.runtime_done = None
        self.report = None

    @property
    def logs(self):
        return [r for r in self.records if r.type == "function"]

    def _add(self, record):
        self.records.append(record)
        if record.type == "platform.start":
            self.start = record
        elif record.type == "platform.runtimeDone":
            self.runtime_done = record
        elif record.type == "platform.report":
            self.report = record

    def __repr__(self):
        return "Invocation(%r, %d records, report=%s)" % (
            self.request_id,
            len(self.records),
            self.report is not None,
        )


class InvocationTracker:
    """Joins an invocation's records across TELEMETRY batches.

    Lambda delivers an invocation's ``platform.report`` after the extension finished that
    invocation, so it usually arrives during the next one or at SHUTDOWN [TEL]. ``add(batch)``
    returns the invocations completed by that batch (their report arrived), each with all its
    records, logs included; ``drain()`` at SHUTDOWN returns those still without a report.
    Records not belonging to any invocation are kept in ``unattributed`` (a list, cleared by the
    caller), the init records (platform.initStart/initRuntimeDone/initReport) in ``init``.
    """

    def __init__(self, platform=PLATFORM_LAMBDA):
        self.platform = platform
        self.open = {}
        self.unattributed = []
        self.init = {}
        self._current = None

    def add(self, records):
        done = []
        for record in _records(records):
            if record.type.startswith("platform.init"):
                self.init[record.type] = record
            rid = record.request_id
            if record.type == "platform.start" and rid and self.platform != PLATFORM_MANAGED_INSTANCES:
                self._current = rid
            if rid is None and record.type == "function":
                rid = self._current
            if rid is None:
                self.unattributed.append(record)
                continue
            invocation = self.open.get(rid)
            if invocation is None:
                invocation = self.open[rid] = Invocation(rid)
            invocation._add(record)
            if record.type in ("platform.runtimeDone", "platform.report") and rid == self._current:
                self._current = None
            if record.type == "platform.report":
                done.append(self.open.pop(rid))
        return done

    def drain(self):
        """The invocations still open (no report yet), oldest first; forgets them."""
        rest = list(self.open.values())
        self.open.clear()
        self._current = None
        return rest


# --------------------------------------------------------------------------------------------
# Runtime API proxy hooks (docs/runner-protocol.md, "Runtime API proxy")
# --------------------------------------------------------------------------------------------


HOOK_FAILED_ERROR_TYPE = "Runner.HookFailed"
"""The error type of the reply for a REQUEST / RESPONSE hook that raised: the host counts it as
a failed hook (EXTENSION_RUNNER_PROXY_FAIL decides), not as a rejection."""


def _is_hook_request(request):
    event = request.get("event") if isinstance(request, dict) else None
    return isinstance(event, dict) and event.get("eventType") in ("REQUEST", "RESPONSE")


class ProxyDecisionError(ValueError):
    """A hook asked for a decision the proxy cannot carry out (respond to a RESPONSE, a
    ``Runner.`` or empty error type, a decision on a streamed response, ...)."""


class ProxyDecision:
    """What a REQUEST/RESPONSE hook decided; made by ``ProxyEvent``'s helpers, returned by the
    hook. ``result``, ``errortype`` and ``errors`` are the reply's fields."""

    __slots__ = ("result", "errortype", "errors")

    def __init__(self, result, errortype="", errors=False):
        self.result = result
        self.errortype = errortype
        self.errors = errors

    def __repr__(self):
        if self.errors:
            return "ProxyDecision(reject %r)" % self.errortype
        return "ProxyDecision(%s)" % ", ".join(sorted(self.result))


def _base64_of(data, helper):
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProxyDecisionError(
            "%s() takes bytes, not %s (use the JSON variant for JSON values)" % (helper, type(data).__name__)
        )
    return base64.b64encode(bytes(data)).decode("ascii")


class ProxyEvent:
    """A REQUEST (the invocation's event, before or after the runtime got it) or a RESPONSE
    (what the runtime answered) from the Runtime API proxy, as given to ``on_request`` /
    ``on_response`` handlers.

    - ``event_type``: ``"REQUEST"`` or ``"RESPONSE"``; ``request_id``; ``headers`` (the
      ``Lambda-Runtime-*`` fields and ``Content-Type``, as a dict).
    - ``payload``: the body as decoded JSON when it is JSON (``is_json``), else None;
      ``payload_bytes``: the body as bytes when it is not JSON (sent as ``payloadBase64``),
      else None. A streamed response has neither.
    - RESPONSE only: ``status`` (``"success"`` | ``"error"``), ``error_type`` (for ``/error``
      and a stream's error trailer, else None), ``streamed`` (bool), ``bytes`` (a streamed
      response's size), ``prelude`` (a Function URL stream's status and headers, or None).
    - ``raw``: the event as received.

    In intercept mode the hook's return value decides: None forwards unchanged; else return one
    of ``replace(x)``, ``replace_bytes(b)``, ``respond(x)`` / ``respond_bytes(b)`` (REQUEST
    only) or ``reject(error_type, message)``. In observe mode the answer is ignored.
    """

    REQUEST = "REQUEST"
    RESPONSE = "RESPONSE"

    def __init__(self, raw):
        self.raw = raw
        self.event_type = raw.get("eventType")
        self.request_id = _str_or_none(raw.get("requestId")) or ""
        headers = raw.get("headers")
        self.headers = (
            {k: v for k, v in headers.items() if isinstance(v, str)} if isinstance(headers, dict) else {}
        )
        self.is_json = "payload" in raw
        self.payload = raw.get("payload")
        encoded = raw.get("payloadBase64")
        self.payload_bytes = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else None
        self.status = _str_or_none(raw.get("status"))
        self.error_type = _str_or_none(raw.get("errorType"))
        self.streamed = raw.get("streamed") is True
        size = raw.get("bytes")
        self.bytes = size if isinstance(size, int) and not isinstance(size, bool) else None
        self.prelude = raw.get("prelude") if isinstance(raw.get("prelude"), dict) else None

    @property
    def is_request(self):
        return self.event_type == self.REQUEST

    @property
    def is_response(self):
        return self.event_type == self.RESPONSE

    def forward(self):
        """Forward unchanged (the same as returning None)."""
        return None

    def replace(self, value):
        """REQUEST: the runtime gets ``value`` (JSON) instead of the event; RESPONSE: the
        platform gets it as the response (an ``/error`` becomes a ``/response``)."""
        self._check_decidable("replace")
        return ProxyDecision({"payload": value})

    def replace_bytes(self, data):
        """As ``replace``, with raw bytes (sent with the original ``Content-Type``)."""
        self._check_decidable("replace_bytes")
        return ProxyDecision({"payloadBase64": _base64_of(data, "replace_bytes")})

    def respond(self, value):
        """REQUEST only: the runtime never sees this invocation; the platform gets ``value``
        (JSON) as its response."""
        self._check_request("respond")
        return ProxyDecision({"respond": value})

    def respond_bytes(self, data):
        """As ``respond``, with raw bytes."""
        self._check_request("respond_bytes")
        return ProxyDecision({"respondBase64": _base64_of(data, "respond_bytes")})

    def reject(self, error_type, message=None):
        """REQUEST: the invocation fails with ``error_type`` and the runtime never sees it;
        RESPONSE: the response is replaced by that error. The error body is
        ``{"errorType": error_type, "errorMessage": message}``."""
        self._check_decidable("reject")
        if not isinstance(error_type, str) or not error_type:
            raise ProxyDecisionError("reject() needs a non-empty error type, got %r" % (error_type,))
        if error_type.startswith("Runner."):
            raise ProxyDecisionError(
                "reject(%r): error types starting with 'Runner.' are the host's own "
                "(a failed hook), choose another prefix" % error_type
            )
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in error_type):
            raise ProxyDecisionError("reject(%r): the error type holds control characters" % error_type)
        if message is not None and not isinstance(message, str):
            raise ProxyDecisionError("reject() takes the message as a string, not %s" % type(message).__name__)
        body = {"errorType": error_type, "errorMessage": message or "rejected by the extension"}
        return ProxyDecision(body, errortype=error_type, errors=True)

    def _check_decidable(self, helper):
        if self.streamed:
            raise ProxyDecisionError(
                "%s(): the streamed response %s was already forwarded as it arrived; "
                "there is nothing left to decide" % (helper, self.request_id)
            )

    def _check_request(self, helper):
        if not self.is_request:
            raise ProxyDecisionError(
                "%s() is for REQUEST events only: a RESPONSE can be replaced or rejected" % helper
            )

    def __repr__(self):
        return "ProxyEvent(%s, %r, %s)" % (
            self.event_type,
            self.request_id,
            "streamed %s bytes" % self.bytes if self.streamed else ("json" if self.is_json else "bytes"),
        )


def _hook_result(kind, result):
    """The reply fields of what a REQUEST/RESPONSE hook returned."""
    if result is None:
        return {"result": None}
    if isinstance(result, ProxyDecision):
        fields = {"result": result.result, "errortype": result.errortype}
        if result.errors:
            fields["errors"] = True
        return fields
    raise TypeError(
        "the %s hook returned %s: return None (forward unchanged) or a decision, e.g. "
        "event.replace(x), event.reject(error_type, message)" % (kind, type(result).__name__)
    )


# --------------------------------------------------------------------------------------------
# The protocol loop
# --------------------------------------------------------------------------------------------


class _Streams:
    """The protocol's own handle on the original stdout; fd 1 then points at stderr."""

    def __init__(self, protect):
        self.protected = protect
        if protect:
            sys.stdout.flush()
            self.proto = os.fdopen(os.dup(1), "w", encoding="utf-8")
            os.dup2(2, 1)
            sys.stdout = os.fdopen(1, "w", buffering=1, encoding="utf-8", closefd=False)
        else:
            self.proto = sys.stdout
        self.output = None
        fd = os.environ.get("EXTENSION_RUNNER_STDOUT_FD", "")
        if fd.isdigit():
            try:
                self.output = os.fdopen(int(fd), "w", buffering=1, encoding="utf-8", closefd=False)
            except OSError:
                self.output = None

    def send(self, message):
        self.proto.write(json.dumps(message, separators=(",", ":"), allow_nan=False) + "\n")
        self.proto.flush()


class Extension:
    """An extension's handlers and the loop that serves the host.

    Register handlers with the decorators, then call ``run()``:

    - ``on_start(fn(startup))``: at the handshake; an exception makes the start-up fail
      (``{"ok": false, "error": "<Class>: <message>"}``, the host reports
      ``Extension.ChildStartupFailed``) and ``run()`` exits with status 1.
    - ``on_invoke(fn(event, ctx))``: each INVOKE event (none on Managed Instances [LMI]).
    - ``on_shutdown(fn(event, ctx))``: the SHUTDOWN event, always the last request.
    - ``on_telemetry(fn(batch, ctx))``: each TELEMETRY event; ``batch`` is a ``TelemetryBatch``.
    - ``on_messages(fn(messages, ctx))``: each MESSAGES event (what the function ``send``s,
      docs/messages.md); ``messages`` is the list of ``{"requestId", "time", "message"}`` dicts.
    - ``on_request(fn(event, ctx))`` / ``on_response(fn(event, ctx))``: the Runtime API
      proxy's REQUEST / RESPONSE events (``EXTENSION_RUNNER_PROXY``, docs/proxy.md); ``event``
      is a ``ProxyEvent``, and the handler returns None or one of its decisions.
    - ``on_event(fn(event, ctx))``: any event without a more specific handler.

    A handler's return value (JSON-serialisable) is the reply's ``result``.
    """

    def __init__(self, protect_stdout=True, stdin=None):
        self._handlers = {}
        self._protect = protect_stdout
        self._stdin = stdin
        self._streams = None
        self._loop = None
        self.startup = None

    # Registration (usable as decorators; each returns the function unchanged).
    def on_start(self, fn):
        return self._register("start", fn)

    def on_invoke(self, fn):
        return self._register("INVOKE", fn)

    def on_shutdown(self, fn):
        return self._register("SHUTDOWN", fn)

    def on_telemetry(self, fn):
        return self._register("TELEMETRY", fn)

    def on_messages(self, fn):
        return self._register("MESSAGES", fn)

    def on_request(self, fn):
        return self._register(ProxyEvent.REQUEST, fn)

    def on_response(self, fn):
        return self._register(ProxyEvent.RESPONSE, fn)

    def on_event(self, fn):
        return self._register("*", fn)

    def _register(self, kind, fn):
        if not callable(fn):
            raise TypeError("handler for %s is not callable: %r" % (kind, fn))
        self._handlers[kind] = fn
        return fn

    def output(self, line):
        """Writes one line to the extension's own stdout, unprefixed (e.g. an EMF line).

        extension-runner passes its stdout as EXTENSION_RUNNER_STDOUT_FD; without it (older
        hosts, tests) the line goes to stderr, where the host logs it with a prefix.
        """
        stream = self._streams.output if self._streams and self._streams.output else sys.stderr
        stream.write(line.rstrip("\n") + "\n")
        stream.flush()

    def run(self):
        """Serves the host until stdin closes; returns 0. Exits 1 when the start-up fails."""
        self._streams = _Streams(self._protect)
        stdin = self._stdin or sys.stdin
        try:
            code = self._serve(stdin)
        finally:
            if self._loop is not None:
                self._loop.close()
                self._loop = None
        if code != 0:
            sys.exit(code)
        return code

    def _call(self, fn, *args):
        result = fn(*args)
        if hasattr(result, "__await__"):  # a coroutine (async def) or another awaitable
            if self._loop is None:
                import asyncio  # only for async handlers: it costs ~8 MB of resident memory

                self._loop = asyncio.new_event_loop()
            result = self._loop.run_until_complete(_awaited(result))
        return result

    def _serve(self, stdin):
        line = stdin.readline()
        while line and not line.strip():
            line = stdin.readline()
        if not line:
            return 0  # the host went away before the handshake: nothing to answer
        try:
            message = json.loads(line)
            if not isinstance(message, dict):
                raise ValueError("not a JSON object")
        except ValueError as e:
            self._streams.send({"ok": False, "error": "malformed StartupRequest: %s" % e})
            return 1
        self.startup = Startup(message)
        if "start" in self._handlers:
            try:
                self._call(self._handlers["start"], self.startup)
            except Exception as e:  # the host reports it as Extension.ChildStartupFailed
                traceback.print_exc()
                self._streams.send({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})
                return 1
        # `handles` (optional in the protocol): lets the host warn about a handler it will never
        # call, e.g. on_telemetry with telemetry off, and skip the proxy hooks this extension has
        # no handler for ("*": the catch-all takes every event).
        handles = sorted(k for k in self._handlers if k == "*" or (k.isalpha() and k.isupper()))
        self._streams.send({"ok": True, "handles": handles})

        for line in stdin:
            if not line.strip():
                continue
            reply = self._handle_line(line)
            if reply is not None:
                try:
                    self._streams.send(reply)
                except BrokenPipeError:
                    return 0  # the host is gone; nobody is left to answer
        return 0

    def _handle_line(self, line):
        try:
            request = json.loads(line)
        except (ValueError, RecursionError) as e:  # RecursionError: nested past Python's limit
            _log("skipping a request that is not JSON (%s): %.200s" % (e, line.strip()))
            return None
        context = request.get("context") if isinstance(request, dict) else None
        request_id = context.get("aws_request_id") if isinstance(context, dict) else None
        if not isinstance(request_id, str) or not request_id:
            # Without its id no reply can be paired with it: the host times the request out.
            _log("skipping a request without context.aws_request_id: %.200s" % line.strip())
            return None
        reply = {"result": None, "errortype": "", "invokeid": request_id}
        try:
            fields = self._dispatch(request, Context(request, self.startup))
            json.dumps(fields["result"], allow_nan=False)  # fails here, not half-way through the send
            reply.update(fields)
        except Exception as e:
            traceback.print_exc()
            if _is_hook_request(request):
                # A hook that raised has failed, it did not decide: the host applies
                # EXTENSION_RUNNER_PROXY_FAIL instead of failing the invocation with the exception.
                reply.update(
                    result={"errorMessage": "%s: %s" % (type(e).__name__, e)},
                    errortype=HOOK_FAILED_ERROR_TYPE,
                    errors=True,
                )
            else:
                reply.update(
                    result={"errorMessage": str(e)}, errortype=type(e).__name__, errors=True
                )
        return reply

    def _dispatch(self, request, ctx):
        """The reply's fields for one request (``result``, and ``errortype``/``errors`` when a
        proxy hook rejects)."""
        event = request.get("event")
        kind = event.get("eventType") if isinstance(event, dict) else None
        fn = self._handlers.get(kind) or self._handlers.get("*")
        if fn is None:
            return {"result": None}
        if kind == "TELEMETRY" and fn is self._handlers.get("TELEMETRY"):
            return {"result": self._call(fn, TelemetryBatch(event.get("records"), ctx.platform), ctx)}
        if kind == "MESSAGES" and fn is self._handlers.get("MESSAGES"):
            messages = event.get("messages")
            return {"result": self._call(fn, messages if isinstance(messages, list) else [], ctx)}
        if kind in (ProxyEvent.REQUEST, ProxyEvent.RESPONSE) and fn is self._handlers.get(kind):
            return _hook_result(kind, self._call(fn, ProxyEvent(event), ctx))
        return {"result": self._call(fn, event, ctx)}


async def _awaited(awaitable):
    return await awaitable


# --------------------------------------------------------------------------------------------
# The function side: send messages to the extension (docs/messages.md)
# --------------------------------------------------------------------------------------------

MESSAGES_URL_ENV = "EXTENSION_RUNNER_MESSAGES_URL"
_DEFAULT_MESSAGES_URL = "http://127.0.0.1:8426/v1/messages"


class _Sender:
    """One kept-alive connection to the messages endpoint, shared by the function's threads.

    A plain socket speaking just enough HTTP/1.1 (the endpoint always answers with a
    Content-Length): http.client costs ~0.1 ms per request, several times the endpoint's own.
    """

    def __init__(self):
        import threading

        self._lock = threading.Lock()
        self._sock = None
        self._where = None

    def post(self, body, request_id, timeout):
        import socket
        import urllib.parse

        url = urllib.parse.urlsplit(os.environ.get(MESSAGES_URL_ENV) or _DEFAULT_MESSAGES_URL)
        where = (url.hostname or "127.0.0.1", url.port or 80, timeout)
        head = "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n" % (
            url.path or "/v1/messages", where[0])
        if request_id:
            head += "Extension-Runner-Request-Id: %s\r\n" % request_id.replace("\r", "").replace("\n", "")
        request = (head + "Content-Length: %d\r\n\r\n" % len(body)).encode("latin-1") + body
        with self._lock:
            # A kept-alive connection the endpoint closed while idle fails at once: one retry
            # on a fresh connection tells that apart from an endpoint that is down.
            for attempt in (0, 1):
                reused = self._sock is not None and self._where == where
                try:
                    if not reused:
                        self._close()
                        self._sock = socket.create_connection(where[:2], timeout=timeout)
                        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        self._where = where
                    self._sock.sendall(request)
                    status = self._read_answer()
                    if status == 202:
                        return None
                    return "HTTP %d" % status
                except (OSError, ValueError) as e:
                    self._close()
                    if not reused or attempt == 1 or isinstance(e, TimeoutError):
                        return "%s: %s" % (type(e).__name__, e)
            return "unreachable"

    def _read_answer(self):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self._sock.recv(4096)
            if not chunk:
                raise ConnectionResetError("the endpoint closed the connection")
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            chunk = self._sock.recv(4096)
            if not chunk:
                raise ConnectionResetError("the endpoint closed the connection")
            rest += chunk
        return status

    def _close(self):
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock = None


_sender = None


def send_many(messages, request_id=None, timeout=0.05):
    """Hands ``messages`` (a list of JSON-serialisable values) to the extension in one POST.

    For the *function*, not the extension: posts to EXTENSION_RUNNER_MESSAGES_URL (default
    http://127.0.0.1:8426/v1/messages) on a kept-alive connection. Never raises: returns True
    once the endpoint queued them (202), else False with one line on stderr (endpoint down,
    queue full, slower than ``timeout`` seconds, or a message that is not JSON).
    ``request_id`` tags them with an invocation (header Extension-Runner-Request-Id).
    """
    global _sender
    try:
        body = json.dumps(list(messages), allow_nan=False, separators=(",", ":"))
        if _sender is None:
            _sender = _Sender()
        failure = _sender.post(body.encode("utf-8"), request_id, timeout)
    except Exception as e:  # never into the function
        failure = "%s: %s" % (type(e).__name__, e)
    if failure is None:
        return True
    _log("send: message(s) not delivered to the extension: %s" % failure)
    return False


def send(message, request_id=None, timeout=0.05):
    """``send_many([message], ...)``: True once the extension's endpoint queued it, else False."""
    return send_many([message], request_id=request_id, timeout=timeout)
