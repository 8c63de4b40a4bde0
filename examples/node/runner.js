#!/usr/bin/env node
// extension-runner child runtime: a generic handler host on the Node.js SDK (docs/sdk.md).
// EXTENSION_RUNNER_HANDLER="file.function" loads a handler from EXTENSION_RUNNER_HANDLER_DIR
// (default: the current directory); without it a built-in echo handler answers. The handler is
// called as handler(event, context) for every event, context being the protocol's context
// object plus `deadline`, `function` (the Register answer) and `platform` ('lambda' or
// 'managed-instances', where no INVOKE ever comes). extension-runner.js (the SDK) sits next to this file.
'use strict';
const path = require('path');
const { Extension } = require('./extension-runner.js');

const echo = async (event, context) => {
  console.log('echo handler got', event.eventType, context.aws_request_id);
  return { eventType: event.eventType ?? null, requestId: event.requestId ?? null };
};

let handler = null;
const ext = new Extension();
ext.onStart((startup) => {
  const spec = startup.handler || process.env.EXTENSION_RUNNER_HANDLER || '';
  if (!spec) return void (handler = echo);
  const dot = spec.lastIndexOf('.');
  const dir = process.env.EXTENSION_RUNNER_HANDLER_DIR || process.cwd();
  try {
    handler = require(path.resolve(dir, spec.slice(0, dot)))[spec.slice(dot + 1)];
    if (typeof handler !== 'function') throw new Error(`${spec} is not a function`);
  } catch (e) {
    throw new Error(`cannot load handler: ${e.message}`);
  }
});
ext.onEvent((event, ctx) => handler(event && typeof event === 'object' ? event : {}, ctx.asObject()));
ext.run();
