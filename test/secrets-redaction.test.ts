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
import { BroadcastChannel } from 'node:worker_threads';
import { createRuntime, ParleyError, type ErrorCode, type ProviderConfig, type Runtime, type RuntimeOptions } from '../src/index.ts';
import { waitFor } from './helpers/wait-for.ts';
import { closedPort, TEST_RUNTIME_DEFAULTS } from './helpers/fixtures.ts';

const SECRET = 'sk-hostile-7Qm2Xv9Lp4Rt8Wz1Kc6Nb3Jh5Gd0Fs';
const FRAGMENT = 8;

/** A worker preload (a data: URL, so no file) that throws, in the worker, the message it is sent. */
const THROW_HOOK = `data:text/javascript,${encodeURIComponent(
  "import { BroadcastChannel, isMainThread } from 'node:worker_threads';" +
    "if (!isMainThread) { const c = new BroadcastChannel('parley-secrets-hook'); c.unref();" +
    ' c.onmessage = ({ data }) => setImmediate(() => { throw new Error(data); }); }',
)}`;

/** Fails when `text` holds the secret, or any piece of it of FRAGMENT characters or more. */
function assertClean(label: string, text: string): void {
  assert.ok(!text.includes(SECRET), `${label} holds the secret:\n${text}`);
  for (let i = 0; i + FRAGMENT <= SECRET.length; i++) {
    const piece = SECRET.slice(i, i + FRAGMENT);
    assert.ok(!text.includes(piece), `${label} holds a piece of the secret (${piece}):\n${text}`);
  }
}

function assertCleanError(label: string, err: unknown): ParleyError {
  assert.ok(err instanceof ParleyError, `${label}: a ParleyError, got ${String(err)}`);
  assertClean(`${label}: JSON.stringify`, JSON.stringify(err));
  assertClean(`${label}: util.inspect`, inspect(err, { depth: 10 }));
  assertClean(`${label}: message`, err.message);
  assertClean(`${label}: requestId`, err.requestId ?? '');
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
  return [
    ['apiKey (Bearer)', { kind: 'openai', baseUrl: `${url}/v1`, apiKey: SECRET }],
    ['apiKey (Anthropic x-api-key)', { kind: 'anthropic', baseUrl: url, apiKey: SECRET }],
    ['x-goog-api-key header', { kind: 'openai', baseUrl: `${url}/v1`, headers: { 'x-goog-api-key': SECRET } }],
    ['helicone-auth header', { kind: 'openai', baseUrl: `${url}/v1`, headers: { 'Helicone-Auth': `Bearer ${SECRET}` } }],
    ['x-portkey-api-key header', { kind: 'openai', baseUrl: `${url}/v1`, headers: { 'x-portkey-api-key': SECRET } }],
    ['cf-aig-authorization header', { kind: 'openai', baseUrl: `${url}/v1`, headers: { 'cf-aig-authorization': `Bearer ${SECRET}` } }],
    ['x-auth-token header', { kind: 'openai', baseUrl: `${url}/v1`, headers: { 'x-auth-token': SECRET } }],
    ['cookie header', { kind: 'openai', baseUrl: `${url}/v1`, headers: { cookie: `session=${SECRET}` } }],
    ['?key= in baseUrl', { kind: 'openai', baseUrl: `${url}/v1?key=${SECRET}` }],
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
    let down: number;
    before(async () => {
      hostile = await hostileServer();
      down = await closedPort();
    });
    after(() => {
      hostile.server.closeAllConnections();
      return new Promise<void>((resolve) => hostile.server.close(() => resolve()));
    });

    for (let index = 0; index < placements('').length; index++) {
      test(`every error code, health, stats and events: ${placements('')[index]![0]}`, async () => {
        const [name, provider] = placements(hostile.url)[index]!;
        const downConfig = { ...provider, baseUrl: provider.baseUrl!.replace(hostile.url, `http://127.0.0.1:${down}`) } as ProviderConfig;
        const options: RuntimeOptions = {
          ...TEST_RUNTIME_DEFAULTS,
          workers,
          maxRetries: 0,
          maxResponseBytes: 4_096,
          workerExecArgv: ['--import', THROW_HOOK],
          restart: { backoffBaseMs: 0 },
          providers: { p: provider, down: downConfig },
        };
        const rt = await createRuntime(options);
        const events: unknown[] = [];
        for (const event of ['worker-started', 'worker-crashed', 'worker-restarted', 'failed'] as const) rt.on(event, (e: unknown) => events.push([event, e]));
        const codes = new Set<string>();
        const check = (label: string, err: unknown, code?: ErrorCode) => {
          const e = assertCleanError(`${name}: ${label}`, err);
          if (code && provider.kind === 'openai') assert.equal(e.code, code, `${name}: ${label}: ${e.message}`);
          codes.add(e.code);
        };
        try {
          for (const scenario of SCENARIOS) {
            hostile.behaviour = scenario.behaviour;
            check(`${scenario.name} (chat)`, await failure(rt.chat({ ...ask, provider: 'p' })), scenario.chat);
            check(`${scenario.name} (stream)`, await failure(streamed(rt, 'p')), scenario.stream);
          }
          hostile.behaviour = undefined;
          check('stall (chat)', await failure(rt.chat({ ...ask, provider: 'p' }, { timeoutMs: 300 })), 'TIMEOUT');
          check('stall (stream)', await failure(streamed(rt, 'p', { timeoutMs: 300 })), 'TIMEOUT');
          check('abort', await failure(rt.chat({ ...ask, provider: 'p' }, { signal: AbortSignal.timeout(100) })), 'ABORTED');
          check('refused connection', await failure(rt.chat({ ...ask, provider: 'down' })), 'UNREACHABLE');
          check('a request value that is the secret', await failure(rt.chat({ ...ask, provider: 'p', temperature: SECRET as never })), 'INVALID_REQUEST');
          check('an unknown provider named by the secret', await failure(rt.chat({ ...ask, provider: SECRET })), 'INVALID_REQUEST');
          check('health of a provider named by the secret', await failure(rt.health(SECRET)), 'INVALID_REQUEST');
          hostile.behaviour = SCENARIOS[0]!.behaviour;
          for (const report of await rt.health()) {
            assert.equal(report.provider === 'p' ? report.ok : false, false);
            assertClean(`${name}: health`, JSON.stringify(report));
          }
          hostile.behaviour = undefined;
          // A worker that dies saying the secret, while its call waits on the provider.
          const stalledBefore = hostile.stalled;
          const crashing = failure(rt.chat({ ...ask, provider: 'p' }, { timeoutMs: 5_000 }));
          await waitFor(() => hostile.stalled > stalledBefore);
          const channel = new BroadcastChannel('parley-secrets-hook');
          channel.postMessage(`worker dies holding ${SECRET}`);
          channel.close();
          check('worker crash', await crashing, 'WORKER_CRASHED');
          await waitFor(() => events.some((e) => (e as [string])[0] === 'worker-crashed'));
          if (workers > 1) {
            // A runtime of its own with no room: a pool thread may still be
            // finishing a task whose call already ended, so the runtime above
            // would fill up at moments no test chooses.
            const tight = await createRuntime({ ...options, workerExecArgv: [], concurrencyPerWorker: 1, maxQueue: 0 });
            try {
              // The third call is refused in the tick the two are made: they need to hold their places only that long.
              const held = [failure(tight.chat({ ...ask, provider: 'p' }, { timeoutMs: 300 })), failure(tight.chat({ ...ask, provider: 'p' }, { timeoutMs: 300 }))];
              check('queue full', await failure(tight.chat({ ...ask, provider: 'p' })), 'QUEUE_FULL');
              for (const err of await Promise.all(held)) check('held while the queue was full', err);
              assertClean(`${name}: stats of the full runtime`, JSON.stringify(await tight.stats()));
            } finally {
              await tight.shutdown({ graceMs: 200 });
            }
          }
          assertClean(`${name}: stats`, JSON.stringify(await rt.stats()));
          assertClean(`${name}: stats (inspect)`, inspect(await rt.stats(), { depth: 10 }));
          assertClean(`${name}: events`, JSON.stringify(events));
        } finally {
          hostile.behaviour = undefined;
          hostile.server.closeAllConnections();
          await rt.shutdown({ graceMs: 200 });
        }
        check('after shutdown', await failure(rt.chat({ ...ask, provider: 'p' })), 'SHUTDOWN');
        const expected: ErrorCode[] = ['HTTP', 'BAD_RESPONSE', 'TOO_LARGE', 'CONNECTION', 'TIMEOUT', 'ABORTED', 'UNREACHABLE', 'INVALID_REQUEST', 'WORKER_CRASHED', 'SHUTDOWN'];
        if (provider.kind === 'openai') expected.push('PROVIDER', 'INCOMPLETE');
        if (workers > 1) expected.push('QUEUE_FULL');
        for (const code of expected) assert.ok(codes.has(code), `${name}: provoked ${code} (got ${[...codes].join(', ')})`);
      });
    }

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
            assertCleanError(`${kind} body, secret at offset ${offset}`, await failure(rt.chat({ ...ask, provider: 'p' })));
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
