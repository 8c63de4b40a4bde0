#!/usr/bin/env python3
"""log-forwarder (Python): the function's log records to an HTTP endpoint, as NDJSON.

A Lambda extension written with the extension-runner Python SDK (docs/sdk.md), the twin of
examples/log-forwarder (Node.js): the same settings, lines and last log line. Subscribe to the
``function`` telemetry type (and ``platform``, which lets the SDK attribute text lines to their
invocation); every ``function`` record becomes one line
``{"time","type","requestId","message","record"}`` (``record`` exactly as Lambda delivered it, a
string or an object; ``requestId`` as far as it is known, see group_by_request_id in the SDK).

Records are batched and POSTed (Content-Type application/x-ndjson) when a batch is full, when the
oldest buffered record is older than the flush interval, at each INVOKE, and at SHUTDOWN within
its deadline. No handler waits for the network except SHUTDOWN's: sending runs on a background
thread, one flush at a time, so the extension answers at once and its next /next is never held
by a slow or failing endpoint (Lambda bills that wait as post-runtime time [EXT]). A failed POST
(408, 429, 5xx, or a transport error) is retried with backoff (100 ms doubling, at most 1 s) a
bounded number of times, with the same Idempotency-Key header; a batch that still fails stays
buffered, and no background flush starts for a flush interval (a down endpoint is not hammered).
Whatever cannot be sent by the end (or did not fit in the buffer) is counted in the last log line:
no record is dropped silently.

Settings (environment):
  LOG_FORWARDER_URL          http:// or https:// endpoint (required)
  LOG_FORWARDER_BATCH        records per POST (default 500)
  LOG_FORWARDER_RETRIES      retries after a failed POST (default 3)
  LOG_FORWARDER_TIMEOUT_MS   per-POST timeout (default 2000)
  LOG_FORWARDER_FLUSH_MS     flush once the oldest buffered record is this old (default 1000)
  LOG_FORWARDER_MAX_BUFFER   records held at most; beyond, new records are counted as lost (10000)
"""
import http.client
import json
import os
import threading
import time
import urllib.parse

from extension_runner import Extension

# Left of the SHUTDOWN deadline for the host to end the child and exit.
SHUTDOWN_MARGIN_S = 0.2


def _integer(env, name, fallback, minimum):
    text = env.get(name, "")
    if text == "":
        return fallback
    if not (text.isascii() and text.isdigit()) or int(text) < minimum:
        raise ValueError("%s must be an integer >= %d, got '%s'" % (name, minimum, text))
    return int(text)


class Config:
    """The settings; ValueError names a bad one (the extension then fails its start)."""

    def __init__(self, env):
        raw = env.get("LOG_FORWARDER_URL", "")
        if not raw:
            raise ValueError("LOG_FORWARDER_URL is not set")
        url = urllib.parse.urlsplit(raw)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError("LOG_FORWARDER_URL must be an http:// or https:// URL, got '%s'" % raw)
        try:
            url.port
        except ValueError:
            raise ValueError("LOG_FORWARDER_URL has a bad port: '%s'" % raw) from None
        self.url = url
        self.batch = _integer(env, "LOG_FORWARDER_BATCH", 500, 1)
        self.retries = _integer(env, "LOG_FORWARDER_RETRIES", 3, 0)
        self.timeout_ms = _integer(env, "LOG_FORWARDER_TIMEOUT_MS", 2000, 1)
        self.flush_ms = _integer(env, "LOG_FORWARDER_FLUSH_MS", 1000, 0)
        self.max_buffer = _integer(env, "LOG_FORWARDER_MAX_BUFFER", 10000, 1)


def post(url, body, headers, timeout_s):
    """One POST on its own connection (nothing is left open when the environment freezes); the
    HTTP status. OSError (connection, timeout) and http.client errors propagate."""
    connection_class = (
        http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(url.hostname, url.port, timeout=timeout_s)
    try:
        path = (url.path or "/") + ("?" + url.query if url.query else "")
        all_headers = {"Content-Type": "application/x-ndjson", "Content-Length": str(len(body))}
        all_headers.update(headers)
        connection.request("POST", path, body=body, headers=all_headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def _retryable(status):
    return status in (408, 429) or status >= 500


class Forwarder:
    """The buffer and the sending: the handlers call add(), kick() and, at SHUTDOWN, drain()."""

    def __init__(self, config, send=post):
        self.config = config
        self._send = send
        self._lock = threading.Lock()  # the buffer and the counts: handlers and the sender share them
        self.buffer = []  # NDJSON lines not yet accepted by the endpoint
        self.oldest_at = 0.0
        self.batch_seq = 0
        self.counts = {"received": 0, "sent": 0, "batches": 0, "failed_posts": 0, "overflow": 0}
        self.last_error = ""
        self._sender = None  # the background flush's thread, while it runs
        self._paused_until = 0.0  # after a batch failed for good: no background flush before this

    def add(self, batch):
        """Buffers the ``function`` records of a TelemetryBatch as NDJSON lines."""
        with self._lock:
            for request_id, records in batch.by_request_id().items():
                for r in records:
                    if r.type != "function":
                        continue
                    self.counts["received"] += 1
                    if len(self.buffer) >= self.config.max_buffer:
                        self.counts["overflow"] += 1
                        continue
                    if not self.buffer:
                        self.oldest_at = time.time()
                    self.buffer.append(json.dumps(
                        {"time": r.time_text, "type": r.type, "requestId": request_id,
                         "message": r.message, "record": r.record},
                        separators=(",", ":")))

    def due(self):
        with self._lock:
            return len(self.buffer) >= self.config.batch or (
                bool(self.buffer) and (time.time() - self.oldest_at) * 1000 >= self.config.flush_ms)

    def sending(self):
        return self._sender is not None and self._sender.is_alive()

    def kick(self):
        """Starts a flush on a background thread unless one runs, the buffer is empty or the
        endpoint failed less than a flush interval ago; never waits. True when one runs now."""
        if self.sending():
            return True
        with self._lock:
            if not self.buffer or time.time() < self._paused_until:
                return False
        self._sender = threading.Thread(target=self._background_flush, daemon=True)
        self._sender.start()
        return True

    def _background_flush(self):
        # Bounded by the retries and the per-POST timeout, not by a deadline: nothing waits for it.
        if not self.flush(None):
            self._paused_until = time.time() + self.config.flush_ms / 1000

    def drain(self, deadline_s):
        """At SHUTDOWN: waits for the background flush (no longer than the deadline), then sends
        what is left until the deadline. True when nothing is left."""
        if self._sender is not None:
            self._sender.join(max(0.0, deadline_s - time.time()))
            if self._sender.is_alive():
                return False  # still running at the deadline: what it holds is unsent
        return self.flush(deadline_s)

    def flush(self, deadline_s):
        """Sends the buffer in batches until it is empty, a batch fails for good, or the deadline
        (epoch seconds; None: none) passes."""
        while True:
            with self._lock:
                lines = self.buffer[: self.config.batch]
            if not lines:
                return True
            if not self._send_batch(lines, deadline_s):
                return False
            with self._lock:
                del self.buffer[: len(lines)]  # add() only appends: these are the lines sent
                self.oldest_at = time.time()
                self.counts["sent"] += len(lines)
                self.counts["batches"] += 1

    def _send_batch(self, lines, deadline_s):
        body = ("\n".join(lines) + "\n").encode()
        # The same key on every attempt: an endpoint can drop a retried batch it already stored.
        self.batch_seq += 1
        key = "%d-%d" % (os.getpid(), self.batch_seq)
        for attempt in range(self.config.retries + 1):
            if attempt > 0:
                backoff = min(0.1 * 2 ** (attempt - 1), 1.0)
                if deadline_s is not None and time.time() + backoff >= deadline_s:
                    break
                time.sleep(backoff)
            timeout = self.config.timeout_ms / 1000
            if deadline_s is not None:
                left = deadline_s - time.time()
                if left <= 0:
                    break
                timeout = min(timeout, left)
            try:
                status = self._send(self.config.url, body, {"Idempotency-Key": key}, timeout)
            except (OSError, http.client.HTTPException) as e:
                self._failed(str(e) or type(e).__name__)
                continue
            if 200 <= status < 300:
                return True
            self._failed("HTTP %d" % status)
            if not _retryable(status):
                break
        return False

    def _failed(self, why):
        with self._lock:
            self.last_error = why
            self.counts["failed_posts"] += 1

    def unsent(self):
        with self._lock:
            return len(self.buffer) + self.counts["overflow"]

    def summary(self):
        """The last log line: every record received is either sent or counted as unsent."""
        with self._lock:
            c = self.counts
            line = (
                "log-forwarder: received %d records, sent %d in %d batches, unsent %d "
                "(%d after retries, %d over the buffer limit), %d failed POSTs"
                % (c["received"], c["sent"], c["batches"], len(self.buffer) + c["overflow"],
                   len(self.buffer), c["overflow"], c["failed_posts"])
            )
            return line + (", last error: %s" % self.last_error if self.last_error else "")


def main():
    ext = Extension()
    state = {}

    @ext.on_start
    def start(startup):
        env = dict(os.environ)
        env.update(startup.env)
        state["forwarder"] = Forwarder(Config(env))

    @ext.on_telemetry
    def telemetry(batch, ctx):
        forwarder = state["forwarder"]
        forwarder.add(batch)
        if forwarder.due():
            forwarder.kick()
        return {"buffered": len(forwarder.buffer)}

    @ext.on_invoke
    def invoke(event, ctx):
        # The previous invocations' records go while this one runs: the environment is awake
        # now, and may be frozen once every extension is back at /next.
        forwarder = state["forwarder"]
        forwarder.kick()
        return {"buffered": len(forwarder.buffer)}

    @ext.on_shutdown
    def shutdown(event, ctx):
        forwarder = state["forwarder"]
        forwarder.drain(ctx.deadline_ms / 1000 - SHUTDOWN_MARGIN_S)
        print(forwarder.summary())
        return {"sent": forwarder.counts["sent"], "unsent": forwarder.unsent()}

    ext.run()


if __name__ == "__main__":
    main()
