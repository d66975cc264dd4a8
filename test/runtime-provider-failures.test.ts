/**
 * Every way a provider can fail a call, on each of the three protocols, for
 * chat() and stream(): the error code the contract names, a stream that never
 * ends with 'done', and a runtime that keeps serving afterwards.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRuntime, ParleyError, type Runtime } from '../src/index.ts';
import { type ModelServer } from '../src/testing/index.ts';
import { waitFor } from './helpers/wait-for.ts';
import {
  PROTOCOLS,
  TEST_RUNTIME_DEFAULTS,
  ask,
  assertCode,
  closedPort,
  rejectsWith,
  startStack,
  streamFailure,
  withStack,
  type Stack,
} from './helpers/fixtures.ts';
import { testWorkers } from './helpers/workers-mode.ts';

describe('provider failures of a running runtime', () => {
  let stack: Stack;
  let server: ModelServer;
  let rt: Runtime;
  before(async () => {
    stack = await startStack({}, () => ({ maxRetries: 0 }));
    ({ server, rt } = stack);
  });
  after(() => stack.close());

  for (const kind of PROTOCOLS) {
    test(`HTTP (${kind}): a 400 keeps its status and the provider's message, and is not retryable`, async () => {
      server.injectFault({ kind: 'status', status: 400, message: 'temperature is out of range' }, 2);
      const err = await rejectsWith(rt.chat(ask('a', { provider: kind })), 'HTTP');
      assert.equal(err.status, 400);
      assert.equal(err.provider, kind);
      assert.equal(err.retryable, false);
      // The contract: an HTTP error carries what the provider said.
      assert.ok(err.message.includes('temperature is out of range'), err.message);
      const { error } = await streamFailure(() => rt.stream(ask('a', { provider: kind })));
      assertCode(error, 'HTTP');
      assert.equal(error.status, 400);
    });

    test(`PROVIDER (${kind}): an error inside a 2xx stream or body`, async () => {
      server.injectFault({ kind: 'stream-error', message: 'model overloaded' }, 2);
      const { events, error } = await streamFailure(() => rt.stream(ask('a', { provider: kind })));
      assertCode(error, 'PROVIDER');
      assert.ok(!events.some((e) => e.type === 'done'));
      await rejectsWith(rt.chat(ask('a', { provider: kind })), 'PROVIDER');
    });

    test(`BAD_RESPONSE (${kind}): a malformed body or stream chunk`, async () => {
      server.injectFault({ kind: 'malformed' }, 2);
      await rejectsWith(rt.chat(ask('a', { provider: kind })), 'BAD_RESPONSE');
      const { events, error } = await streamFailure(() => rt.stream(ask('a', { provider: kind })));
      assertCode(error, 'BAD_RESPONSE');
      assert.ok(!events.some((e) => e.type === 'done'));
    });

    test(`INCOMPLETE (${kind}): a stream cut short without its end marker throws, never a done event`, async () => {
      server.injectFault({ kind: 'truncate', afterTokens: 3 });
      const { events, error } = await streamFailure(() => rt.stream(ask('a', { provider: kind })));
      assertCode(error, 'INCOMPLETE');
      assert.ok(events.some((e) => e.type === 'text'), 'the stream had started');
      assert.ok(!events.some((e) => e.type === 'done'));
    });

    test(`a truncated non-stream body (${kind}) is an error, not a result`, async () => {
      server.injectFault({ kind: 'truncate' });
      await assert.rejects(rt.chat(ask('a', { provider: kind })), (err: unknown) => {
        assert.ok(err instanceof ParleyError);
        assert.ok(['BAD_RESPONSE', 'INCOMPLETE'].includes(err.code), err.code);
        return true;
      });
    });

    test(`CONNECTION (${kind}): a reset after the headers`, async () => {
      server.setFault({ kind: 'reset', afterTokens: 2 });
      try {
        const { events, error } = await streamFailure(() => rt.stream(ask('a', { provider: kind })));
        assertCode(error, 'CONNECTION');
        assert.ok(!events.some((e) => e.type === 'done'));
        await rejectsWith(rt.chat(ask('a', { provider: kind })), 'CONNECTION');
      } finally {
        server.setFault(undefined);
      }
      assert.ok((await rt.chat(ask('after the reset', { provider: kind }))).content.length > 0);
    });
  }

  test('CONNECTION: the connection is dropped before the headers', async () => {
    server.setFault({ kind: 'slow-headers', delayMs: 30_000 });
    try {
      const served = server.stats().requestsServed;
      const call = rt.chat(ask('a'));
      let settled = false;
      call.catch(() => undefined).finally(() => (settled = true));
      // A drop on a reused keep-alive socket may be taken for a stale one and
      // retried once at once; on a new socket it is final (maxRetries is 0).
      for (let n = 1; n <= 2; n++) {
        await waitFor(() => settled || server.stats().requestsServed >= served + n, { what: `request ${n} arrived` });
        if (settled) break;
        server.dropConnections();
      }
      await rejectsWith(call, 'CONNECTION');
    } finally {
      server.setFault(undefined);
    }
  });

  test('TOO_LARGE: a response past maxResponseBytes fails, and the runtime keeps serving', async () => {
    await withStack({}, () => ({ maxResponseBytes: 16 * 1024, maxRetries: 0 }), async ({ server: s, rt: r }) => {
      for (const kind of PROTOCOLS) {
        s.injectFault({ kind: 'oversized', bytes: 256 * 1024 }, 2);
        await rejectsWith(r.chat(ask('a', { provider: kind })), 'TOO_LARGE');
        const { error } = await streamFailure(() => r.stream(ask('a', { provider: kind })));
        assertCode(error, 'TOO_LARGE');
        assert.ok((await r.chat(ask('still serving', { provider: kind }))).content.length > 0);
      }
      const stats = await r.stats();
      assert.equal(stats.inFlight, 0);
      assert.equal(stats.restarts, 0);
    });
  });
});

describe('UNREACHABLE', () => {
  test('a port with nothing listening', async () => {
    const port = await closedPort();
    const rt = await createRuntime({
      workers: testWorkers,
      providers: { gone: { kind: 'openai', baseUrl: `http://127.0.0.1:${port}/v1` } },
      ...TEST_RUNTIME_DEFAULTS,
      maxRetries: 0,
    });
    try {
      const err = await rejectsWith(rt.chat(ask('a')), 'UNREACHABLE');
      assert.equal(err.provider, 'gone');
      assertCode((await streamFailure(() => rt.stream(ask('a')))).error, 'UNREACHABLE');
      await rejectsWith(rt.models(), 'UNREACHABLE');
    } finally {
      await rt.shutdown();
    }
  });

  test('a server that refuses connections, then serves again', async () => {
    await withStack({}, () => ({ maxRetries: 0 }), async ({ server, rt }) => {
      for (const kind of PROTOCOLS) {
        await rt.chat(ask('warm up', { provider: kind }));
        await server.refuse(true);
        await rejectsWith(rt.chat(ask('a', { provider: kind })), 'UNREACHABLE');
        await server.refuse(false);
        assert.ok((await rt.chat(ask('back', { provider: kind }))).content.length > 0);
      }
    });
  });
});
