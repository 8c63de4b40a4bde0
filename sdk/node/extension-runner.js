// Child SDK for extension-runner (runner protocol v1, docs/runner-protocol.md). Node.js >= 18,
// no dependencies, one CommonJS file (ESM: `import { Extension } from './extension-runner.js'`).
//
//   const { Extension } = require('./extension-runner.js');
//   const ext = new Extension();
//   ext.onInvoke(async (event, ctx) => { console.log('invocation', ctx.requestId); });
//   ext.onTelemetry((batch) => { for (const r of batch) console.log(r.type, r.requestId); });
//   // With EXTENSION_RUNNER_PROXY=intercept (docs/proxy.md): undefined/null forwards unchanged.
//   ext.onResponse((event) => (event.payload?.ssn ? event.replace({ ...event.payload, ssn: '***' }) : null));
//   ext.run();
//
// The SDK owns the protocol stream: it writes the protocol to its own blocking handle on the
// original stdout, replies exactly once per request with the request's `invokeid`, turns an
// exception (or a rejected promise) into `errors: true` with `errortype` = the error's class
// name, and exits 0 when the host closes stdin.
//
// What it cannot protect: Node.js cannot re-point file descriptor 1 without a native module.
// The SDK redirects JavaScript-level output (console.log/info/debug, process.stdout.write) to
// stderr, but a subprocess started with stdio 'inherit' (or anything writing to fd 1 directly,
// e.g. fs.writeSync(1, …)) writes into the protocol stream. Start subprocesses with
// stdio ['ignore', 2, 2] or 'pipe'.
'use strict';

const fs = require('fs');
const readline = require('readline');

const PROTOCOL_VERSION = 1;
const PLATFORM_LAMBDA = 'lambda';
const PLATFORM_MANAGED_INSTANCES = 'managed-instances';

const str = (v) => (typeof v === 'string' ? v : null);
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

function sdkLog(message) {
  try {
    fs.writeSync(2, `extension-runner sdk: ${message}\n`);
  } catch (_) {
    // stderr gone: nothing left to tell
  }
}

/**
 * The function this extension runs with: the Extensions API Register response [EXT], from
 * StartupRequest.function; hosts that do not send it leave handler/accountId null and take
 * name and version from AWS_LAMBDA_FUNCTION_NAME / AWS_LAMBDA_FUNCTION_VERSION.
 */
class FunctionInfo {
  constructor(raw, env) {
    const r = isObject(raw) ? raw : {};
    this.raw = r;
    this.name = str(r.functionName) || env.AWS_LAMBDA_FUNCTION_NAME || null;
    this.version = str(r.functionVersion) || env.AWS_LAMBDA_FUNCTION_VERSION || null;
    this.handler = str(r.handler);
    this.accountId = str(r.accountId);
  }
}

/** The StartupRequest as given to onStart handlers; `platform` defaults to 'lambda'. */
class Startup {
  constructor(message) {
    this.raw = message;
    this.handler = str(message.handler) || '';
    this.env = {};
    if (isObject(message.env)) {
      for (const [k, v] of Object.entries(message.env)) if (typeof v === 'string') this.env[k] = v;
    }
    this.version = Number.isInteger(message.version) ? message.version : PROTOCOL_VERSION;
    this.name = str(message.name) || '';
    this.mode = str(message.mode) || 'lambda';
    this.platform = str(message.platform) || PLATFORM_LAMBDA;
    this.function = new FunctionInfo(message.function, { ...process.env, ...this.env });
  }

  /** True on Lambda Managed Instances: no INVOKE events, only telemetry and SHUTDOWN [LMI]. */
  get managedInstances() {
    return this.platform === PLATFORM_MANAGED_INSTANCES;
  }
}

/** What a handler knows about its request; `deadlineMs` is epoch ms. */
class Context {
  constructor(request, startup) {
    const c = isObject(request.context) ? request.context : {};
    this.requestId = str(c.aws_request_id) || '';
    this.invokedFunctionArn = str(c.invoked_function_arn) || '';
    this.clientContext = c.client_context ?? null;
    this.identity = c.identity ?? null;
    this.deadlineMs = Number.isInteger(request.deadline) ? request.deadline : 0;
    this.startup = startup;
    this.function = startup.function;
    this.platform = startup.platform;
    this.extensionName = startup.name;
    this.mode = startup.mode;
    this.raw = c;
  }

  /** Milliseconds until deadlineMs (0 once passed, or when there is none). */
  remainingMs() {
    return Math.max(0, this.deadlineMs - Date.now());
  }

  /**
   * The protocol's context object plus `deadline`, `function` (the Register answer as received,
   * {} when absent) and `platform`: the example runner's handler shape.
   */
  asObject() {
    return { ...this.raw, deadline: this.deadlineMs, function: this.function.raw, platform: this.platform };
  }
}

// ---------------------------------------------------------------------------------------------
// Telemetry helpers
// ---------------------------------------------------------------------------------------------

/** An ISO-8601 telemetry `time` as a Date, or null when it does not parse. */
function parseTime(text) {
  if (typeof text !== 'string' || !/^\d{4}-\d{2}-\d{2}T/.test(text)) return null;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : new Date(ms);
}

/**
 * One Telemetry API record {time, type, record} [TEL]: `raw` as delivered, plus typed access.
 * `record` is an object, or a string for function/extension lines in text log format.
 */
class Record {
  constructor(raw) {
    this.raw = raw;
    const r = isObject(raw) ? raw : {};
    this.type = str(r.type) || '';
    this.timeText = str(r.time) || '';
    this.record = r.record === undefined ? null : r.record;
  }

  get time() {
    return parseTime(this.timeText);
  }

  /** The record's own requestId (platform.start/runtimeDone/report, JSON-format log lines). */
  get requestId() {
    return isObject(this.record) && typeof this.record.requestId === 'string' && this.record.requestId
      ? this.record.requestId
      : null;
  }

  get isLog() {
    return this.type === 'function' || this.type === 'extension';
  }

  get isPlatform() {
    return this.type.startsWith('platform.');
  }

  /** A log record delivered as a plain string (text log format). */
  get isText() {
    return typeof this.record === 'string';
  }

  /** The record as an object (JSON log format, platform records), else null. */
  get fields() {
    return isObject(this.record) ? this.record : null;
  }

  /** The log line: the string, or the object's `message`. */
  get message() {
    if (typeof this.record === 'string') return this.record;
    if (isObject(this.record) && this.record.message !== undefined && this.record.message !== null) {
      return typeof this.record.message === 'string' ? this.record.message : JSON.stringify(this.record.message);
    }
    return null;
  }

  /** record.metrics of a platform record ({} when absent). */
  get metrics() {
    return isObject(this.record) && isObject(this.record.metrics) ? this.record.metrics : {};
  }
}

const toRecords = (items) => (Array.isArray(items) ? items : []).map((r) => (r instanceof Record ? r : new Record(r)));

/**
 * Records grouped by invocation: Map requestId → [Record], in arrival order. A record counts
 * for the id it carries; on the standard platform a log record without one (text log format)
 * belongs to the invocation opened by the last platform.start and not yet ended by its
 * platform.runtimeDone. On Managed Instances invocations are concurrent [LMI]: such records go
 * under the key null, as do records outside any invocation.
 */
function groupByRequestId(records, platform = PLATFORM_LAMBDA) {
  const groups = new Map();
  let open = null;
  for (const record of toRecords(records)) {
    let id = record.requestId;
    if (record.type === 'platform.start' && id) open = platform === PLATFORM_MANAGED_INSTANCES ? null : id;
    if (id === null && record.type === 'function') id = open;
    if (!groups.has(id)) groups.set(id, []);
    groups.get(id).push(record);
    if ((record.type === 'platform.runtimeDone' || record.type === 'platform.report') && id === open) open = null;
  }
  return groups;
}

/** One TELEMETRY event's records (an Array of Record); `raw` is the list as given. */
class TelemetryBatch extends Array {
  static from(rawRecords, platform = PLATFORM_LAMBDA) {
    const batch = new TelemetryBatch();
    for (const r of toRecords(rawRecords)) batch.push(r);
    batch.raw = rawRecords;
    batch.platform = platform;
    return batch;
  }

  static get [Symbol.species]() {
    return Array;
  }

  byRequestId() {
    return groupByRequestId(this, this.platform);
  }

  ofType(...types) {
    return this.filter((r) => types.includes(r.type));
  }

  logs() {
    return this.filter((r) => r.type === 'function');
  }
}

/** Everything seen about one request id: its records in order, and the platform ones by name. */
class Invocation {
  constructor(requestId) {
    this.requestId = requestId;
    this.records = [];
    this.start = null;
    this.runtimeDone = null;
    this.report = null;
  }

  get logs() {
    return this.records.filter((r) => r.type === 'function');
  }

  add(record) {
    this.records.push(record);
    if (record.type === 'platform.start') this.start = record;
    else if (record.type === 'platform.runtimeDone') this.runtimeDone = record;
    else if (record.type === 'platform.report') this.report = record;
  }
}

/**
 * Joins an invocation's records across TELEMETRY batches. Lambda delivers an invocation's
 * platform.report after the extension finished it, so it usually arrives during the next
 * invocation or at SHUTDOWN [TEL]. add(batch) returns the invocations completed by that batch;
 * drain() at SHUTDOWN returns those still without a report. Records of no invocation go to
 * `unattributed` (cleared by the caller); the platform.init* records to `init` by type.
 */
class InvocationTracker {
  constructor(platform = PLATFORM_LAMBDA) {
    this.platform = platform;
    this.open = new Map();
    this.unattributed = [];
    this.init = {};
    this.current = null;
  }

  add(records) {
    const done = [];
    for (const record of toRecords(records)) {
      if (record.type.startsWith('platform.init')) this.init[record.type] = record;
      let id = record.requestId;
      if (record.type === 'platform.start' && id && this.platform !== PLATFORM_MANAGED_INSTANCES) this.current = id;
      if (id === null && record.type === 'function') id = this.current;
      if (id === null) {
        this.unattributed.push(record);
        continue;
      }
      if (!this.open.has(id)) this.open.set(id, new Invocation(id));
      const invocation = this.open.get(id);
      invocation.add(record);
      if ((record.type === 'platform.runtimeDone' || record.type === 'platform.report') && id === this.current) {
        this.current = null;
      }
      if (record.type === 'platform.report') {
        this.open.delete(id);
        done.push(invocation);
      }
    }
    return done;
  }

  drain() {
    const rest = [...this.open.values()];
    this.open.clear();
    this.current = null;
    return rest;
  }
}

// ---------------------------------------------------------------------------------------------
// Runtime API proxy hooks (docs/runner-protocol.md, "Runtime API proxy")
// ---------------------------------------------------------------------------------------------

/**
 * A hook asked for a decision the proxy cannot carry out (respond to a RESPONSE, a `Runner.` or
 * empty error type, a decision on a streamed response, ...).
 */
/**
 * The error type of the reply for a REQUEST / RESPONSE hook that threw: the host counts it as a
 * failed hook (EXTENSION_RUNNER_PROXY_FAIL decides), not as a rejection.
 */
const HOOK_FAILED_ERROR_TYPE = 'Runner.HookFailed';

class ProxyDecisionError extends Error {}

/** What a REQUEST/RESPONSE hook decided: the reply's `result`, `errortype` and `errors`. */
class ProxyDecision {
  constructor(result, errortype = '', errors = false) {
    this.result = result;
    this.errortype = errortype;
    this.errors = errors;
  }
}

function base64Of(data, helper) {
  if (!(data instanceof Uint8Array) && !(data instanceof ArrayBuffer)) {
    const what = data === null ? 'null' : typeof data === 'object' ? data.constructor.name : typeof data;
    throw new ProxyDecisionError(`${helper}() takes a Buffer or Uint8Array, not ${what} (use the JSON variant for JSON values)`);
  }
  const bytes = data instanceof ArrayBuffer ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return bytes.toString('base64');
}

function decodeBase64(text) {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
    throw new TypeError('the event\'s payloadBase64 is not base64');
  }
  return Buffer.from(text, 'base64');
}

function jsonValue(value, helper) {
  if (value === undefined) throw new ProxyDecisionError(`${helper}() needs a JSON value (null for JSON null), got undefined`);
  return value;
}

/**
 * A REQUEST (the invocation's event) or a RESPONSE (what the runtime answered) from the Runtime
 * API proxy, as given to onRequest / onResponse handlers:
 * - eventType ('REQUEST' | 'RESPONSE'), requestId, headers (the Lambda-Runtime-* fields and
 *   Content-Type);
 * - payload: the body as decoded JSON when it is JSON (isJson), else null; payloadBytes: the body
 *   as a Buffer when it is not JSON (sent as payloadBase64), else null. A streamed response has
 *   neither;
 * - RESPONSE only: status ('success' | 'error'), errorType (for /error and a stream's error
 *   trailer, else null), streamed, bytes (a streamed response's size), prelude (a Function URL
 *   stream's status and headers, or null);
 * - raw: the event as received.
 * In intercept mode the hook's (resolved) value decides: undefined/null forwards unchanged; else
 * return one of replace(x), replaceBytes(b), respond(x) / respondBytes(b) (REQUEST only) or
 * reject(errorType, message). In observe mode the answer is ignored.
 */
class ProxyEvent {
  constructor(raw) {
    this.raw = raw;
    this.eventType = str(raw.eventType);
    this.requestId = str(raw.requestId) || '';
    this.headers = {};
    if (isObject(raw.headers)) {
      for (const [k, v] of Object.entries(raw.headers)) if (typeof v === 'string') this.headers[k] = v;
    }
    this.isJson = Object.prototype.hasOwnProperty.call(raw, 'payload');
    this.payload = raw.payload === undefined ? null : raw.payload;
    this.payloadBytes = typeof raw.payloadBase64 === 'string' ? decodeBase64(raw.payloadBase64) : null;
    this.status = str(raw.status);
    this.errorType = str(raw.errorType);
    this.streamed = raw.streamed === true;
    this.bytes = Number.isInteger(raw.bytes) ? raw.bytes : null;
    this.prelude = isObject(raw.prelude) ? raw.prelude : null;
  }

  get isRequest() {
    return this.eventType === ProxyEvent.REQUEST;
  }

  get isResponse() {
    return this.eventType === ProxyEvent.RESPONSE;
  }

  /** Forward unchanged (the same as returning undefined or null). */
  forward() {
    return null;
  }

  /** REQUEST: the runtime gets `value` (JSON); RESPONSE: the platform gets it (an /error becomes a /response). */
  replace(value) {
    this.checkDecidable('replace');
    return new ProxyDecision({ payload: jsonValue(value, 'replace') });
  }

  /** As replace, with raw bytes (sent with the original Content-Type). */
  replaceBytes(data) {
    this.checkDecidable('replaceBytes');
    return new ProxyDecision({ payloadBase64: base64Of(data, 'replaceBytes') });
  }

  /** REQUEST only: the runtime never sees this invocation; the platform gets `value` (JSON). */
  respond(value) {
    this.checkRequest('respond');
    return new ProxyDecision({ respond: jsonValue(value, 'respond') });
  }

  /** As respond, with raw bytes. */
  respondBytes(data) {
    this.checkRequest('respondBytes');
    return new ProxyDecision({ respondBase64: base64Of(data, 'respondBytes') });
  }

  /**
   * REQUEST: the invocation fails with `errorType` and the runtime never sees it; RESPONSE: the
   * response is replaced by that error. Body: {"errorType": errorType, "errorMessage": message}.
   */
  reject(errorType, message = null) {
    this.checkDecidable('reject');
    if (typeof errorType !== 'string' || !errorType) {
      throw new ProxyDecisionError(`reject() needs a non-empty error type, got ${JSON.stringify(errorType) ?? String(errorType)}`);
    }
    if (errorType.startsWith('Runner.')) {
      throw new ProxyDecisionError(
        `reject(${JSON.stringify(errorType)}): error types starting with 'Runner.' are the host's own (a failed hook), choose another prefix`,
      );
    }
    if ([...errorType].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) {
      throw new ProxyDecisionError(`reject(${JSON.stringify(errorType)}): the error type holds control characters`);
    }
    if (message !== null && message !== undefined && typeof message !== 'string') {
      throw new ProxyDecisionError(`reject() takes the message as a string, not ${typeof message}`);
    }
    const body = { errorType, errorMessage: message || 'rejected by the extension' };
    return new ProxyDecision(body, errorType, true);
  }

  checkDecidable(helper) {
    if (this.streamed) {
      throw new ProxyDecisionError(
        `${helper}(): the streamed response ${this.requestId} was already forwarded as it arrived; there is nothing left to decide`,
      );
    }
  }

  checkRequest(helper) {
    if (!this.isRequest) {
      throw new ProxyDecisionError(`${helper}() is for REQUEST events only: a RESPONSE can be replaced or rejected`);
    }
  }
}
ProxyEvent.REQUEST = 'REQUEST';
ProxyEvent.RESPONSE = 'RESPONSE';

/** The reply fields of what a REQUEST/RESPONSE hook returned. */
function hookResult(kind, result) {
  if (result === undefined || result === null) return { result: null };
  if (result instanceof ProxyDecision) return { result: result.result, errortype: result.errortype, errors: result.errors };
  const what = typeof result === 'object' ? result.constructor?.name ?? 'object' : typeof result;
  throw new TypeError(
    `the ${kind} hook returned ${what}: return undefined/null (forward unchanged) or a decision, e.g. event.replace(x), event.reject(errorType, message)`,
  );
}

// ---------------------------------------------------------------------------------------------
// The protocol loop
// ---------------------------------------------------------------------------------------------

const pause = new Int32Array(new SharedArrayBuffer(4));

function writeAll(fd, text) {
  const bytes = Buffer.from(text);
  for (let off = 0; off < bytes.length; ) {
    try {
      off += fs.writeSync(fd, bytes, off);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
      // A non-blocking descriptor whose reader is behind: wait a moment for it to drain.
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}

const errorName = (e) => {
  if (e instanceof Error) return (e.constructor && e.constructor.name) || e.name || 'Error';
  return e === null ? 'null' : typeof e;
};
const errorMessage = (e) => (e instanceof Error ? String(e.message) : String(e));

/**
 * An extension's handlers and the loop that serves the host:
 * - onStart(fn(startup)): at the handshake; a throw/rejection answers {"ok":false,"error":…}
 *   (the host reports Extension.ChildStartupFailed) and the process exits 1.
 * - onInvoke(fn(event, ctx)): each INVOKE (none on Managed Instances [LMI]).
 * - onShutdown(fn(event, ctx)): the SHUTDOWN event, always the last request.
 * - onTelemetry(fn(batch, ctx)): each TELEMETRY event; batch is a TelemetryBatch.
 * - onMessages(fn(messages, ctx)): each MESSAGES event (what the function send()s,
 *   docs/messages.md); messages is the Array of {requestId, time, message}.
 * - onRequest(fn(event, ctx)) / onResponse(fn(event, ctx)): the Runtime API proxy's REQUEST /
 *   RESPONSE events (EXTENSION_RUNNER_PROXY, docs/proxy.md); event is a ProxyEvent, and the
 *   handler returns undefined/null or one of its decisions.
 * - onEvent(fn(event, ctx)): any event without a more specific handler.
 * Handlers may be async; the resolved value (JSON-serialisable) is the reply's `result`.
 */
class Extension {
  constructor(options = {}) {
    this.handlers = new Map();
    this.protectStdout = options.protectStdout !== false;
    this.input = options.input || process.stdin;
    this.startup = null;
    this.protoFd = null;
    this.outputFd = null;
  }

  onStart(fn) { return this.register('start', fn); }
  onInvoke(fn) { return this.register('INVOKE', fn); }
  onShutdown(fn) { return this.register('SHUTDOWN', fn); }
  onTelemetry(fn) { return this.register('TELEMETRY', fn); }
  onMessages(fn) { return this.register('MESSAGES', fn); }
  onRequest(fn) { return this.register(ProxyEvent.REQUEST, fn); }
  onResponse(fn) { return this.register(ProxyEvent.RESPONSE, fn); }
  onEvent(fn) { return this.register('*', fn); }

  register(kind, fn) {
    if (typeof fn !== 'function') throw new TypeError(`handler for ${kind} is not a function`);
    this.handlers.set(kind, fn);
    return this;
  }

  /**
   * Writes one line to the extension's own stdout, unprefixed (extension-runner passes it as
   * EXTENSION_RUNNER_STDOUT_FD); without it the line goes to stderr (logged with a prefix).
   */
  output(line) {
    writeAll(this.outputFd ?? 2, String(line).replace(/\n$/, '') + '\n');
  }

  send(message) {
    writeAll(this.protoFd, JSON.stringify(message) + '\n');
  }

  openStreams() {
    // A blocking handle of our own on the original stdout pipe: replies are written whole and
    // in order, whatever process.stdout's (asynchronous) state is. A socket (a Node parent's
    // 'pipe') cannot be reopened that way; then fd 1 itself is written, retrying on EAGAIN.
    try {
      this.protoFd = fs.openSync('/proc/self/fd/1', 'w');
    } catch (_) {
      this.protoFd = 1;
    }
    if (this.protectStdout) {
      const toStderr = process.stderr.write.bind(process.stderr);
      process.stdout.write = toStderr;
      console.log = console.info = console.debug = console.error;
    }
    const fd = process.env.EXTENSION_RUNNER_STDOUT_FD || '';
    if (/^\d+$/.test(fd)) {
      try {
        fs.fstatSync(Number(fd));
        this.outputFd = Number(fd);
      } catch (_) {
        this.outputFd = null;
      }
    }
  }

  /** Serves the host until stdin closes, then exits 0 (1 when the start-up failed). */
  run() {
    this.openStreams();
    const lines = readline.createInterface({ input: this.input, terminal: false, crlfDelay: Infinity });
    // One request at a time, strictly in order: each line waits for the previous reply.
    let chain = Promise.resolve();
    lines.on('line', (line) => {
      chain = chain.then(() => this.onLine(line)).catch((e) => {
        // Only writing the protocol itself can fail here: the stream is unusable.
        sdkLog(`cannot write to the protocol stream: ${e.message}`);
        this.exit(1);
      });
    });
    lines.on('close', () => {
      chain.then(() => this.exit(0));
    });
    return this;
  }

  exit(code) {
    // Exit explicitly: a handler's open sockets or timers must not keep the child alive after
    // the host closed stdin (the host would have to SIGTERM it).
    process.exit(code);
  }

  async onLine(line) {
    if (!line.trim()) return;
    if (this.startup === null) return this.handshake(line);
    let request;
    try {
      request = JSON.parse(line);
    } catch (e) {
      sdkLog(`skipping a request that is not JSON (${e.message}): ${line.slice(0, 200)}`);
      return;
    }
    const id = isObject(request) && isObject(request.context) ? request.context.aws_request_id : null;
    if (typeof id !== 'string' || !id) {
      // Without its id no reply can be paired with it: the host times the request out.
      sdkLog(`skipping a request without context.aws_request_id: ${line.slice(0, 200)}`);
      return;
    }
    let out;
    try {
      const fields = await this.dispatch(request, new Context(request, this.startup));
      // Serialised once, here: a result that cannot be (BigInt, cycles) is this request's error.
      const text = fields.result === undefined ? 'null' : JSON.stringify(fields.result) ?? 'null';
      const errors = fields.errors ? ',"errors":true' : '';
      out = `{"result":${text},"errortype":${JSON.stringify(fields.errortype || '')},"invokeid":${JSON.stringify(id)}${errors}}\n`;
    } catch (e) {
      console.error(e);
      // A hook that threw has failed, it did not decide: the host applies
      // EXTENSION_RUNNER_PROXY_FAIL instead of failing the invocation with the exception.
      const hook = isObject(request.event) && ['REQUEST', 'RESPONSE'].includes(request.event.eventType);
      out = JSON.stringify({
        result: { errorMessage: hook ? `${errorName(e)}: ${errorMessage(e)}` : errorMessage(e) },
        errortype: hook ? HOOK_FAILED_ERROR_TYPE : errorName(e),
        invokeid: id,
        errors: true,
      }) + '\n';
    }
    try {
      writeAll(this.protoFd, out);
    } catch (e) {
      if (e.code === 'EPIPE') this.exit(0); // the host is gone; nobody is left to answer
      throw e;
    }
  }

  async handshake(line) {
    let message;
    try {
      message = JSON.parse(line);
      if (!isObject(message)) throw new Error('not a JSON object');
    } catch (e) {
      this.send({ ok: false, error: `malformed StartupRequest: ${e.message}` });
      return this.exit(1);
    }
    this.startup = new Startup(message);
    const start = this.handlers.get('start');
    if (start) {
      try {
        await start(this.startup);
      } catch (e) {
        console.error(e);
        this.send({ ok: false, error: `${errorName(e)}: ${errorMessage(e)}` });
        return this.exit(1);
      }
    }
    // `handles` (optional in the protocol): lets the host warn about a handler it will never
    // call, e.g. onTelemetry with telemetry off, and skip the proxy hooks this extension has
    // no handler for ('*': the catch-all takes every event).
    const handles = [...this.handlers.keys()].filter((k) => /^([A-Z]+|\*)$/.test(k)).sort();
    this.send({ ok: true, handles });
  }

  /** The reply's fields for one request: `result`, and `errortype`/`errors` when a proxy hook rejects. */
  async dispatch(request, ctx) {
    const event = request.event;
    const kind = isObject(event) ? event.eventType : null;
    const fn = this.handlers.get(kind) || this.handlers.get('*');
    if (!fn) return { result: null };
    if (kind === 'TELEMETRY' && fn === this.handlers.get('TELEMETRY')) {
      return { result: await fn(TelemetryBatch.from(event.records, ctx.platform), ctx) };
    }
    if (kind === 'MESSAGES' && fn === this.handlers.get('MESSAGES')) {
      return { result: await fn(Array.isArray(event.messages) ? event.messages : [], ctx) };
    }
    if ((kind === ProxyEvent.REQUEST || kind === ProxyEvent.RESPONSE) && fn === this.handlers.get(kind)) {
      return hookResult(kind, await fn(new ProxyEvent(event), ctx));
    }
    return { result: await fn(event, ctx) };
  }
}

// ---------------------------------------------------------------------------------------------
// The function side: send messages to the extension (docs/messages.md)
// ---------------------------------------------------------------------------------------------

const MESSAGES_URL_ENV = 'EXTENSION_RUNNER_MESSAGES_URL';
const DEFAULT_MESSAGES_URL = 'http://127.0.0.1:8426/v1/messages';
// A few sends in flight at once (unawaited calls) get their own connections; more wait for one.
const MAX_MESSAGES_CONNECTIONS = 4;

/** Where the messages go: host, port and path of the URL, parsed once per distinct URL. */
let messagesTarget = null;
function messagesWhere() {
  const text = process.env[MESSAGES_URL_ENV] || DEFAULT_MESSAGES_URL;
  if (messagesTarget && messagesTarget.text === text) return messagesTarget;
  const url = new URL(text);
  if (url.protocol !== 'http:') throw new Error(`${MESSAGES_URL_ENV} is not an http:// URL: ${text}`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || 80);
  messagesTarget = { text, host, port, key: `${host}:${port}`, hostField: url.host, path: url.pathname || '/v1/messages' };
  return messagesTarget;
}

/**
 * The answer in `data` when it is complete: {status, reusable}, else null. The endpoint answers
 * with a Content-Length; a chunked answer is read too, one with neither ends its connection.
 */
function completeAnswer(data) {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const head = data.toString('latin1', 0, end).split('\r\n');
  const status = Number(head[0].split(' ')[1]);
  let length = null;
  let close = false;
  let chunked = false;
  for (const line of head.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim().toLowerCase();
    if (name === 'content-length') length = Number(value);
    else if (name === 'connection') close = value === 'close';
    else if (name === 'transfer-encoding') chunked = value.includes('chunked');
  }
  const body = data.length - end - 4;
  if (length !== null && Number.isFinite(length)) {
    if (body < length) return null;
    return { status, reusable: !close && body === length };
  }
  if (!chunked) return { status, reusable: false };
  const used = chunkedEnd(data, end + 4);
  if (used === null) return null;
  return { status, reusable: !close && used === data.length };
}

/** Where a chunked body starting at `at` ends (after its trailer section), or null if it does not yet. */
function chunkedEnd(data, at) {
  for (;;) {
    const eol = data.indexOf('\r\n', at);
    if (eol < 0) return null;
    const size = parseInt(data.toString('latin1', at, eol), 16);
    if (!Number.isFinite(size)) throw new Error('malformed chunk size');
    if (size === 0) {
      // Trailer fields, then an empty line.
      for (let line = eol + 2; ; ) {
        const next = data.indexOf('\r\n', line);
        if (next < 0) return null;
        if (next === line) return next + 2;
        line = next + 2;
      }
    }
    at = eol + 2 + size + 2;
    if (at > data.length) return null;
  }
}

/**
 * Connections to the messages endpoint kept open across calls: plain `net` sockets speaking just
 * enough HTTP/1.1, one request at a time each. Node's http client costs ~0.5 ms per request,
 * ten times the endpoint's own. Idle sockets are unref'd: they never keep the process alive.
 */
class MessagesSender {
  constructor() {
    this.idle = [];
    this.open = 0;
    this.waiting = [];
  }

  /** Resolves null once the endpoint answered 202, else a line saying why not. */
  post(where, request, timeoutMs) {
    return new Promise((resolve) => {
      const job = { where, request, done: false, retried: false, conn: null, timer: null };
      job.finish = (failure) => {
        if (job.done) return;
        job.done = true;
        clearTimeout(job.timer);
        const queued = this.waiting.indexOf(job);
        if (queued >= 0) this.waiting.splice(queued, 1);
        resolve(failure);
      };
      job.timer = setTimeout(() => {
        if (job.conn) this.discard(job.conn);
        job.finish(`timed out after ${timeoutMs} ms`);
      }, timeoutMs);
      this.start(job, false);
    });
  }

  start(job, fresh) {
    for (const stale of this.idle.filter((c) => c.key !== job.where.key)) this.discard(stale);
    let conn = null;
    if (!fresh) {
      const i = this.idle.findIndex((c) => !c.socket.destroyed);
      if (i >= 0) conn = this.idle.splice(i, 1)[0];
    }
    if (!conn) {
      if (this.open >= MAX_MESSAGES_CONNECTIONS) {
        if (fresh && this.idle.length > 0) this.discard(this.idle[0]);
        this.waiting.push(job);
        return;
      }
      conn = this.connect(job.where);
    }
    conn.job = job;
    conn.answered = false;
    conn.data = Buffer.alloc(0);
    job.conn = conn;
    conn.socket.ref();
    conn.socket.write(job.request);
  }

  connect(where) {
    const net = require('net');
    const socket = net.connect({ host: where.host, port: where.port });
    socket.setNoDelay(true);
    const conn = { socket, key: where.key, job: null, reused: false, error: null, data: null };
    this.open += 1;
    socket.on('data', (data) => this.onData(conn, data));
    socket.on('error', (e) => { conn.error = e; });
    socket.on('close', () => this.onClose(conn));
    return conn;
  }

  onData(conn, data) {
    const job = conn.job;
    if (!job) {
      this.discard(conn);  // nothing was asked: the connection is out of step
      return;
    }
    conn.answered = true;
    conn.data = conn.data.length ? Buffer.concat([conn.data, data]) : data;
    let answer = null;
    try {
      answer = completeAnswer(conn.data);
    } catch (e) {
      answer = { status: 0, reusable: false };
    }
    if (!answer) return;
    conn.job = null;
    job.conn = null;
    if (answer.reusable) {
      conn.reused = true;
      conn.socket.unref();
      this.idle.push(conn);
      this.pump();
    } else {
      this.discard(conn);
    }
    job.finish(answer.status === 202 ? null : `HTTP ${answer.status || '(unreadable answer)'}`);
  }

  onClose(conn) {
    this.open -= 1;
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    const job = conn.job;
    conn.job = null;
    if (job && !job.done) {
      job.conn = null;
      if (conn.reused && !conn.answered && !job.retried) {
        // A kept-open connection the endpoint closed while idle fails at once: one retry on a
        // fresh connection tells that apart from an endpoint that is down.
        job.retried = true;
        this.start(job, true);
      } else {
        const e = conn.error;
        job.finish(e ? `${errorName(e)}: ${errorMessage(e)}` : 'the endpoint closed the connection');
      }
    }
    this.pump();
  }

  discard(conn) {
    conn.job = null;
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    conn.socket.destroy();
  }

  pump() {
    while (this.waiting.length > 0 && (this.idle.length > 0 || this.open < MAX_MESSAGES_CONNECTIONS)) {
      this.start(this.waiting.shift(), false);
    }
  }
}

let messagesSender = null;

/**
 * Hands `messages` (an Array of JSON-serialisable values) to the extension in one POST to
 * EXTENSION_RUNNER_MESSAGES_URL (default http://127.0.0.1:8426/v1/messages), on a connection
 * kept open across calls. For the *function*, not the extension. Never throws or rejects:
 * resolves true once the endpoint queued them (202), else false with one line on stderr
 * (endpoint down, queue full, slower than `timeoutMs`, or a message that is not JSON).
 * `requestId` tags them with an invocation (header Extension-Runner-Request-Id).
 */
async function sendMany(messages, options = {}) {
  let failure;
  try {
    const { requestId = null, timeoutMs = 50 } = options || {};
    const body = JSON.stringify(Array.from(messages));
    const where = messagesWhere();
    let head = `POST ${where.path} HTTP/1.1\r\nHost: ${where.hostField}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
    if (requestId) head += `Extension-Runner-Request-Id: ${String(requestId).replace(/[\r\n]/g, '')}\r\n`;
    if (!messagesSender) messagesSender = new MessagesSender();
    failure = await messagesSender.post(where, head + '\r\n' + body, timeoutMs);
  } catch (e) {
    failure = `${errorName(e)}: ${errorMessage(e)}`;
  }
  if (failure) sdkLog(`send: message(s) not delivered to the extension: ${failure}`);
  return !failure;
}

/** sendMany([message], options): resolves true once the extension's endpoint queued it. */
function send(message, options = {}) {
  return sendMany([message], options);
}

module.exports = {
  send,
  sendMany,
  MESSAGES_URL_ENV,
  Extension,
  Startup,
  Context,
  FunctionInfo,
  Record,
  TelemetryBatch,
  Invocation,
  InvocationTracker,
  ProxyEvent,
  HOOK_FAILED_ERROR_TYPE,
  ProxyDecision,
  ProxyDecisionError,
  groupByRequestId,
  parseTime,
  PROTOCOL_VERSION,
  PLATFORM_LAMBDA,
  PLATFORM_MANAGED_INSTANCES,
};
