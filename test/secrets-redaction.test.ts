/**
 * No secret leaves parley, proven against a hostile provider, in both modes.
 * The server echoes everything it was sent (every request header value and
 * the URL, so whatever the placement of the secret) in its bodies and in
 * every response header, and at every offset of a long error body. Every
 * error it provokes, of every code, is checked after JSON.stringify and
 * util.inspect(err, { depth: 10 }); so are health reports, stats and events.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { inspect } from 'node:util';
import { createHash } from 'node:crypto';
import { BroadcastChannel } from 'node:worker_threads';
import { createRuntime, ParleyError, type ErrorCode, type ProviderConfig, type Runtime, type RuntimeOptions } from '../src/index.ts';
import { waitFor } from './helpers/wait-for.ts';
import { closedPort, TEST_RUNTIME_DEFAULTS } from './helpers/fixtures.ts';

/**
 * One secret per placement (see placements()), with no piece of
 * FRAGMENT characters in common: one runtime holds every placement, and a
 * secret hidden only because another one is known would not pass.
 */
const SECRETS = Array.from({ length: 9 }, (_, i) => `sk-${createHash('sha256').update(`placement ${i}`).digest('base64url').slice(0, 37)}`);
/** The secret of the suites that need one. */
const SECRET = SECRETS[0]!;
const FRAGMENT = 8;

/** A worker preload (a data: URL, so no file) that throws, in the worker, the message it is sent. */
const THROW_HOOK = `data:text/javascript,${encodeURIComponent(
  "import { BroadcastChannel, isMainThread } from 'node:worker_threads';" +
    "if (!isMainThread) { const c = new BroadcastChannel('parley-secrets-hook'); c.unref();" +
    ' c.onmessage = ({ data }) => setImmediate(() => { throw new Error(data); }); }',
)}`;

/** Fails when `text` holds one of `secrets`, or any piece of one of FRAGMENT characters or more. */
function assertClean(label: string, text: string, secrets: readonly string[] = SECRETS): void {
  for (const secret of secrets) {
    assert.ok(!text.includes(secret), `${label} holds a secret:\n${text}`);
    for (let i = 0; i + FRAGMENT <= secret.length; i++) {
      const piece = secret.slice(i, i + FRAGMENT);
      assert.ok(!text.includes(piece), `${label} holds a piece of a secret (${piece}):\n${text}`);
    }
  }
}

function assertCleanError(label: string, err: unknown, secrets: readonly string[] = SECRETS): ParleyError {
  assert.ok(err instanceof ParleyError, `${label}: a ParleyError, got ${String(err)}`);
  assertClean(`${label}: JSON.stringify`, JSON.stringify(err), secrets);
  assertClean(`${label}: util.inspect`, inspect(err, { depth: 10 }), secrets);
  assertClean(`${label}: message`, err.message, secrets);
  assertClean(`${label}: requestId`, err.requestId ?? '', secrets);
  return err;
}

type Behaviour = (req: IncomingMessage, res: ServerResponse, echo: string, body: { stream?: boolean }) => void;

/** Every response header a hostile server may fill with what it was sent. */
function echoHeaders(echo: string): Record<string, string> {
  return {
    'x-request-id': echo,
    'request-id': echo,
    'retry-after': echo,
    'www-authenticate': `Bearer realm="${echo}"`,
    'set-cookie': `s=${echo}`,
    'x-echo': echo,
    location: `http://example.invalid/?key=${echo}`,
  };
}

const sse = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`;
const chunk = (content: string) => ({ id: 'c', object: 'chat.completion.chunk', model: 'm', choices: [{ index: 0, delta: { content }, finish_reason: null }] });

/** The scenarios, with the code each gives to chat and to stream. */
const SCENARIOS: { name: string; chat: ErrorCode; stream: ErrorCode; behaviour: Behaviour }[] = [
  { name: 'HTTP 401, text body', chat: 'HTTP', stream: 'HTTP', behaviour: (_q, res, echo) => res.writeHead(401, echoHeaders(echo)).end(`denied for ${echo}`) },
  {
    name: 'HTTP 400, JSON error',
    chat: 'HTTP',
    stream: 'HTTP',
    behaviour: (_q, res, echo) => res.writeHead(400, { ...echoHeaders(echo), 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `Incorrect API key provided: ${echo}`, code: echo } })),
  },
  { name: 'HTTP 503 with Retry-After', chat: 'HTTP', stream: 'HTTP', behaviour: (_q, res, echo) => res.writeHead(503, echoHeaders(echo)).end(echo) },
  {
    name: 'error inside a 2xx',
    chat: 'PROVIDER',
    stream: 'PROVIDER',
    behaviour: (_q, res, echo, body) =>
      body.stream
        ? res.writeHead(200, { ...echoHeaders(echo), 'content-type': 'text/event-stream' }).end(sse({ error: { message: `key ${echo} revoked` } }))
        : res.writeHead(200, { ...echoHeaders(echo), 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `key ${echo} revoked` } })),
  },
  {
    name: 'malformed body',
    chat: 'BAD_RESPONSE',
    stream: 'BAD_RESPONSE',
    behaviour: (_q, res, echo, body) =>
      body.stream
        ? res.writeHead(200, { ...echoHeaders(echo), 'content-type': 'text/event-stream' }).end(`data: {not json ${echo}\n\n`)
        : res.writeHead(200, { ...echoHeaders(echo), 'content-type': 'application/json' }).end(`{"oops": ${echo}`),
  },
  {
    name: 'stream without its end marker',
    chat: 'BAD_RESPONSE',
    stream: 'INCOMPLETE',
    behaviour: (_q, res, echo, body) =>
      body.stream
        ? res.writeHead(200, { ...echoHeaders(echo), 'content-type': 'text/event-stream' }).end(sse(chunk(echo)))
        : res.writeHead(200, { ...echoHeaders(echo), 'content-type': 'application/json' }).end(`{"choices": [{"message": {"content": "${echo}`),
  },
  { name: 'body past the size cap', chat: 'TOO_LARGE', stream: 'TOO_LARGE', behaviour: (_q, res, echo) => res.writeHead(200, echoHeaders(echo)).end(`${echo} `.repeat(2_000)) },
  {
    name: 'reset mid-body',
    chat: 'CONNECTION',
    stream: 'CONNECTION',
    behaviour: (_q, res, echo, body) => {
      res.writeHead(200, { ...echoHeaders(echo), 'content-type': body.stream ? 'text/event-stream' : 'application/json' });
      res.write(body.stream ? sse(chunk('x')) : `{"partial": "${echo}`, () => res.socket?.destroy());
    },
  },
];

interface Hostile {
  server: Server;
  url: string;
  behaviour: Behaviour | undefined;
  /** Requests left without an answer. */
  stalled: number;
}

async function hostileServer(): Promise<Hostile> {
  const hostile: Hostile = { server: createServer(), url: '', behaviour: undefined, stalled: 0 };
  hostile.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      // Everything it was sent: the secret is in here wherever it was placed.
      const echo = `${Object.values(req.headers).join(' | ')} | ${req.url}`;
      let body: { stream?: boolean } = {};
      try {
        body = JSON.parse(text) as { stream?: boolean };
      } catch {
        // a GET
      }
      if (hostile.behaviour) hostile.behaviour(req, res, echo, body);
      // else: stall, until the caller gives up.
      else hostile.stalled++;
    });
  });
  await new Promise<void>((resolve) => hostile.server.listen(0, '127.0.0.1', resolve));
  hostile.url = `http://127.0.0.1:${(hostile.server.address() as AddressInfo).port}`;
  return hostile;
}

/** Where a secret can sit in a provider config (a baseUrl with userinfo is refused at the door: tested below). */
function placements(url: string): [string, ProviderConfig][] {
  const [s0, s1, s2, s3, s4, s5, s6, s7, s8] = SECRETS;
  return [
    ['apiKey (Bearer)', { kind: 'openai', baseUrl: `${url}/v1`, apiKey: s0 }],
    ['apiKey (Anthropic x-api-key)', { kind: 'anthropic', baseUrl: url, apiKey: s1 }],
    ['x-goog-api-key header', { kind: 'openai', baseUrl: `${url}/v1`, headers: { 'x-goog-api-key': s2 } }],
    ['helicone-auth header', { kind: 'openai', baseUrl: `${url}/v1`, headers: { 'Helicone-Auth': `Bearer ${s3}` } }],
    ['x-portkey-api-key header', { kind: 'openai', baseUrl: `${url}/v1`, headers: { 'x-portkey-api-key': s4 } }],
    ['cf-aig-authorization header', { kind: 'openai', baseUrl: `${url}/v1`, headers: { 'cf-aig-authorization': `Bearer ${s5}` } }],
    ['x-auth-token header', { kind: 'openai', baseUrl: `${url}/v1`, headers: { 'x-auth-token': s6 } }],
    ['cookie header', { kind: 'openai', baseUrl: `${url}/v1`, headers: { cookie: `session=${s7}` } }],
    ['?key= in baseUrl', { kind: 'openai', baseUrl: `${url}/v1?key=${s8}` }],
  ];
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('expected a failure');
}

function streamed(rt: Runtime, provider: string, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<unknown> {
  return (async () => {
    for await (const _ of rt.stream({ provider, model: 'm', messages: [{ role: 'user', content: 'hi' }] }, opts)) {
      // drained
    }
  })();
}

const ask = { model: 'm', messages: [{ role: 'user' as const, content: 'hi' }] };

for (const workers of [1, 2]) {
  describe(`no secret leaves parley (workers: ${workers})`, () => {
    let hostile: Hostile;
    /** One runtime for every placement (p0, p1, ... and down0, down1, ...), each with its own secret. */
    let rt: Runtime;
    /** Pool mode: a runtime of the same providers with no room, for QUEUE_FULL. */
    let tight: Runtime | undefined;
    const events: unknown[] = [];
    before(async () => {
      hostile = await hostileServer();
      const down = await closedPort();
      const providers: Record<string, ProviderConfig> = {};
      placements(hostile.url).forEach(([, provider], index) => {
        providers[`p${index}`] = provider;
        providers[`down${index}`] = { ...provider, baseUrl: provider.baseUrl!.replace(hostile.url, `http://127.0.0.1:${down}`) } as ProviderConfig;
      });
      const options: RuntimeOptions = {
        ...TEST_RUNTIME_DEFAULTS,
        workers,
        maxRetries: 0,
        maxResponseBytes: 4_096,
        workerExecArgv: ['--import', THROW_HOOK],
        restart: { backoffBaseMs: 0 },
        providers,
      };
      rt = await createRuntime(options);
      for (const event of ['worker-started', 'worker-crashed', 'worker-restarted', 'failed'] as const) rt.on(event, (e: unknown) => events.push([event, e]));
      // A runtime of its own: a pool thread of `rt` may still be finishing a
      // task whose call already ended, so `rt` would fill up at moments no
      // test chooses.
      if (workers > 1) tight = await createRuntime({ ...options, workerExecArgv: [], concurrencyPerWorker: 1, maxQueue: 0 });
    });
    after(async () => {
      await tight?.shutdown({ graceMs: 200 });
      await rt.shutdown({ graceMs: 200 });
      hostile.server.closeAllConnections();
      await new Promise<void>((resolve) => hostile.server.close(() => resolve()));
    });

    /** Checks `err` is clean of every secret, and, for an OpenAI-shaped placement, that its code is `code`. */
    function checker(name: string, kind: ProviderConfig['kind'], codes: Set<string>) {
      return (label: string, err: unknown, code?: ErrorCode) => {
        const e = assertCleanError(`${name}: ${label}`, err);
        if (code && kind === 'openai') assert.equal(e.code, code, `${name}: ${label}: ${e.message}`);
        codes.add(e.code);
      };
    }

    placements('').forEach(([name, { kind }], index) => {
      test(`every error code, health and stats: ${name}`, async () => {
        const p = `p${index}`;
        const codes = new Set<string>();
        const check = checker(name, kind, codes);
        try {
          for (const scenario of SCENARIOS) {
            hostile.behaviour = scenario.behaviour;
            check(`${scenario.name} (chat)`, await failure(rt.chat({ ...ask, provider: p })), scenario.chat);
            check(`${scenario.name} (stream)`, await failure(streamed(rt, p)), scenario.stream);
          }
          hostile.behaviour = undefined;
          check('stall (chat)', await failure(rt.chat({ ...ask, provider: p }, { timeoutMs: 300 })), 'TIMEOUT');
          check('stall (stream)', await failure(streamed(rt, p, { timeoutMs: 300 })), 'TIMEOUT');
          check('abort', await failure(rt.chat({ ...ask, provider: p }, { signal: AbortSignal.timeout(100) })), 'ABORTED');
          check('refused connection', await failure(rt.chat({ ...ask, provider: `down${index}` })), 'UNREACHABLE');
          check('a request value that is the secret', await failure(rt.chat({ ...ask, provider: p, temperature: SECRETS[index] as never })), 'INVALID_REQUEST');
          check('an unknown provider named by the secret', await failure(rt.chat({ ...ask, provider: SECRETS[index]! })), 'INVALID_REQUEST');
          check('health of a provider named by the secret', await failure(rt.health(SECRETS[index]!)), 'INVALID_REQUEST');
          hostile.behaviour = SCENARIOS[0]!.behaviour;
          for (const report of await rt.health()) {
            assert.equal(report.provider.startsWith('p') ? report.ok : false, false);
            assertClean(`${name}: health`, JSON.stringify(report));
          }
          if (tight) {
            // The third call is refused in the tick the two are made: they need to hold their places only that long.
            hostile.behaviour = undefined;
            const held = [failure(tight.chat({ ...ask, provider: p }, { timeoutMs: 300 })), failure(tight.chat({ ...ask, provider: p }, { timeoutMs: 300 }))];
            check('queue full', await failure(tight.chat({ ...ask, provider: p })), 'QUEUE_FULL');
            for (const err of await Promise.all(held)) check('held while the queue was full', err);
            assertClean(`${name}: stats of the full runtime`, JSON.stringify(await tight.stats()));
          }
          assertClean(`${name}: stats`, JSON.stringify(await rt.stats()));
          assertClean(`${name}: stats (inspect)`, inspect(await rt.stats(), { depth: 10 }));
        } finally {
          hostile.behaviour = undefined;
          hostile.server.closeAllConnections();
        }
        const expected: ErrorCode[] = ['HTTP', 'BAD_RESPONSE', 'TOO_LARGE', 'CONNECTION', 'TIMEOUT', 'ABORTED', 'UNREACHABLE', 'INVALID_REQUEST'];
        if (kind === 'openai') expected.push('PROVIDER', 'INCOMPLETE');
        if (tight) expected.push('QUEUE_FULL');
        for (const code of expected) assert.ok(codes.has(code), `${name}: provoked ${code} (got ${[...codes].join(', ')})`);
      });
    });

    test('a worker that dies saying every secret, while a call to each placement waits: WORKER_CRASHED, clean events and stats', async () => {
      const stalledBefore = hostile.stalled;
      const calls = placements('').map(([name, { kind }], index) => ({ name, kind, err: failure(rt.chat({ ...ask, provider: `p${index}` }, { timeoutMs: 5_000 })) }));
      try {
        await waitFor(() => hostile.stalled >= stalledBefore + calls.length, { what: 'every call waiting on the provider' });
        const channel = new BroadcastChannel('parley-secrets-hook');
        channel.postMessage(`worker dies holding ${SECRETS.join(' and ')}`);
        channel.close();
        for (const { name, kind, err } of calls) checker(name, kind, new Set())('worker crash', await err, 'WORKER_CRASHED');
        await waitFor(() => events.some((e) => (e as [string])[0] === 'worker-crashed'), { what: 'a worker-crashed event' });
        assertClean('events', JSON.stringify(events));
        assertClean('stats after the crash', JSON.stringify(await rt.stats()));
      } finally {
        hostile.server.closeAllConnections();
      }
    });

    test('after shutdown, a call to each placement is SHUTDOWN and holds no secret', async () => {
      await rt.shutdown({ graceMs: 200 });
      for (const [index, [name, { kind }]] of placements('').entries()) {
        checker(name, kind, new Set())('after shutdown', await failure(rt.chat({ ...ask, provider: `p${index}` })), 'SHUTDOWN');
      }
    });

    test('the secret at every offset of a long error body, a JSON message and a malformed body', async () => {
      const rt = await createRuntime({ ...TEST_RUNTIME_DEFAULTS, workers, maxRetries: 0, providers: { p: { kind: 'openai', baseUrl: `${hostile.url}/v1`, apiKey: SECRET } } });
      let offset = 0;
      try {
        const bodies: [string, (echo: string) => [number, string]][] = [
          ['text', () => [400, `${'a'.repeat(offset)}${SECRET}${'b'.repeat(600)}`]],
          ['JSON', () => [400, JSON.stringify({ error: { message: `${'a'.repeat(offset)}${SECRET}${'b'.repeat(600)}` } })]],
          ['malformed 2xx', () => [200, `{${'a'.repeat(offset)}${SECRET}${'b'.repeat(200)}`]],
        ];
        for (const [kind, body] of bodies) {
          const last = kind === 'malformed 2xx' ? 140 : 520;
          for (offset = 0; offset <= last; offset++) {
            hostile.behaviour = (_q, res, echo) => {
              const [status, text] = body(echo);
              res.writeHead(status, { ...echoHeaders(echo), 'content-type': kind === 'text' ? 'text/plain' : 'application/json' }).end(text);
            };
            // Its runtime knows only SECRET: over a thousand errors, the others are not looked for.
            assertCleanError(`${kind} body, secret at offset ${offset}`, await failure(rt.chat({ ...ask, provider: 'p' })), [SECRET]);
          }
        }
      } finally {
        hostile.behaviour = undefined;
        await rt.shutdown({ graceMs: 200 });
      }
    });

    test('a CONFIG error never holds the secret, wherever it was put', async () => {
      const configs: Record<string, unknown>[] = [
        { kind: 'openai', baseUrl: `http://user:${SECRET}@127.0.0.1:9/v1` },
        { kind: 'openai', baseUrl: `http://${SECRET}@127.0.0.1:9/v1` },
        { kind: 'openai', baseUrl: `127.0.0.1:9/v1?key=${SECRET}` },
        { kind: 'openai', baseUrl: `http://127.0.0.1:9/v1#${SECRET}` },
        { kind: 'openai', baseUrl: `http://127.0.0.1:9/v1`, apiKey: `${SECRET}\n` },
        { kind: 'openai', baseUrl: `http://127.0.0.1:9/v1`, headers: { 'x-api-key': `${SECRET}\u200b` } },
        { kind: 'openai', baseUrl: `http://127.0.0.1:9/v1`, headers: { [`Authorization: Bearer ${SECRET}`]: '' } },
        { kind: 'openai', baseUrl: `http://127.0.0.1:9/v1`, apiKey: SECRET, mystery: SECRET },
        { kind: SECRET, apiKey: SECRET },
      ];
      for (const config of configs) {
        const err = await failure(createRuntime({ workers, providers: { p: config as never } }));
        assert.equal((err as ParleyError).code, 'CONFIG');
        assertCleanError(`CONFIG for ${Object.keys(config).join(', ')}`, err);
      }
    });
  });
}
