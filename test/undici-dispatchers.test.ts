/**
 * The worker loads only undici's dispatcher classes (a fast start), and they
 * are the very classes undici's public index exports, with its API methods
 * installed: an undici upgrade that moves those files fails here, not in a
 * host's worker. The worker bundle loads them with require(), as CommonJS,
 * without Node's ES module loader (scripts/build.mjs says why).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import type * as Undici from 'undici';
import { loadDispatcherClasses } from '../src/provider/http/undici-dispatchers.ts';
import { codeUrl, defaultWorkerEntry, TS_LOADER } from './helpers/checkout.ts';

const require = createRequire(import.meta.url);
const parts = await loadDispatcherClasses();

test('the dispatcher classes come from their own files, not the whole package', () => {
  assert.equal(parts.loadedFrom, 'parts');
});

test('they are the classes undici exports, with its API methods on Dispatcher.prototype', () => {
  const undici = require('undici') as typeof Undici;
  assert.equal(parts.Agent, undici.Agent);
  assert.equal(parts.ProxyAgent, undici.ProxyAgent);
  assert.equal(parts.EnvHttpProxyAgent, undici.EnvHttpProxyAgent);
  assert.equal(parts.Dispatcher, undici.Dispatcher);
  // ProxyAgent tunnels with Client#connect: index.js puts it there, and so must the parts.
  for (const method of ['request', 'stream', 'pipeline', 'upgrade', 'connect'] as const) {
    assert.equal(typeof parts.Dispatcher.prototype[method], 'function', method);
  }
});

test('loading them leaves the rest of undici, and Node\'s own bundled undici, unloaded', () => {
  // A fresh process: this one has loaded the whole package above.
  const script = `
    const { createRequire } = await import('node:module');
    const m = await (await import(${JSON.stringify(codeUrl('src/provider/http/undici-dispatchers.ts'))})).loadDispatcherClasses();
    const cache = Object.keys(createRequire(import.meta.url).cache);
    console.log(JSON.stringify({
      loadedFrom: m.loadedFrom,
      index: cache.some((p) => /undici[\\\\/]index\\.js$/.test(p)),
      fetch: cache.some((p) => /undici[\\\\/]lib[\\\\/]web[\\\\/]fetch[\\\\/]index\\.js$/.test(p)),
      files: cache.filter((p) => /undici/.test(p)).length,
      nodeUndici: process.moduleLoadList.some((m) => m.includes('deps/undici')),
    }));
  `;
  const out = execFileSync(process.execPath, [...TS_LOADER, '--input-type=module', '-e', script], { encoding: 'utf8' });
  const seen = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
  assert.equal(seen.loadedFrom, 'parts');
  assert.equal(seen.index, false, 'undici/index.js was loaded');
  assert.equal(seen.fetch, false, "undici's fetch was loaded");
  assert.equal(seen.nodeUndici, false, "Node's bundled undici was loaded");
  assert.ok((seen.files as number) > 0, 'undici files were loaded at all');
});

test('the worker bundle is CommonJS and require()s them: no import(), no ES module syntax', () => {
  // The bundle this process's runtimes start (the compiled one under npm test), built with scripts/worker-bundle.json as dist/ is.
  const entry = defaultWorkerEntry();
  assert.match(entry, /\.cjs$/, 'its extension says CommonJS wherever it is copied');
  const code = readFileSync(entry, 'utf8');
  for (const part of ['dispatcher/dispatcher.js', 'dispatcher/agent.js', 'dispatcher/proxy-agent.js', 'dispatcher/env-http-proxy-agent.js', 'api/index.js']) {
    assert.ok(code.includes(`require("undici/lib/${part}")`), `undici/lib/${part} is loaded with require()`);
  }
  assert.doesNotMatch(code, /\bimport\s*\(/, 'an import() would set up the ES module loader in every worker');
  assert.doesNotMatch(code, /^\s*(import|export)\s/m, 'ES module syntax');
  // piscina and ES module importers take the module's exports as the task function.
  assert.match(code, /module\.exports = module\.exports\.default;\s*(\/\/# sourceMappingURL=\S+\s*)?$/);
});
