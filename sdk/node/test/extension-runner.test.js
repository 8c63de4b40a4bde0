// Tests of the Node.js child SDK: the protocol as the host drives it, and the telemetry helpers.
// Protocol tests start a real child process (a small extension written with the SDK) and talk
// the runner protocol to it over pipes, as extension-runner does. Waits are on events (a line,
// an exit), bounded by the test timeout, never sleeps.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const SDK = path.resolve(__dirname, '..', 'extension-runner.js');
const er = require(SDK);

class Child {
  constructor(body, { env = {}, ext = '.js', stdio } = {}) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'er-sdk-node-'));
    const file = path.join(this.dir, `ext${ext}`);
    const header = ext === '.mjs' ? '' : `const SDK = ${JSON.stringify(SDK)};\n`;
    fs.writeFileSync(file, header + body.replaceAll('__SDK__', JSON.stringify(SDK)));
    this.proc = spawn(process.execPath, [file], {
      env: { ...process.env, ...env },
      stdio: stdio || ['pipe', 'pipe', 'pipe'],
    });
    this.lines = [];
    this.waiters = [];
    this.closed = false;
    readline.createInterface({ input: this.proc.stdout }).on('line', (l) => this.push(l)).on('close', () => {
      this.closed = true;
      this.push(null);
    });
    this.stderr = '';
    this.proc.stderr.on('data', (d) => (this.stderr += d));
    this.exited = new Promise((resolve) => this.proc.on('close', (code) => resolve(code)));
  }

  push(line) {
    if (this.waiters.length) this.waiters.shift()(line);
    else this.lines.push(line);
  }

  nextLine() {
    if (this.lines.length) return Promise.resolve(this.lines.shift());
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async reply() {
    const line = await this.nextLine();
    if (line === null) throw new Error(`child closed stdout; stderr: ${this.stderr}`);
    return JSON.parse(line);
  }

  write(text) {
    this.proc.stdin.write(text);
  }

  send(message) {
    this.write(JSON.stringify(message) + '\n');
  }

  start(fields = {}) {
    this.send({ handler: '', env: {}, version: 1, name: 'test-ext', mode: 'lambda', ...fields });
    return this.reply();
  }

  request(id, event, { deadline = Date.now() + 60000, ...context } = {}) {
    this.send({
      context: {
        aws_request_id: id,
        client_context: null,
        identity: null,
        invoked_function_arn: 'arn:aws:lambda:us-east-1:123456789012:function:fn',
        ...context,
      },
      event,
      deadline,
    });
    return this.reply();
  }

  /** Closes stdin (what the host does at shutdown); resolves to {code, rest, stderr}. */
  async close() {
    this.proc.stdin.end();
    const code = await this.exited;
    const rest = [];
    for (let l = await this.nextLine(); l !== null; l = await this.nextLine()) rest.push(l);
    fs.rmSync(this.dir, { recursive: true, force: true });
    return { code, rest, stderr: this.stderr };
  }
}

const ECHO_ALL = `
const { Extension } = require(SDK);
const ext = new Extension();
ext.onInvoke((event, ctx) => {
  console.log('user print on invoke', ctx.requestId);
  process.stdout.write('user write on invoke\\n');
  return { kind: 'invoke', id: ctx.requestId, arn: ctx.invokedFunctionArn, deadline: ctx.deadlineMs,
    remainingOk: ctx.remainingMs() > 0 && ctx.remainingMs() <= 60000, clientContext: ctx.clientContext,
    identity: ctx.identity, platform: ctx.platform,
    fn: [ctx.function.name, ctx.function.version, ctx.function.handler, ctx.function.accountId] };
});
ext.onShutdown(async (event) => ({ kind: 'shutdown', reason: event.shutdownReason }));
ext.onTelemetry((batch) => ({ kind: 'telemetry', types: batch.map((r) => r.type),
  groups: Object.fromEntries([...batch.byRequestId()].map(([k, v]) => [String(k), v.length])) }));
ext.onMessages((messages) => ({ kind: 'messages', bodies: messages.map((m) => m.message),
  ids: messages.map((m) => m.requestId) }));
ext.run();
`;

// The startup response names the event types ECHO_ALL has handlers for (`handles`).
const READY_ALL = { ok: true, handles: ['INVOKE', 'MESSAGES', 'SHUTDOWN', 'TELEMETRY'] };

test('handshake: ok, then a clean exit at EOF', async () => {
  const child = new Child(ECHO_ALL);
  assert.deepEqual(await child.start(), READY_ALL);
  const { code, rest } = await child.close();
  assert.equal(code, 0);
  assert.deepEqual(rest, []);
});

test('handshake: EOF before the StartupRequest exits cleanly', async () => {
  const child = new Child(ECHO_ALL);
  const { code, rest } = await child.close();
  assert.equal(code, 0);
  assert.deepEqual(rest, []);
});

test('handshake: onStart sees the StartupRequest, function and platform included', async () => {
  const child = new Child(`
const { Extension } = require(SDK);
const ext = new Extension();
let seen = null;
ext.onStart(async (s) => { seen = { name: s.name, mode: s.mode, handler: s.handler, env: s.env, platform: s.platform,
  fn: s.function.name, account: s.function.accountId, lmi: s.managedInstances }; });
ext.onInvoke(() => seen);
ext.run();
`);
  assert.deepEqual(
    await child.start({
      name: 'my-ext',
      mode: 'emulate',
      handler: 'h.x',
      env: { A: '1' },
      platform: 'managed-instances',
      function: { functionName: 'my-fn', functionVersion: '7', handler: 'app.handler', accountId: '123456789012' },
    }),
    { ok: true, handles: ['INVOKE'] }, // the event types it has handlers for
  );
  const reply = await child.request('r1', { eventType: 'INVOKE' });
  assert.deepEqual(reply.result, {
    name: 'my-ext', mode: 'emulate', handler: 'h.x', env: { A: '1' }, platform: 'managed-instances',
    fn: 'my-fn', account: '123456789012', lmi: true,
  });
  assert.equal((await child.close()).code, 0);
});

test('handshake: a StartupRequest without function and platform (older hosts)', async () => {
  const child = new Child(ECHO_ALL, { env: { AWS_LAMBDA_FUNCTION_NAME: 'env-fn' } });
  await child.start({ env: { AWS_LAMBDA_FUNCTION_VERSION: '3' } });
  const { result } = await child.request('r1', { eventType: 'INVOKE' });
  assert.equal(result.platform, 'lambda');
  assert.deepEqual(result.fn, ['env-fn', '3', null, null]);
  await child.close();
});

for (const [name, body, error] of [
  ['a throw', 'ext.onStart(() => { throw new RangeError("no config"); });', 'RangeError: no config'],
  ['a rejection', 'ext.onStart(async () => { await null; throw new TypeError("async no"); });', 'TypeError: async no'],
]) {
  test(`handshake: ${name} in onStart answers ok:false and exits 1`, async () => {
    const child = new Child(`const { Extension } = require(SDK); const ext = new Extension(); ${body} ext.run();`);
    assert.deepEqual(await child.start(), { ok: false, error });
    const { code, stderr } = await child.close();
    assert.equal(code, 1);
    assert.match(stderr, new RegExp(error));
  });
}

for (const line of ['not json', '[1,2]']) {
  test(`handshake: a malformed StartupRequest (${line}) answers ok:false`, async () => {
    const child = new Child(ECHO_ALL);
    child.write(line + '\n');
    const reply = await child.reply();
    assert.equal(reply.ok, false);
    assert.match(reply.error, /malformed StartupRequest/);
    assert.equal((await child.close()).code, 1);
  });
}

test('handlers: each kind gets its event, the reply carries the request id', async () => {
  const child = new Child(ECHO_ALL);
  await child.start();
  const cases = [
    [{ eventType: 'INVOKE', requestId: 'i1' }, { kind: 'invoke' }],
    [{ eventType: 'SHUTDOWN', shutdownReason: 'spindown' }, { kind: 'shutdown', reason: 'spindown' }],
    [
      {
        eventType: 'TELEMETRY',
        records: [
          { time: '2026-01-01T00:00:00.000Z', type: 'platform.start', record: { requestId: 'a' } },
          { time: '2026-01-01T00:00:00.001Z', type: 'function', record: 'hello' },
        ],
      },
      { kind: 'telemetry', types: ['platform.start', 'function'], groups: { a: 2 } },
    ],
    [
      {
        eventType: 'MESSAGES',
        messages: [
          { requestId: 'a', time: '2026-01-01T00:00:00.000Z', message: { n: 1 } },
          { requestId: null, time: '2026-01-01T00:00:00.001Z', message: 'x' },
        ],
      },
      { kind: 'messages', bodies: [{ n: 1 }, 'x'], ids: ['a', null] },
    ],
  ];
  for (const [n, [event, expected]] of cases.entries()) {
    const reply = await child.request(`req-${n}`, event);
    assert.equal(reply.invokeid, `req-${n}`);
    assert.equal(reply.errortype, '');
    assert.equal('errors' in reply, false);
    for (const [k, v] of Object.entries(expected)) assert.deepEqual(reply.result[k], v);
  }
  const unknown = await child.request('u1', { eventType: 'SOMETHING_NEW' });
  assert.deepEqual(unknown, { result: null, errortype: '', invokeid: 'u1' });
  await child.close();
});

test('handlers: the context object', async () => {
  const child = new Child(ECHO_ALL);
  await child.start();
  const deadline = Date.now() + 30000;
  const { result } = await child.request('ctx-1', { eventType: 'INVOKE' }, {
    deadline,
    client_context: { custom: { k: 'v' } },
    identity: { cognito_identity_id: 'id', cognito_identity_pool_id: 'pool' },
  });
  assert.equal(result.id, 'ctx-1');
  assert.equal(result.arn, 'arn:aws:lambda:us-east-1:123456789012:function:fn');
  assert.equal(result.deadline, deadline);
  assert.equal(result.remainingOk, true);
  assert.deepEqual(result.clientContext, { custom: { k: 'v' } });
  assert.equal(result.identity.cognito_identity_pool_id, 'pool');
  await child.close();
});

test('stdout protection: console.log and process.stdout.write go to stderr', async () => {
  const child = new Child(ECHO_ALL);
  await child.start();
  await child.request('p1', { eventType: 'INVOKE' });
  const { code, rest, stderr } = await child.close();
  assert.equal(code, 0);
  assert.deepEqual(rest, []);
  assert.match(stderr, /user print on invoke p1/);
  assert.match(stderr, /user write on invoke/);
});

const FAILING = `
const { Extension } = require(SDK);
const { spawnSync } = require('child_process');
class QuotaExceeded extends Error {}
const ext = new Extension();
ext.onInvoke(async (event, ctx) => {
  await new Promise((resolve) => setImmediate(resolve));
  if (event.fail === 'custom') throw new QuotaExceeded('over quota');
  if (event.fail === 'reject') return Promise.reject(new RangeError('rejected'));
  if (event.fail === 'string') throw 'a bare string';
  if (event.fail === 'bigint') return { n: 1n };
  if (event.fail === 'subprocess') {
    spawnSync(process.execPath, ['-e', 'console.log("from a subprocess")'], { stdio: ['ignore', 2, 2] });
    return 'ran';
  }
  return { async: true, id: ctx.requestId };
});
ext.onShutdown(() => { throw new Error('boom'); });
// A keep-alive timer must not keep the child alive after EOF.
setInterval(() => {}, 1 << 30);
ext.run();
`;

test('exceptions and rejections become error replies; async handlers', async () => {
  const child = new Child(FAILING);
  await child.start();
  const cases = [
    [{ eventType: 'INVOKE', fail: 'custom' }, 'QuotaExceeded', 'over quota'],
    [{ eventType: 'INVOKE', fail: 'reject' }, 'RangeError', 'rejected'],
    [{ eventType: 'INVOKE', fail: 'string' }, 'string', 'a bare string'],
    [{ eventType: 'INVOKE', fail: 'bigint' }, 'TypeError', null],
    [{ eventType: 'SHUTDOWN' }, 'Error', 'boom'],
  ];
  for (const [n, [event, errortype, message]] of cases.entries()) {
    const reply = await child.request(`e${n}`, event);
    assert.equal(reply.invokeid, `e${n}`);
    assert.equal(reply.errors, true);
    assert.equal(reply.errortype, errortype);
    if (message !== null) assert.deepEqual(reply.result, { errorMessage: message });
  }
  assert.deepEqual((await child.request('fine', { eventType: 'INVOKE' })).result, { async: true, id: 'fine' });
  const { code, rest, stderr } = await child.close();
  assert.equal(code, 0, 'exits at EOF despite the pending timer');
  assert.deepEqual(rest, []);
  assert.match(stderr, /over quota/);
});

test('replies exactly once per request, in order, even when all arrive at once', async () => {
  const child = new Child(FAILING);
  await child.start();
  const ids = Array.from({ length: 50 }, (_, i) => `m${i}`);
  child.write(ids.map((id) => JSON.stringify({ context: { aws_request_id: id }, event: { eventType: 'INVOKE' }, deadline: 0 }) + '\n').join(''));
  const got = [];
  for (const _ of ids) got.push((await child.reply()).invokeid);
  assert.deepEqual(got, ids);
  const { rest } = await child.close();
  assert.deepEqual(rest, []);
});

test('a subprocess started with stdio [ignore, 2, 2] stays off the protocol', async () => {
  const child = new Child(FAILING);
  await child.start();
  assert.deepEqual(await child.request('s1', { eventType: 'INVOKE', fail: 'subprocess' }), {
    result: 'ran', errortype: '', invokeid: 's1',
  });
  const { rest, stderr } = await child.close();
  assert.deepEqual(rest, []);
  assert.match(stderr, /from a subprocess/);
});

test('malformed requests are skipped and the child keeps serving', async () => {
  const child = new Child(ECHO_ALL);
  await child.start();
  child.write('this is not json\n\n');
  child.send({ context: {}, event: { eventType: 'INVOKE' } });
  child.send([1, 2, 3]);
  const reply = await child.request('after-garbage', 'just a string');
  assert.deepEqual(reply, { result: null, errortype: '', invokeid: 'after-garbage' });
  const { code, stderr } = await child.close();
  assert.equal(code, 0);
  assert.match(stderr, /not JSON/);
  assert.match(stderr, /without context.aws_request_id/);
});

test('output() writes to EXTENSION_RUNNER_STDOUT_FD, else to stderr', async () => {
  const body = `const { Extension } = require(SDK); const ext = new Extension();
ext.onInvoke(() => { ext.output('{"metric":1}'); return null; }); ext.run();`;
  const withFd = new Child(body, { env: { EXTENSION_RUNNER_STDOUT_FD: '3' }, stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
  let hostStdout = '';
  withFd.proc.stdio[3].on('data', (d) => (hostStdout += d));
  const fd3Closed = new Promise((resolve) => withFd.proc.stdio[3].on('close', resolve));
  await withFd.start();
  await withFd.request('o1', { eventType: 'INVOKE' });
  const a = await withFd.close();
  await fd3Closed;
  assert.equal(hostStdout, '{"metric":1}\n');
  assert.deepEqual(a.rest, []);

  const without = new Child(body, { env: { EXTENSION_RUNNER_STDOUT_FD: '' } });
  await without.start();
  await without.request('o1', { eventType: 'INVOKE' });
  const b = await without.close();
  assert.match(b.stderr, /\{"metric":1\}/);
});

test('ESM: import { Extension } from the CommonJS file', async () => {
  const child = new Child(`import { Extension } from __SDK__;
const ext = new Extension();
ext.onInvoke(async (e, ctx) => ({ esm: true, id: ctx.requestId }));
ext.run();
`, { ext: '.mjs' });
  assert.deepEqual(await child.start(), { ok: true, handles: ['INVOKE'] });
  assert.deepEqual((await child.request('esm-1', { eventType: 'INVOKE' })).result, { esm: true, id: 'esm-1' });
  assert.equal((await child.close()).code, 0);
});

// ---------------------------------------------------------------------------------------------
// Telemetry helpers (in-process)
// ---------------------------------------------------------------------------------------------

const rec = (type, record, time = '2026-03-01T12:00:00.123Z') => ({ time, type, record });

test('parseTime', () => {
  const cases = [
    ['2026-03-01T12:00:00.123Z', Date.UTC(2026, 2, 1, 12, 0, 0, 123)],
    ['2026-03-01T12:00:00Z', Date.UTC(2026, 2, 1, 12, 0, 0)],
    ['2026-03-01T12:00:00.5+01:00', Date.UTC(2026, 2, 1, 11, 0, 0, 500)],
    ['yesterday', null],
    ['', null],
    [null, null],
  ];
  for (const [text, expected] of cases) {
    const t = er.parseTime(text);
    assert.equal(t === null ? null : t.getTime(), expected, String(text));
  }
});

test('Record: typed access, records as given', () => {
  const cases = [
    [rec('function', 'plain line'), 'function', null, 'plain line', true, null],
    [rec('function', { message: 'json line', requestId: 'r9' }), 'function', 'r9', 'json line', false, { message: 'json line', requestId: 'r9' }],
    [rec('platform.report', { requestId: 'r1', metrics: { durationMs: 2 } }), 'platform.report', 'r1', null, false, { requestId: 'r1', metrics: { durationMs: 2 } }],
    [{ type: 5, record: null }, '', null, null, false, null],
    ['garbage', '', null, null, false, null],
  ];
  for (const [raw, type, requestId, message, isText, fields] of cases) {
    const r = new er.Record(raw);
    assert.equal(r.raw, raw);
    assert.equal(r.type, type);
    assert.equal(r.requestId, requestId);
    assert.equal(r.message, message);
    assert.equal(r.isText, isText);
    assert.deepEqual(r.fields, fields);
  }
  assert.deepEqual(new er.Record(rec('platform.report', { metrics: { durationMs: 2 } })).metrics, { durationMs: 2 });
  assert.equal(new er.Record(rec('function', 'x')).time.getUTCMilliseconds(), 123);
});

const standardBatch = () => [
  rec('platform.initStart', { initializationType: 'on-demand' }),
  rec('platform.start', { requestId: 'a' }),
  rec('function', 'a log 1'),
  rec('function', { message: 'a log 2' }),
  rec('platform.runtimeDone', { requestId: 'a', status: 'success' }),
  rec('extension', 'ext line'),
  rec('platform.report', { requestId: 'a', metrics: { durationMs: 1 } }),
  rec('platform.start', { requestId: 'b' }),
  rec('function', 'b log'),
];

test('groupByRequestId: standard platform', () => {
  const groups = er.groupByRequestId(standardBatch());
  assert.deepEqual([...groups.keys()], [null, 'a', 'b']);
  assert.deepEqual(groups.get(null).map((r) => r.type), ['platform.initStart', 'extension']);
  assert.deepEqual(groups.get('a').map((r) => r.message || r.type),
    ['platform.start', 'a log 1', 'a log 2', 'platform.runtimeDone', 'platform.report']);
  assert.deepEqual(groups.get('b').map((r) => r.message || r.type), ['platform.start', 'b log']);
});

test('groupByRequestId: Managed Instances cannot attribute text lines', () => {
  const batch = er.TelemetryBatch.from([
    rec('platform.start', { requestId: 'a' }),
    rec('platform.start', { requestId: 'b' }),
    rec('function', 'who am I'),
    rec('function', { message: "b's line", requestId: 'b' }),
    rec('platform.report', { requestId: 'a' }),
  ], 'managed-instances');
  const groups = batch.byRequestId();
  assert.deepEqual(groups.get(null).map((r) => r.message), ['who am I']);
  assert.equal(groups.get('a').length, 2);
  assert.deepEqual(groups.get('b').map((r) => r.message || r.type), ['platform.start', "b's line"]);
});

test('InvocationTracker: an invocation joined across batches', () => {
  const tracker = new er.InvocationTracker();
  const first = tracker.add(standardBatch());
  assert.deepEqual(first.map((i) => i.requestId), ['a']);
  assert.deepEqual(first[0].logs.map((r) => r.message), ['a log 1', 'a log 2']);
  assert.deepEqual(first[0].report.metrics, { durationMs: 1 });
  assert.equal(first[0].runtimeDone.fields.status, 'success');
  assert.ok(tracker.init['platform.initStart']);
  assert.deepEqual(tracker.unattributed.map((r) => r.type), ['platform.initStart', 'extension']);
  const second = tracker.add([rec('platform.runtimeDone', { requestId: 'b' }), rec('function', 'between'), rec('platform.report', { requestId: 'b' })]);
  assert.deepEqual(second.map((i) => i.requestId), ['b']);
  assert.deepEqual(second[0].logs.map((r) => r.message), ['b log']);
  assert.equal(tracker.unattributed.at(-1).message, 'between');
  tracker.add([rec('platform.start', { requestId: 'c' }), rec('function', 'c log')]);
  const rest = tracker.drain();
  assert.deepEqual(rest.map((i) => i.requestId), ['c']);
  assert.equal(rest[0].report, null);
  assert.deepEqual(tracker.drain(), []);
});

test('TelemetryBatch keeps the records as given', () => {
  const raw = standardBatch();
  const batch = er.TelemetryBatch.from(raw);
  assert.equal(batch.raw, raw);
  assert.deepEqual(batch.map((r) => r.raw), raw);
  assert.equal(batch.logs().length, 3);
  assert.equal(batch.ofType('platform.start', 'platform.report').length, 3);
  assert.equal(er.TelemetryBatch.from(null).length, 0);
});

test('package.json: CommonJS, no dependencies, Node >= 18, main is the one file', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'));
  assert.equal(pkg.type, 'commonjs');
  assert.equal(pkg.main, 'extension-runner.js');
  assert.deepEqual(pkg.dependencies, {});
  assert.equal(pkg.engines.node, '>=18');
  assert.equal(require(path.join(__dirname, '..')), er);
});

// The function side's send(): resolves true when queued, else false with one stderr line.
const kPatientMs = 10000;
async function withEndpoint(answer, fn) {
  const http = require('node:http');
  const seen = { bodies: [], ids: [], sockets: new Set() };
  const pending = [];
  const server = http.createServer((req, res) => {
    seen.sockets.add(req.socket);
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      seen.bodies.push(body);
      seen.ids.push(req.headers['extension-runner-request-id'] || null);
      if (answer === null) { pending.push(res); return; }  // never answers: a slow endpoint
      res.writeHead(answer, { 'Retry-After': '1' });
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const saved = process.env[er.MESSAGES_URL_ENV];
  process.env[er.MESSAGES_URL_ENV] = `http://127.0.0.1:${server.address().port}/v1/messages`;
  try {
    return await fn(seen);
  } finally {
    if (saved === undefined) delete process.env[er.MESSAGES_URL_ENV];
    else process.env[er.MESSAGES_URL_ENV] = saved;
    for (const res of pending) res.destroy();
    server.closeAllConnections?.();
    await new Promise((r) => server.close(r));
  }
}

function capturingStderr() {
  const lines = [];
  const original = fs.writeSync;
  fs.writeSync = (fd, text, ...rest) => {
    if (fd === 2) { lines.push(String(text)); return String(text).length; }
    return original(fd, text, ...rest);
  };
  return { lines, restore: () => { fs.writeSync = original; } };
}

test('send: accepted messages resolve true on one kept-alive connection', async () => {
  await withEndpoint(202, async (seen) => {
    const stderr = capturingStderr();
    try {
      // A budget far above the 50 ms default: these cases are about acceptance, and a loaded
      // machine (CI runs the suite under sanitizers, two tests at a time) can be slow.
      assert.equal(await er.send({ n: 1 }, { timeoutMs: kPatientMs }), true);
      assert.equal(await er.sendMany(['a', 2], { requestId: 'req-9', timeoutMs: kPatientMs }), true);
    } finally {
      stderr.restore();
    }
    assert.deepEqual(seen.bodies, ['[{"n":1}]', '["a",2]']);
    assert.deepEqual(seen.ids, [null, 'req-9']);
    assert.equal(seen.sockets.size, 1);
    assert.deepEqual(stderr.lines, []);
  });
});

test('send: down, full, slow or not JSON resolves false with one stderr line', async () => {
  const net = require('node:net');
  const probe = net.createServer();
  await new Promise((r) => probe.listen(0, '127.0.0.1', r));
  const deadPort = probe.address().port;
  await new Promise((r) => probe.close(r));
  const circular = {};
  circular.self = circular;
  const cases = [
    ['endpoint down', 'dead', { n: 1 }, 'ECONNREFUSED'],
    ['queue full', 503, { n: 1 }, 'HTTP 503'],
    ['slow endpoint', null, { n: 1 }, 'timed out'],
    ['not JSON', 503, circular, 'TypeError'],
  ];
  for (const [what, answer, message, mentions] of cases) {
    const run = async () => {
      const stderr = capturingStderr();
      let ok;
      try {
        ok = await er.send(message);
      } finally {
        stderr.restore();
      }
      assert.equal(ok, false, what);
      assert.equal(stderr.lines.length, 1, what);
      assert.match(stderr.lines[0], new RegExp(mentions), what);
    };
    if (answer === 'dead') {
      const saved = process.env[er.MESSAGES_URL_ENV];
      process.env[er.MESSAGES_URL_ENV] = `http://127.0.0.1:${deadPort}/v1/messages`;
      try { await run(); } finally {
        if (saved === undefined) delete process.env[er.MESSAGES_URL_ENV];
        else process.env[er.MESSAGES_URL_ENV] = saved;
      }
    } else {
      await withEndpoint(answer, run);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Runtime API proxy hooks: onRequest / onResponse, ProxyEvent and its decisions as the host reads
// them (docs/runner-protocol.md, "What the reply decides"), the misuse errors, non-JSON and
// streamed events.
// ---------------------------------------------------------------------------------------------

// Each hook does what the event's "Test-Decision" header says; "describe" replaces the payload
// by what the SDK made of the event.
const HOOKS = `
const { Extension } = require(SDK);
const ext = new Extension();
const describe = (event, ctx) => ({
  type: event.eventType, id: event.requestId, json: event.isJson, payload: event.payload,
  bytesB64: event.payloadBytes === null ? null : event.payloadBytes.toString('base64'),
  status: event.status, errorType: event.errorType, streamed: event.streamed, size: event.bytes,
  prelude: event.prelude, request: event.isRequest, response: event.isResponse, headers: event.headers,
  ctxId: ctx.requestId, clientContext: ctx.clientContext,
});
const decisions = {
  none: () => undefined,
  null: () => null,
  forward: (e) => e.forward(),
  replace: (e) => e.replace({ masked: true }),
  replace_null: (e) => e.replace(null),
  replace_bytes: (e) => e.replaceBytes(Buffer.from([0, 255, 114, 97, 119])),
  respond: (e) => e.respond({ answered: 1 }),
  respond_bytes: (e) => e.respondBytes(new TextEncoder().encode('plain text')),
  reject: (e) => e.reject('Policy.Denied', 'no tenant'),
  reject_default: (e) => e.reject('Policy.Denied'),
  describe: (e, ctx) => e.replace(describe(e, ctx)),
  reject_runner: (e) => e.reject('Runner.Timeout', 'x'),
  reject_empty: (e) => e.reject('', 'x'),
  reject_none: (e) => e.reject(),
  reject_newline: (e) => e.reject('Bad\\nType'),
  reject_message_object: (e) => e.reject('Policy.Denied', { why: 1 }),
  replace_bytes_str: (e) => e.replaceBytes('text'),
  replace_undefined: (e) => e.replace(undefined),
  return_object: () => ({ payload: 1 }),
  replace_bigint: (e) => e.replace({ n: 1n }),
  throw_key_error: () => { throw new Error('no tenant field'); },
};
const decide = (event, ctx) => decisions[event.headers['Test-Decision']](event, ctx);
ext.onRequest(decide);
ext.onResponse(async (event, ctx) => { await null; return decide(event, ctx); });
ext.run();
`;

const RAW_BYTES = Buffer.from([0, 255, 114, 97, 119]);

const requestEvent = (decision, fields = {}) => ({
  eventType: 'REQUEST', requestId: 'r1',
  headers: { 'Lambda-Runtime-Aws-Request-Id': 'r1', 'Test-Decision': decision },
  payload: { order: 7 }, ...fields,
});
const responseEvent = (decision, fields = {}) => ({
  eventType: 'RESPONSE', requestId: 'r1', status: 'success', headers: { 'Test-Decision': decision },
  payload: { ssn: '123' }, ...fields,
});
const streamedResponse = (decision, fields = {}) => {
  const event = responseEvent(decision, { streamed: true, bytes: 1048576, ...fields });
  delete event.payload;
  return event;
};

async function hookChild() {
  const child = new Child(HOOKS);
  assert.deepEqual(await child.start(), { ok: true, handles: ['REQUEST', 'RESPONSE'] });
  return child;
}

test('proxy hooks: each decision is the reply the host reads', async () => {
  const child = await hookChild();
  const ok = (result) => ({ result, errortype: '', invokeid: 'r1' });
  const rejected = {
    result: { errorType: 'Policy.Denied', errorMessage: 'no tenant' }, errortype: 'Policy.Denied', invokeid: 'r1', errors: true,
  };
  const cases = [
    ['none', requestEvent, ok(null)],
    ['none', responseEvent, ok(null)],
    ['null', requestEvent, ok(null)],
    ['forward', requestEvent, ok(null)],
    ['forward', responseEvent, ok(null)],
    ['replace', requestEvent, ok({ payload: { masked: true } })],
    ['replace', responseEvent, ok({ payload: { masked: true } })],
    ['replace_null', responseEvent, ok({ payload: null })],
    ['replace_bytes', requestEvent, ok({ payloadBase64: RAW_BYTES.toString('base64') })],
    ['replace_bytes', responseEvent, ok({ payloadBase64: RAW_BYTES.toString('base64') })],
    ['respond', requestEvent, ok({ respond: { answered: 1 } })],
    ['respond_bytes', requestEvent, ok({ respondBase64: Buffer.from('plain text').toString('base64') })],
    ['reject', requestEvent, rejected],
    ['reject', responseEvent, rejected],
    ['reject_default', requestEvent, { ...rejected, result: { errorType: 'Policy.Denied', errorMessage: 'rejected by the extension' } }],
    ['none', streamedResponse, ok(null)],
  ];
  for (const [decision, make, expected] of cases) {
    assert.deepEqual(await child.request('r1', make(decision)), expected, `${decision} on ${make.name}`);
  }
  assert.equal((await child.close()).code, 0);
});

test('proxy hooks: misuse and exceptions are a failed hook naming the mistake, and the child keeps serving', async () => {
  const child = await hookChild();
  const cases = [
    ['respond', responseEvent, 'ProxyDecisionError', 'REQUEST events only'],
    ['respond_bytes', responseEvent, 'ProxyDecisionError', 'REQUEST events only'],
    ['reject_runner', requestEvent, 'ProxyDecisionError', "'Runner.' are the host's own"],
    ['reject_runner', responseEvent, 'ProxyDecisionError', "'Runner.' are the host's own"],
    ['reject_empty', requestEvent, 'ProxyDecisionError', 'non-empty error type'],
    ['reject_none', requestEvent, 'ProxyDecisionError', 'non-empty error type'],
    ['reject_newline', requestEvent, 'ProxyDecisionError', 'control characters'],
    ['reject_message_object', requestEvent, 'ProxyDecisionError', 'message as a string'],
    ['replace_bytes_str', requestEvent, 'ProxyDecisionError', 'not string'],
    ['replace_undefined', requestEvent, 'ProxyDecisionError', 'got undefined'],
    ['replace', streamedResponse, 'ProxyDecisionError', 'already forwarded'],
    ['reject', streamedResponse, 'ProxyDecisionError', 'already forwarded'],
    ['return_object', requestEvent, 'TypeError', 'returned Object'],
    ['replace_bigint', responseEvent, 'TypeError', 'BigInt'],
    ['throw_key_error', requestEvent, 'Error', 'no tenant field'],
    ['throw_key_error', responseEvent, 'Error', 'no tenant field'],
  ];
  for (const [decision, make, errortype, message] of cases) {
    const reply = await child.request('r1', make(decision));
    const what = `${decision} on ${make.name}`;
    // Thrown in a hook: a failed hook for the host (its fail policy), never a rejection
    // named after the exception.
    assert.equal(reply.errors, true, what);
    assert.equal(reply.errortype, 'Runner.HookFailed', what);
    assert.ok(reply.result.errorMessage.startsWith(`${errortype}: `), `${what}: ${reply.result.errorMessage}`);
    assert.ok(reply.result.errorMessage.includes(message), `${what}: ${reply.result.errorMessage}`);
  }
  assert.deepEqual(await child.request('r1', requestEvent('none')), { result: null, errortype: '', invokeid: 'r1' });
  assert.equal((await child.close()).code, 0);
});

test('proxy hooks: what the hook sees (JSON, bytes, /error, JSON null, streamed)', async () => {
  const child = await hookChild();
  const withoutPayload = ({ payload, ...rest }) => rest;
  const cases = [
    ['a JSON event, with its context', requestEvent('describe'), { client_context: { custom: { tenant: 't1' } } },
      { type: 'REQUEST', json: true, payload: { order: 7 }, bytesB64: null, status: null, request: true,
        response: false, streamed: false, size: null, clientContext: { custom: { tenant: 't1' } } }],
    ['a body that is not JSON', { ...withoutPayload(requestEvent('describe')), payloadBase64: RAW_BYTES.toString('base64') }, {},
      { json: false, payload: null, bytesB64: RAW_BYTES.toString('base64') }],
    ['an /error response', responseEvent('describe', { status: 'error', errorType: 'Function.Unhandled', payload: { errorMessage: 'boom' } }), {},
      { type: 'RESPONSE', status: 'error', errorType: 'Function.Unhandled', payload: { errorMessage: 'boom' }, request: false, response: true }],
    ['a JSON null response', responseEvent('describe', { payload: null }), {}, { json: true, payload: null, bytesB64: null }],
  ];
  for (const [what, event, context, expected] of cases) {
    const reply = await child.request('r1', event, context);
    assert.equal('errors' in reply, false, what);
    const seen = reply.result.payload;
    assert.equal(seen.id, 'r1', what);
    assert.equal(seen.ctxId, 'r1', what);
    assert.equal(seen.headers['Test-Decision'], 'describe', what);
    for (const [k, v] of Object.entries(expected)) assert.deepEqual(seen[k], v, `${what}: ${k}`);
  }
  // A streamed response: no payload, its size and prelude, and nothing left to decide.
  const streamed = streamedResponse('none', { status: 'error', errorType: 'Function.Stream', prelude: { statusCode: 201 } });
  assert.deepEqual((await child.request('r1', streamed)).result, null);
  const replaced = await child.request('r1', { ...streamed, headers: { 'Test-Decision': 'replace' } });
  assert.equal(replaced.errortype, 'Runner.HookFailed');
  assert.match(replaced.result.errorMessage, /^ProxyDecisionError: /);
  assert.match(replaced.result.errorMessage, /streamed response r1 was already forwarded/);
  assert.equal((await child.close()).code, 0);
});

test('ProxyEvent: a streamed response has no payload; bad base64 is a clear error', () => {
  const event = new er.ProxyEvent({
    eventType: 'RESPONSE', requestId: 'r9', status: 'success', streamed: true, bytes: 209715200,
    prelude: { statusCode: 200 }, headers: { A: '1', B: 2 },
  });
  assert.equal(event.streamed, true);
  assert.equal(event.bytes, 209715200);
  assert.deepEqual(event.prelude, { statusCode: 200 });
  assert.equal(event.payload, null);
  assert.equal(event.payloadBytes, null);
  assert.equal(event.isJson, false);
  assert.deepEqual(event.headers, { A: '1' });
  assert.throws(() => new er.ProxyEvent({ eventType: 'REQUEST', requestId: 'r', payloadBase64: '%%%' }), /not base64/);
});

test('proxy hooks: with only onEvent, a REQUEST arrives as the raw event', async () => {
  const child = new Child(`
const { Extension } = require(SDK);
const ext = new Extension();
ext.onEvent((event) => ({ raw: event }));
ext.run();
`);
  // '*': the catch-all takes every event, so the host still asks the proxy hooks.
  assert.deepEqual(await child.start(), { ok: true, handles: ['*'] });
  const event = requestEvent('none');
  assert.deepEqual((await child.request('r1', event)).result, { raw: event });
  assert.equal((await child.close()).code, 0);
});

test('send: a kept-open connection the endpoint closed is replaced once, unseen by the function', async () => {
  // The endpoint drops its first connection at the second request, unanswered: what a
  // connection closed while idle looks like when the close crosses the next request.
  const http = require('node:http');
  const perSocket = new Map();
  const server = http.createServer((req, res) => {
    const n = (perSocket.get(req.socket) || 0) + 1;
    perSocket.set(req.socket, n);
    if (n === 2 && perSocket.size === 1) { req.socket.destroy(); return; }
    req.resume();
    req.on('end', () => { res.writeHead(202, { 'Content-Length': '0' }); res.end(); });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const saved = process.env[er.MESSAGES_URL_ENV];
  process.env[er.MESSAGES_URL_ENV] = `http://127.0.0.1:${server.address().port}/v1/messages`;
  const stderr = capturingStderr();
  try {
    const patient = { timeoutMs: kPatientMs };
    assert.equal(await er.send({ n: 1 }, patient), true);
    assert.equal(await er.send({ n: 2 }, patient), true);  // reused, dropped, retried anew
    assert.equal(await er.send({ n: 3 }, patient), true);  // that new connection, kept
  } finally {
    stderr.restore();
    if (saved === undefined) delete process.env[er.MESSAGES_URL_ENV];
    else process.env[er.MESSAGES_URL_ENV] = saved;
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  assert.deepEqual([...perSocket.values()], [2, 2]);
  assert.deepEqual(stderr.lines, []);
});

test('send: the kept-open connection never keeps the function process alive', { timeout: 30000 }, async () => {
  // An endpoint that keeps every connection open for as long as the test runs.
  const net = require('node:net');
  const sockets = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('data', () => socket.write('HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n'));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  try {
    const child = spawn(process.execPath, ['-e',
      `require(${JSON.stringify(SDK)}).send({ n: 1 }).then((ok) => console.log(ok));`], {
      env: { ...process.env, [er.MESSAGES_URL_ENV]: `http://127.0.0.1:${server.address().port}/v1/messages` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    const code = await new Promise((resolve) => child.on('close', resolve));
    assert.equal(code, 0);
    assert.equal(out.trim(), 'true');
    assert.equal(sockets.length, 1);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((r) => server.close(r));
  }
});
