#!/usr/bin/env node
// log-forwarder: ships the function's log records to an HTTP endpoint as NDJSON.
//
// A Lambda extension in Node.js, written with the extension-runner SDK (extension-runner.js,
// docs/sdk.md). Subscribe to the `function` telemetry type; every `function` record becomes one
// line {"time","type","requestId","message","record"} (`record` exactly as Lambda delivered it,
// a string or an object; `requestId` as far as it is known, see groupByRequestId in the SDK).
// Records are batched and POSTed (Content-Type application/x-ndjson) when a batch is full, when
// the oldest buffered record is older than the flush interval, at each INVOKE, and at SHUTDOWN,
// within the SHUTDOWN deadline. No handler waits for the network except SHUTDOWN's: sending runs
// in the background, one flush at a time, so the extension answers at once and its next /next is
// never held by a slow or failing endpoint (Lambda bills that wait as post-runtime time [EXT]).
// A failed POST is retried with backoff, a bounded number of times, in the background; a batch
// that still fails stays buffered, and the next flush waits at least the flush interval (a down
// endpoint is not hammered). Whatever cannot be sent by the end (or did not fit in the buffer) is
// counted and reported in the last log line: no record is dropped silently.
//
// Settings (environment):
//   LOG_FORWARDER_URL          http:// or https:// endpoint (required)
//   LOG_FORWARDER_BATCH        records per POST (default 500)
//   LOG_FORWARDER_RETRIES      retries after a failed POST (default 3)
//   LOG_FORWARDER_TIMEOUT_MS   per-POST timeout (default 2000)
//   LOG_FORWARDER_FLUSH_MS     flush once the oldest buffered record is this old (default 1000)
//   LOG_FORWARDER_MAX_BUFFER   records held at most; beyond, new records are counted as lost (10000)
'use strict';

const http = require('http');
const https = require('https');
const { Extension, groupByRequestId } = require('./extension-runner.js');

function integer(env, name, fallback, min) {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  if (!/^\d+$/.test(text) || Number(text) < min) throw new Error(`${name} must be an integer >= ${min}, got '${text}'`);
  return Number(text);
}

function readConfig(env) {
  const raw = env.LOG_FORWARDER_URL;
  if (!raw) throw new Error('LOG_FORWARDER_URL is not set');
  let url;
  try {
    url = new URL(raw);
  } catch (_) {
    throw new Error(`LOG_FORWARDER_URL is not a URL: '${raw}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`LOG_FORWARDER_URL must be http:// or https://, got '${raw}'`);
  }
  return {
    url,
    batch: integer(env, 'LOG_FORWARDER_BATCH', 500, 1),
    retries: integer(env, 'LOG_FORWARDER_RETRIES', 3, 0),
    timeoutMs: integer(env, 'LOG_FORWARDER_TIMEOUT_MS', 2000, 1),
    flushMs: integer(env, 'LOG_FORWARDER_FLUSH_MS', 1000, 0),
    maxBuffer: integer(env, 'LOG_FORWARDER_MAX_BUFFER', 10000, 1),
  };
}

/** One POST; resolves to the HTTP status, rejects on a transport error or the timeout. */
function post(url, body, headers, timeoutMs) {
  return new Promise((resolve, reject) => {
    const client = url.protocol === 'https:' ? https : http;
    const request = client.request(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-ndjson', 'Content-Length': Buffer.byteLength(body), ...headers },
      timeout: timeoutMs,
      agent: false, // one connection per POST: nothing is left open when the environment freezes
    }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on('error', reject);
    request.end(body);
  });
}

const retryable = (status) => status === 408 || status === 429 || status >= 500;
const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class Forwarder {
  constructor(config, { send = post, log = console.log } = {}) {
    this.config = config;
    this.send = send;
    this.log = log;
    this.buffer = []; // NDJSON lines not yet accepted by the endpoint
    this.oldestAt = 0;
    this.batchSeq = 0;
    this.counts = { received: 0, sent: 0, batches: 0, failedPosts: 0, overflow: 0 };
    this.lastError = '';
    this.sending = null; // the background flush in progress, if any
    this.pausedUntil = 0; // after a batch failed for good: no background flush before this
  }

  add(records, platform) {
    for (const [requestId, group] of groupByRequestId(records, platform)) {
      for (const r of group) {
        if (r.type !== 'function') continue;
        this.counts.received++;
        if (this.buffer.length >= this.config.maxBuffer) {
          this.counts.overflow++;
          continue;
        }
        if (this.buffer.length === 0) this.oldestAt = Date.now();
        this.buffer.push(JSON.stringify({ time: r.timeText, type: r.type, requestId, message: r.message, record: r.record }));
      }
    }
  }

  due() {
    return this.buffer.length >= this.config.batch ||
      (this.buffer.length > 0 && Date.now() - this.oldestAt >= this.config.flushMs);
  }

  /**
   * Starts a flush in the background unless one is running, the buffer is empty or the endpoint
   * failed less than a flush interval ago; never waits. Returns the flush in progress, if any.
   */
  kick() {
    if (this.sending || this.buffer.length === 0 || Date.now() < this.pausedUntil) return this.sending;
    // Bounded by the retries and the per-POST timeout, not by a deadline: nothing waits for it.
    this.sending = this.flush(Infinity).then((ok) => {
      if (!ok) this.pausedUntil = Date.now() + this.config.flushMs;
      return ok;
    }).finally(() => {
      this.sending = null;
    });
    return this.sending;
  }

  /**
   * At SHUTDOWN: waits for the background flush (no longer than the deadline), then sends what is
   * left until the deadline. True when nothing is left.
   */
  async drain(deadlineMs) {
    if (this.sending) {
      let timer;
      const deadline = new Promise((resolve) => { timer = setTimeout(resolve, Math.max(0, deadlineMs - Date.now())); });
      await Promise.race([this.sending, deadline]);
      clearTimeout(timer);
      if (this.sending) return false; // still running at the deadline: what it holds is unsent
    }
    return this.flush(deadlineMs);
  }

  /** Sends the buffer in batches until it is empty, a batch fails for good, or time runs out. */
  async flush(deadlineMs) {
    while (this.buffer.length > 0) {
      const lines = this.buffer.slice(0, this.config.batch);
      const ok = await this.sendBatch(lines, deadlineMs);
      if (!ok) return false;
      this.buffer.splice(0, lines.length);
      this.oldestAt = Date.now();
      this.counts.sent += lines.length;
      this.counts.batches++;
    }
    return true;
  }

  async sendBatch(lines, deadlineMs) {
    const body = lines.join('\n') + '\n';
    // The same key on every attempt: an endpoint can drop a retried batch it already stored.
    const key = `${process.pid}-${++this.batchSeq}`;
    for (let attempt = 0; attempt <= this.config.retries; attempt++) {
      if (attempt > 0) {
        const backoff = Math.min(100 * 2 ** (attempt - 1), 1000);
        if (Date.now() + backoff >= deadlineMs) break;
        await delay(backoff);
      }
      const left = deadlineMs - Date.now();
      if (left <= 0) break;
      try {
        const status = await this.send(this.config.url, body, { 'Idempotency-Key': key }, Math.min(this.config.timeoutMs, left));
        if (status >= 200 && status < 300) return true;
        this.lastError = `HTTP ${status}`;
        this.counts.failedPosts++;
        if (!retryable(status)) break;
      } catch (e) {
        this.lastError = e.message;
        this.counts.failedPosts++;
      }
    }
    return false;
  }

  /** The last log line: every record received is either sent or counted as unsent. */
  summary() {
    const unsent = this.buffer.length + this.counts.overflow;
    const c = this.counts;
    return `log-forwarder: received ${c.received} records, sent ${c.sent} in ${c.batches} batches, ` +
      `unsent ${unsent} (${this.buffer.length} after retries, ${c.overflow} over the buffer limit), ` +
      `${c.failedPosts} failed POSTs${this.lastError ? `, last error: ${this.lastError}` : ''}`;
  }
}

// Left of the SHUTDOWN deadline for the host to end the child and exit.
const SHUTDOWN_MARGIN_MS = 200;

function main() {
  const ext = new Extension();
  let forwarder = null;
  ext.onStart((startup) => {
    forwarder = new Forwarder(readConfig({ ...process.env, ...startup.env }));
  });
  ext.onTelemetry((batch, ctx) => {
    forwarder.add(batch, ctx.platform);
    if (forwarder.due()) forwarder.kick();
    return { buffered: forwarder.buffer.length };
  });
  ext.onInvoke(() => {
    // The previous invocations' records go while this one runs: the environment is awake now,
    // and may be frozen once every extension is back at /next.
    forwarder.kick();
    return { buffered: forwarder.buffer.length };
  });
  ext.onShutdown(async (event, ctx) => {
    await forwarder.drain(ctx.deadlineMs - SHUTDOWN_MARGIN_MS);
    const unsent = forwarder.buffer.length + forwarder.counts.overflow;
    console.log(forwarder.summary());
    return { sent: forwarder.counts.sent, unsent };
  });
  ext.run();
}

module.exports = { Forwarder, readConfig, post };
if (require.main === module) main();
