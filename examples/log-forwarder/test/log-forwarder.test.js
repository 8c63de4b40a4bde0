// Tests of examples/log-forwarder: the batching/retry logic with a fake transport, and the
// extension end to end under `extension-runner emulate --telemetry` (standard and
// Managed-Instances modes) against a local HTTP endpoint on 127.0.0.1 port 0, which must
// receive every function record exactly once. ER_BINARY names the binary under test (default:
// build/bin/extension-runner). Expected records come from the scenario file the test writes.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');

const HERE = path.resolve(__dirname, '..');
const ROOT = path.resolve(HERE, '..', '..');
const { Forwarder, readConfig } = require(path.join(HERE, 'log-forwarder.js'));

const binary = () =>
  process.env.ER_BINARY || process.env.ER_DEFAULT_BINARY || path.join(ROOT, 'build', 'bin', 'extension-runner');
const rec = (type, record) => ({ time: '2026-03-01T12:00:00.000Z', type, record });
const config = (over = {}) => ({ ...readConfig({ LOG_FORWARDER_URL: 'http://127.0.0.1:1/' }), ...over });

test('readConfig: defaults and refusals', () => {
  const c = readConfig({ LOG_FORWARDER_URL: 'http://127.0.0.1:9/logs' });
  assert.deepEqual([c.url.href, c.batch, c.retries, c.timeoutMs, c.flushMs, c.maxBuffer],
    ['http://127.0.0.1:9/logs', 500, 3, 2000, 1000, 10000]);
  const bad = [
    [{}, /LOG_FORWARDER_URL is not set/],
    [{ LOG_FORWARDER_URL: 'nope' }, /not a URL/],
    [{ LOG_FORWARDER_URL: 'ftp://x/' }, /must be http/],
    [{ LOG_FORWARDER_URL: 'http://x/', LOG_FORWARDER_BATCH: '0' }, /LOG_FORWARDER_BATCH must be an integer >= 1/],
    [{ LOG_FORWARDER_URL: 'http://x/', LOG_FORWARDER_RETRIES: '-1' }, /LOG_FORWARDER_RETRIES/],
    [{ LOG_FORWARDER_URL: 'http://x/', LOG_FORWARDER_TIMEOUT_MS: '1.5' }, /LOG_FORWARDER_TIMEOUT_MS/],
  ];
  for (const [env, message] of bad) assert.throws(() => readConfig(env), message);
});

/** A fake transport answering from a list of statuses (or Errors), recording each body. */
function fakeSend(answers) {
  const calls = [];
  const send = async (url, body, headers) => {
    calls.push({ body, key: headers['Idempotency-Key'] });
    const a = answers.length > 1 ? answers.shift() : answers[0];
    if (a instanceof Error) throw a;
    return a;
  };
  return { send, calls };
}

const records = (n, requestId = 'r1') => [
  rec('platform.start', { requestId }),
  ...Array.from({ length: n }, (_, i) => rec('function', `line ${i}`)),
  rec('platform.runtimeDone', { requestId }),
];

test('Forwarder: batches of the configured size, NDJSON lines with the request id', async () => {
  const { send, calls } = fakeSend([200]);
  const f = new Forwarder(config({ batch: 2 }), { send });
  f.add(records(5), 'lambda');
  f.add([rec('extension', 'not a function record')], 'lambda');
  assert.equal(await f.flush(Date.now() + 10000), true);
  assert.deepEqual(calls.map((c) => c.body.trim().split('\n').length), [2, 2, 1]);
  const lines = calls.flatMap((c) => c.body.trim().split('\n').map((l) => JSON.parse(l)));
  assert.deepEqual(lines.map((l) => [l.requestId, l.message, l.record, l.type]),
    Array.from({ length: 5 }, (_, i) => ['r1', `line ${i}`, `line ${i}`, 'function']));
  assert.match(f.summary(), /received 5 records, sent 5 in 3 batches, unsent 0 /);
});

test('Forwarder: a retryable failure is retried with the same idempotency key', async () => {
  const { send, calls } = fakeSend([503, new Error('ECONNRESET'), 200]);
  const f = new Forwarder(config({ retries: 3 }), { send });
  f.add(records(3), 'lambda');
  assert.equal(await f.flush(Date.now() + 10000), true);
  assert.equal(calls.length, 3);
  assert.equal(new Set(calls.map((c) => c.key)).size, 1);
  assert.match(f.summary(), /sent 3 in 1 batches, unsent 0 .*2 failed POSTs/);
});

test('Forwarder: bounded retries; unsent records stay buffered and are counted', async () => {
  const cases = [
    [[500], 2, 3], // retryable: 1 + 2 retries
    [[400], 2, 1], // not retryable: no retry
  ];
  for (const [answers, retries, posts] of cases) {
    const { send, calls } = fakeSend(answers);
    const f = new Forwarder(config({ retries }), { send });
    f.add(records(4), 'lambda');
    assert.equal(await f.flush(Date.now() + 10000), false);
    assert.equal(calls.length, posts);
    assert.equal(f.buffer.length, 4);
    assert.match(f.summary(), new RegExp(`received 4 records, sent 0 in 0 batches, unsent 4 \\(4 after retries, 0 over the buffer limit\\), ${posts} failed POSTs, last error: HTTP ${answers[0]}`));
  }
});

test('Forwarder: the buffer bound counts what does not fit; a passed deadline sends nothing', async () => {
  const { send, calls } = fakeSend([200]);
  const f = new Forwarder(config({ maxBuffer: 3 }), { send });
  f.add(records(5), 'lambda');
  assert.equal(await f.flush(Date.now() - 1), false);
  assert.equal(calls.length, 0);
  assert.match(f.summary(), /received 5 records, sent 0 in 0 batches, unsent 5 \(3 after retries, 2 over the buffer limit\)/);
});

test('Forwarder: kick() starts one background flush and never waits for it', async () => {
  // Each POST stays unanswered until the test answers it.
  const calls = [];
  const answers = [];
  const send = (url, body) => {
    calls.push(body);
    return new Promise((resolve) => answers.push(resolve));
  };
  const tick = () => new Promise((resolve) => setImmediate(resolve));
  const f = new Forwarder(config(), { send });
  assert.equal(f.kick(), null, 'an empty buffer starts nothing');
  f.add(records(2), 'lambda');
  const started = Date.now();
  const flushing = f.kick();
  assert.ok(flushing instanceof Promise);
  assert.ok(Date.now() - started < 50, 'kick() returned before the POST was answered');
  f.add(records(1), 'lambda');
  assert.equal(f.kick(), flushing, 'a second kick joins the flush in progress');
  await tick();
  assert.equal(calls.length, 1, 'one POST at a time');
  answers[0](200);
  await tick();
  assert.equal(calls.length, 2, 'the record added meanwhile goes in the same flush');
  answers[1](200);
  assert.equal(await flushing, true);
  assert.equal(f.sending, null);
  assert.match(f.summary(), /received 3 records, sent 3 /);
});

test('Forwarder: after a batch fails for good, no background flush for a flush interval', async () => {
  const { send, calls } = fakeSend([500]);
  const f = new Forwarder(config({ retries: 0, flushMs: 60000 }), { send });
  f.add(records(1), 'lambda');
  assert.equal(await f.kick(), false);
  assert.equal(calls.length, 1);
  assert.equal(f.kick(), null, 'paused');
  assert.equal(calls.length, 1);
  // SHUTDOWN still tries: drain ignores the pause.
  assert.equal(await f.drain(Date.now() + 5000), false);
  assert.equal(calls.length, 2);
});

test('Forwarder: drain() waits for the background flush, but not past its deadline', async () => {
  const cases = [
    // [the POST answers after ms, drain deadline in ms, drain result, records sent]
    [10, 5000, true, 2],
    [5000, 50, false, 0],
  ];
  for (const [answerMs, deadlineMs, result, sent] of cases) {
    const send = () => new Promise((resolve) => setTimeout(() => resolve(200), answerMs).unref());
    const f = new Forwarder(config(), { send });
    f.add(records(2), 'lambda');
    f.kick();
    const started = Date.now();
    assert.equal(await f.drain(Date.now() + deadlineMs), result);
    assert.ok(Date.now() - started < deadlineMs + 1000);
    assert.equal(f.counts.sent, sent);
  }
});

test('Forwarder: due() by size and by age', () => {
  const f = new Forwarder(config({ batch: 3, flushMs: 60000 }), { send: fakeSend([200]).send });
  f.add(records(2), 'lambda');
  assert.equal(f.due(), false);
  f.add(records(1), 'lambda');
  assert.equal(f.due(), true);
  const g = new Forwarder(config({ batch: 100, flushMs: 0 }), { send: fakeSend([200]).send });
  assert.equal(g.due(), false);
  g.add(records(1), 'lambda');
  assert.equal(g.due(), true);
});

// ---------------------------------------------------------------------------------------------
// End to end under emulate
// ---------------------------------------------------------------------------------------------

/** A local NDJSON endpoint: answers each POST from `statuses` (last one repeats). */
async function endpoint(statuses = [200]) {
  const received = [];
  const posts = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const status = statuses.length > 1 ? statuses.shift() : statuses[0];
      posts.push({ status, type: req.headers['content-type'], key: req.headers['idempotency-key'] });
      if (status === 200) for (const l of body.split('\n')) if (l) received.push(JSON.parse(l));
      res.writeHead(status).end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}/ingest`, received, posts, close: () => server.close() };
}

function emulate(args, env, { bufferTimeoutMs = 100 } = {}) {
  return new Promise((resolve) => {
    // --buffer-timeout-ms=100: the emulator drops a batch that becomes ready while a POST is
    // still pending, as the platform does; on a starved test machine a POST can outlast the
    // default 25 ms, and these tests count every record.
    const child = spawn(binary(), ['emulate', '--json', '--telemetry', `--buffer-timeout-ms=${bufferTimeoutMs}`, ...args,
      '--runtime', `exec ${process.execPath} ${path.join(HERE, 'log-forwarder.js')}`], {
      env: { ...process.env, AWS_LAMBDA_RUNTIME_API: '', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const SCENARIO_LOGS = ['line one', { level: 'INFO', message: 'line two' }, 'line three'];
const messageOf = (log) => (typeof log === 'string' ? log : log.message);

function scenario(dir, fields) {
  const file = path.join(dir, 'scenario.json');
  fs.writeFileSync(file, JSON.stringify({ logs: SCENARIO_LOGS, ...fields }));
  return file;
}

/** Request ids of the invocations, from the trace (INVOKE events, or LMI request lines). */
function invocationIds(stdout) {
  const ids = [];
  for (const line of stdout.split('\n')) {
    if (!line) continue;
    const t = JSON.parse(line);
    if (t.what === 'next' && t.detail.startsWith('INVOKE ')) ids.push(t.detail.split(' ')[1]);
    const m = t.what === 'request' && /^([0-9a-f-]{36}):/.exec(t.detail);
    if (m) ids.push(m[1]);
  }
  return [...new Set(ids)];
}

const skipWithoutBinary = () => !fs.existsSync(binary()) && `no extension-runner binary at ${binary()}`;

for (const [mode, args, invokes] of [['standard', [], 3], ['managed-instances', ['--managed-instances'], 4]]) {
  test(`emulate (${mode}): the endpoint receives every function record exactly once`, { skip: skipWithoutBinary() }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'er-logfwd-'));
    const server = await endpoint([200]);
    try {
      const run = await emulate([...args, '--invokes', String(invokes), '--scenario', scenario(dir, {})],
        { LOG_FORWARDER_URL: server.url, LOG_FORWARDER_BATCH: '2' });
      assert.equal(run.code, 0, run.stderr.slice(-3000));
      const ids = invocationIds(run.stdout);
      assert.equal(new Set(ids).size, invokes);
      const expected = ids.flatMap((id) => SCENARIO_LOGS.map((log) => `${id} ${messageOf(log)}`)).sort();
      const got = server.received.map((r) => `${r.requestId} ${r.message}`).sort();
      assert.deepEqual(got, expected);
      assert.ok(server.posts.every((p) => p.type === 'application/x-ndjson'));
      assert.ok(server.posts.length >= Math.ceil(expected.length / 2));
      const n = expected.length;
      assert.match(run.stderr, new RegExp(`log-forwarder: received ${n} records, sent ${n} in \\d+ batches, unsent 0 `));
    } finally {
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('emulate: a refused POST is retried and still delivers each record once', { skip: skipWithoutBinary() }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'er-logfwd-'));
  const server = await endpoint([503, 200]);
  try {
    const run = await emulate(['--invokes', '2', '--scenario', scenario(dir, {})], { LOG_FORWARDER_URL: server.url });
    assert.equal(run.code, 0, run.stderr.slice(-3000));
    const ids = invocationIds(run.stdout);
    const expected = ids.flatMap((id) => SCENARIO_LOGS.map((log) => `${id} ${messageOf(log)}`)).sort();
    assert.deepEqual(server.received.map((r) => `${r.requestId} ${r.message}`).sort(), expected);
    assert.equal(server.posts[0].status, 503);
    assert.equal(server.posts[1].key, server.posts[0].key, 'the retry carries the same idempotency key');
    assert.match(run.stderr, /unsent 0 .*1 failed POSTs, last error: HTTP 503/);
  } finally {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('emulate: an endpoint that always fails: every record is counted in the last log line', { skip: skipWithoutBinary() }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'er-logfwd-'));
  const server = await endpoint([500]);
  try {
    const run = await emulate(['--invokes', '2', '--scenario', scenario(dir, {})],
      { LOG_FORWARDER_URL: server.url, LOG_FORWARDER_RETRIES: '1' });
    assert.equal(run.code, 0, run.stderr.slice(-3000));
    const n = 2 * SCENARIO_LOGS.length;
    assert.equal(server.received.length, 0);
    assert.match(run.stderr, new RegExp(`log-forwarder: received ${n} records, sent 0 in 0 batches, unsent ${n} \\(${n} after retries, 0 over the buffer limit\\), \\d+ failed POSTs, last error: HTTP 500`));
  } finally {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** The summary line of an `emulate --json` trace. */
const summaryOf = (stdout) => stdout.split('\n').filter((l) => l.includes('"what":"summary"')).map((l) => JSON.parse(l))[0];

// A failing endpoint must not hold the extension's /next: nothing waits for a POST but SHUTDOWN.
// Bound: the first retry alone backs off 100 ms, so a p50 under it means no retry was on the
// path; what remains is the host's own wait for platform.runtimeDone under the default flush
// (about buffering.timeoutMs, 25 ms by default), and none under periodic.
for (const flush of [[], ['--flush', 'periodic']]) {
  const name = flush.length ? flush[1] : 'the default';
  test(`emulate: an endpoint answering 500 adds no post-runtime time (flush ${name})`, { skip: skipWithoutBinary() }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'er-logfwd-'));
    const server = await endpoint([500]);
    try {
      const run = await emulate([...flush, '--scenario', scenario(dir, { invokes: 6, spacingMs: 50, durationMs: 5 })],
        { LOG_FORWARDER_URL: server.url }, { bufferTimeoutMs: 25 });
      assert.equal(run.code, 0, run.stderr.slice(-3000));
      const summary = summaryOf(run.stdout);
      assert.equal(summary.post_runtime_ms.count, 6);
      assert.ok(summary.post_runtime_ms.p50 < 100, `post-runtime p50 ${summary.post_runtime_ms.p50} ms`);
      assert.ok(server.posts.length > 0, 'the endpoint was tried');
      assert.ok(server.posts.every((p) => p.status === 500));
      // Retries are bounded: one flush of 1 + 3 POSTs, then at most one flush per flush interval
      // (the run is far shorter than a few of them) and SHUTDOWN's.
      assert.ok(server.posts.length <= 4 * 4, `${server.posts.length} POSTs`);
      const last = /log-forwarder: received (\d+) records, sent 0 in 0 batches, unsent (\d+) /.exec(run.stderr);
      assert.ok(last, run.stderr.slice(-2000));
      assert.equal(last[2], last[1], 'every record received is counted as unsent');
      assert.ok(Number(last[1]) > 0);
    } finally {
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('emulate: without LOG_FORWARDER_URL the extension fails its start (on-failure report)', { skip: skipWithoutBinary() }, async () => {
  const run = await emulate([], { LOG_FORWARDER_URL: '', EXTENSION_RUNNER_ON_FAILURE: 'report' });
  assert.notEqual(run.code, 0);
  assert.match(run.stdout + run.stderr, /LOG_FORWARDER_URL is not set/);
});
