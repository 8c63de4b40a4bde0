#!/usr/bin/env node
// extension-runner child runtime (runner protocol v1, docs/runner-protocol.md), stdlib only.
// EXTENSION_RUNNER_HANDLER="file.function" loads a handler from EXTENSION_RUNNER_HANDLER_DIR
// (default: the current directory); without it a built-in echo handler answers.
'use strict';
const fs = require('fs');
const path = require('path');
const readline = require('readline');

// The protocol gets its own (blocking) handle on the original stdout pipe; console.log and
// process.stdout.write go to stderr, so user prints cannot corrupt the stream.
const proto = fs.openSync('/proc/self/fd/1', 'w');
const send = (message) => {
  const bytes = Buffer.from(JSON.stringify(message) + '\n');
  for (let off = 0; off < bytes.length;) off += fs.writeSync(proto, bytes, off);
};
process.stdout.write = process.stderr.write.bind(process.stderr);
console.log = console.error;

const echo = async (event, context) => {
  console.log('echo handler got', event.eventType, context.aws_request_id);
  return { eventType: event.eventType ?? null, requestId: event.requestId ?? null };
};

function load(spec) {
  if (!spec) return echo;
  const dot = spec.lastIndexOf('.');
  const dir = process.env.EXTENSION_RUNNER_HANDLER_DIR || process.cwd();
  return require(path.resolve(dir, spec.slice(0, dot)))[spec.slice(dot + 1)];
}

let handler = null;
let startup = {};
const lines = readline.createInterface({ input: process.stdin, terminal: false });
// One request in flight at a time: handle lines strictly in order.
let chain = Promise.resolve();
lines.on('line', (line) => { chain = chain.then(() => onLine(JSON.parse(line))); });

async function onLine(message) {
  if (handler === null) {
    startup = message;
    try {
      handler = load(message.handler || process.env.EXTENSION_RUNNER_HANDLER || '');
      if (typeof handler !== 'function') throw new Error(`${message.handler} is not a function`);
    } catch (e) {
      send({ ok: false, error: `cannot load handler: ${e.message}` });
      process.exit(1);
    }
    return send({ ok: true });
  }
  // function: the Register answer; platform: 'lambda' or 'managed-instances' (no INVOKE there).
  const context = {
    ...message.context, deadline: message.deadline,
    function: startup.function ?? {}, platform: startup.platform ?? 'lambda',
  };
  const reply = { result: null, errortype: '', invokeid: context.aws_request_id };
  try {
    reply.result = (await handler(message.event, context)) ?? null;
  } catch (e) {
    console.error(e);
    Object.assign(reply, { result: { errorMessage: String(e.message) }, errortype: e.name, errors: true });
  }
  send(reply);
}
