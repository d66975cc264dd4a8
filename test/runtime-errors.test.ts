import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRuntime, ParleyError, type ChatRequest, type Runtime, type RuntimeOptions, type StreamEvent } from '../src/index.ts';
import { startModelServer, waitFor, type ModelServer } from '../src/testing/index.ts';
import { TEST_RUNTIME_DEFAULTS, ask, closedPort, collect, rejectsWith, startStack, withStack, type Stack } from './helpers/fixtures.ts';
import { testWorkers } from './helpers/workers-mode.ts';

const KINDS = ['openai', 'ollama'] as const;

/** The error a stream ends with, whether stream() throws at once or on iteration. */
async function streamFailure(open: () => AsyncIterable<StreamEvent>): Promise<{ events: StreamEvent[]; error: unknown }> {
  let iterable: AsyncIterable<StreamEvent>;
  try {
    iterable = open();
  } catch (error) {
    return { events: [], error };
  }
  const { events, error } = await collect(iterable);
  assert.ok(error !== undefined, `the stream should have failed, got ${events.length} events ending in ${events.at(-1)?.type}`);
  return { events, error };
}

function assertCode(err: unknown, code: string): asserts err is ParleyError {
  assert.ok(err instanceof ParleyError, `expected a ParleyError, got ${String(err)}`);
  assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
}

describe('CONFIG: bad runtime options are rejected, naming the option', () => {
  const url = 'http://127.0.0.1:9';
  const base = { providers: { local: { kind: 'ollama', baseUrl: url } } } as RuntimeOptions;
  const cases: [string, unknown, string][] = [
    ['no options', undefined, 'options'],
    ['no providers', { providers: {} }, 'options.providers'],
    ['bad kind', { providers: { x: { kind: 'gemini' } } }, 'options.providers.x.kind'],
    ['openai without baseUrl', { providers: { x: { kind: 'openai' } } }, 'options.providers.x.baseUrl'],
    ['non-http baseUrl', { providers: { x: { kind: 'ollama', baseUrl: 'ftp://host' } } }, 'options.providers.x.baseUrl'],
    ['anthropic without apiKey', { providers: { x: { kind: 'anthropic' } } }, 'options.providers.x.apiKey'],
    ['empty apiKey', { providers: { x: { kind: 'ollama', apiKey: '' } } }, 'options.providers.x.apiKey'],
    ['non-string header', { providers: { x: { kind: 'ollama', headers: { a: 1 } } } }, 'options.providers.x.headers'],
    ['unknown defaultProvider', { ...base, defaultProvider: 'nope' }, 'options.defaultProvider'],
    ['negative timeoutMs', { ...base, timeoutMs: -1 }, 'options.timeoutMs'],
    ['fractional timeoutMs', { ...base, timeoutMs: 1.5 }, 'options.timeoutMs'],
    ['string maxRetries', { ...base, maxRetries: '2' }, 'options.maxRetries'],
    ['zero workers', { ...base, workers: 0 }, 'options.workers'],
    ['zero maxResponseBytes', { ...base, maxResponseBytes: 0 }, 'options.maxResponseBytes'],
    ['zero streamCredits', { ...base, streamCredits: 0 }, 'options.streamCredits'],
    ['zero connections', { ...base, connections: 0 }, 'options.connections'],
    ['negative restart.maxRestarts', { ...base, restart: { maxRestarts: -1 } }, 'options.restart.maxRestarts'],
    ['heartbeatTimeoutMs below the interval', { ...base, heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 10 }, 'options.heartbeatTimeoutMs'],
    ['workerExecArgv not strings', { ...base, workerExecArgv: [1] }, 'options.workerExecArgv'],
    ['negative workerNice (raising priority needs privileges)', { ...base, workerNice: -5 }, 'options.workerNice'],
    ['workerNice past 19', { ...base, workerNice: 20 }, 'options.workerNice'],
  ];
  for (const [what, options, field] of cases) {
    test(`createRuntime() rejects ${what} with CONFIG naming ${field}`, async () => {
      const err = await rejectsWith(createRuntime(options as RuntimeOptions), 'CONFIG');
      assert.ok(err.message.includes(field), `"${err.message}" names ${field}`);
    });
  }
});

describe('errors of a running runtime', () => {
  let stack: Stack;
  let server: ModelServer;
  let rt: Runtime;
  before(async () => {
    stack = await startStack({}, () => ({ maxRetries: 0 }));
    ({ server, rt } = stack);
  });
  after(() => stack.close());

  const invalid: [string, ChatRequest][] = [
    ['no model', { messages: [{ role: 'user', content: 'a' }] } as unknown as ChatRequest],
    ['empty messages', { model: 'parley-echo', messages: [] }],
    ['a bad role', { model: 'parley-echo', messages: [{ role: 'wizard', content: 'a' }] } as unknown as ChatRequest],
    ['an unknown provider', ask('a', { provider: 'nope' })],
    // Passes validation; the structured clone to the worker refuses it, and only this call fails.
    ['an extra field holding a function', { ...ask('a'), extra: { hook: () => 1 } } as unknown as ChatRequest],
  ];
  for (const [what, request] of invalid) {
    test(`chat() and stream() refuse ${what} with INVALID_REQUEST before any I/O`, async () => {
      const served = server.stats().requestsServed;
      // new Promise(...) so that a synchronous throw is caught too: that has its own test below.
      await rejectsWith(new Promise((resolve, reject) => rt.chat(request).then(resolve, reject)), 'INVALID_REQUEST');
      const { error } = await streamFailure(() => rt.stream(request));
      assertCode(error, 'INVALID_REQUEST');
      assert.equal(server.stats().requestsServed, served);
    });
  }

  test(
    'chat() with an unknown provider returns a rejected promise instead of throwing synchronously',
    async () => {
      let returned: Promise<unknown> | undefined;
      assert.doesNotThrow(() => {
        returned = rt.chat(ask('a', { provider: 'nope' }));
      });
      await rejectsWith(returned!, 'INVALID_REQUEST');
    },
  );

  test('models() and health() of an unknown provider reject with INVALID_REQUEST', async () => {
    await rejectsWith(rt.models('nope'), 'INVALID_REQUEST');
    await rejectsWith(rt.health('nope'), 'INVALID_REQUEST');
  });

  test('a bad call option (timeoutMs) is refused with a code, before any I/O', async () => {
    const served = server.stats().requestsServed;
    await assert.rejects(rt.chat(ask('a'), { timeoutMs: -5 }), (err: unknown) => {
      assert.ok(err instanceof ParleyError);
      assert.ok(['INVALID_REQUEST', 'CONFIG'].includes(err.code), err.code);
      assert.ok(err.message.includes('timeoutMs'), err.message);
      return true;
    });
    assert.equal(server.stats().requestsServed, served);
  });

  test('HTTP: a 400 keeps its status, the provider message and is not retryable', async () => {
    for (const kind of KINDS) {
      server.injectFault({ kind: 'status', status: 400, message: 'temperature is out of range' }, 2);
      const err = await rejectsWith(rt.chat(ask('a', { provider: kind })), 'HTTP');
      assert.equal(err.status, 400);
      assert.equal(err.provider, kind);
      assert.equal(err.retryable, false);
      assert.ok(err.message.includes('temperature is out of range'), err.message);
      const { error } = await streamFailure(() => rt.stream(ask('a', { provider: kind })));
      assertCode(error, 'HTTP');
      assert.equal(error.status, 400);
    }
  });

  for (const kind of KINDS) {
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

  test('a truncated non-stream body is an error, not a result', async () => {
    server.injectFault({ kind: 'truncate' });
    await assert.rejects(rt.chat(ask('a')), (err: unknown) => {
      assert.ok(err instanceof ParleyError);
      assert.ok(['BAD_RESPONSE', 'INCOMPLETE'].includes(err.code), err.code);
      return true;
    });
  });

  test('CONNECTION: the connection is dropped before the headers', async () => {
    server.setFault({ kind: 'slow-headers', delayMs: 5_000 });
    try {
      const served = server.stats().requestsServed;
      const call = rt.chat(ask('a'));
      let settled = false;
      call.catch(() => undefined).finally(() => (settled = true));
      // A drop on a reused keep-alive socket may be taken for a stale one and
      // retried once at once; on a new socket it is final (maxRetries is 0).
      for (let n = 1; n <= 2; n++) {
        await waitFor(() => settled || server.stats().requestsServed >= served + n, { what: `request ${n} arrived`, timeoutMs: 3_000 });
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
      for (const kind of KINDS) {
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

  test('ABORTED: an already-aborted signal rejects before any I/O', async () => {
    const served = server.stats().requestsServed;
    const signal = AbortSignal.abort(new Error('user went away'));
    await rejectsWith(rt.chat(ask('a'), { signal }), 'ABORTED');
    await rejectsWith(rt.models(undefined, { signal }), 'ABORTED');
    const { error } = await streamFailure(() => rt.stream(ask('a'), { signal }));
    assertCode(error, 'ABORTED');
    assert.equal(server.stats().requestsServed, served);
  });

  test('ABORTED: aborting mid-stream ends the iteration with ABORTED', async () => {
    server.setOptions({ tokenDelayMs: 20 });
    try {
      const controller = new AbortController();
      const events: StreamEvent[] = [];
      const err = await rejectsWith(
        (async () => {
          for await (const event of rt.stream(ask('a', { maxTokens: 200 }), { signal: controller.signal })) {
            events.push(event);
            if (events.length === 2) controller.abort();
          }
        })(),
        'ABORTED',
      );
      assert.ok(err instanceof ParleyError);
      assert.ok(!events.some((e) => e.type === 'done'));
    } finally {
      server.setOptions({ tokenDelayMs: 0 });
    }
  });
});

describe('UNREACHABLE', () => {
  test('a port with nothing listening', async () => {
    const port = await closedPort();
    const rt = await createRuntime({ workers: testWorkers, providers: { gone: { kind: 'openai', baseUrl: `http://127.0.0.1:${port}/v1` } }, ...TEST_RUNTIME_DEFAULTS, maxRetries: 0 });
    try {
      const err = await rejectsWith(rt.chat(ask('a')), 'UNREACHABLE');
      assert.equal(err.provider, 'gone');
      const { error } = await streamFailure(() => rt.stream(ask('a')));
      assertCode(error, 'UNREACHABLE');
      await rejectsWith(rt.models(), 'UNREACHABLE');
    } finally {
      await rt.shutdown();
    }
  });

  test('a server that refuses connections, then serves again', async () => {
    await withStack({}, () => ({ maxRetries: 0 }), async ({ server, rt }) => {
      await rt.chat(ask('warm up'));
      await server.refuse(true);
      await rejectsWith(rt.chat(ask('a')), 'UNREACHABLE');
      await server.refuse(false);
      assert.ok((await rt.chat(ask('back'))).content.length > 0);
    });
  });
});

describe('SHUTDOWN', () => {
  test('every call after shutdown() rejects with SHUTDOWN', async () => {
    const server = await startModelServer();
    try {
      const rt = await createRuntime({ workers: testWorkers, providers: { local: { kind: 'ollama', baseUrl: server.url } }, ...TEST_RUNTIME_DEFAULTS });
      await rt.chat(ask('a'));
      await rt.shutdown();
      const served = server.stats().requestsServed;
      await rejectsWith(rt.chat(ask('a')), 'SHUTDOWN');
      await rejectsWith(rt.models(), 'SHUTDOWN');
      const { error } = await streamFailure(() => rt.stream(ask('a')));
      assertCode(error, 'SHUTDOWN');
      assert.equal(server.stats().requestsServed, served);
    } finally {
      await server.close();
    }
  });
});

describe('secrets', () => {
  test('the API key never appears in errors, their JSON, stacks, causes, health or stats', async () => {
    const key = 'sk-test-SECRET-abcdef123456';
    const server = await startModelServer();
    const rt = await createRuntime({ workers: testWorkers,
      providers: {
        openai: { kind: 'openai', baseUrl: `${server.url}/v1`, apiKey: key },
        claude: { kind: 'anthropic', baseUrl: server.url, apiKey: key },
      },
      ...TEST_RUNTIME_DEFAULTS,
      maxRetries: 0,
    });
    const texts: string[] = [];
    const keep = (err: unknown) => {
      assert.ok(err instanceof ParleyError);
      texts.push(err.message, String(err.stack), JSON.stringify(err));
      for (let c: unknown = err.cause; c instanceof Error; c = c.cause) texts.push(c.message, String(c.stack));
    };
    try {
      for (const provider of ['openai', 'claude']) {
        // A provider that echoes the key it was sent, as some do in a 401.
        server.injectFault({ kind: 'status', status: 401, message: `Incorrect API key provided: ${key}` }, 2);
        keep(await rejectsWith(rt.chat(ask('a', { provider })), 'HTTP'));
        keep((await streamFailure(() => rt.stream(ask('a', { provider })))).error);
        server.injectFault({ kind: 'stream-error', message: `bad key ${key}` });
        keep((await streamFailure(() => rt.stream(ask('a', { provider })))).error);
      }
      // The server did receive the key: it is the runtime that keeps it in.
      assert.ok(server.requests.some((r) => JSON.stringify(r.headers).includes(key)));
      await server.refuse(true);
      texts.push(JSON.stringify(await rt.health()));
      texts.push(JSON.stringify(await rt.stats()));
      for (const text of texts) assert.ok(!text.includes(key), `leaked in: ${text.slice(0, 300)}`);
      assert.ok(texts.some((t) => t.includes('Incorrect API key provided')), 'the provider message itself is kept');
    } finally {
      await rt.shutdown();
      await server.close();
    }
  });
});
