/**
 * A model server and a runtime pointed at it, torn down together. Every
 * runtime suite starts from here so that each test cleans up what it started.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { createRuntime, ParleyError, type ChatRequest, type ErrorCode, type ProviderConfig, type Runtime, type RuntimeOptions, type StreamEvent } from '../../src/index.ts';
import { startModelServer, type ModelServer, type ModelServerOptions } from '../../src/testing/index.ts';
import { waitFor } from './wait-for.ts';
import { testWorkers } from './workers-mode.ts';

export interface Stack {
  server: ModelServer;
  rt: Runtime;
  /** Shuts the runtime down and closes the server; safe to call twice. */
  close(): Promise<void>;
}

/** The three wire protocols parley speaks; the chat, stream and error matrices run on each. */
export const PROTOCOLS = ['ollama', 'openai', 'anthropic'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** The key the test Anthropic provider sends (Anthropic requires one; the embedded server accepts any). */
export const TEST_ANTHROPIC_KEY = 'sk-ant-test-key';

/** One provider per protocol on one server, each named after its protocol; 'ollama' is the default. */
export function providersFor(server: ModelServer, apiKey?: string): Record<Protocol, ProviderConfig> {
  return {
    ollama: { kind: 'ollama', baseUrl: server.url },
    openai: { kind: 'openai', baseUrl: `${server.url}/v1`, ...(apiKey ? { apiKey } : {}) },
    anthropic: { kind: 'anthropic', baseUrl: server.url, apiKey: apiKey ?? TEST_ANTHROPIC_KEY },
  };
}

/** The chat endpoint of each protocol, as the server records it. */
export const CHAT_PATHS: Record<Protocol, string> = { ollama: '/api/chat', openai: '/v1/chat/completions', anthropic: '/v1/messages' };

/** Chat requests the server received since `from` (an index into server.requests). */
export function chatRequestsSince(server: ModelServer, from: number): number {
  const paths = new Set(Object.values(CHAT_PATHS));
  return server.requests.slice(from).filter((r) => paths.has(r.path.split('?')[0]!)).length;
}

/**
 * Defaults for test runtimes. heartbeatTimeoutMs is raised because the
 * heartbeat clock starts when the Worker is constructed, before tsx has
 * compiled the worker's modules: on a loaded machine a healthy worker that
 * is still starting is declared wedged (see worker-handle.ts).
 */
export const TEST_RUNTIME_DEFAULTS = { timeoutMs: 10_000, heartbeatTimeoutMs: 10_000 } satisfies Partial<RuntimeOptions>;

export async function startStack(
  serverOptions: ModelServerOptions = {},
  runtimeOptions: (server: ModelServer) => Partial<RuntimeOptions> = () => ({}),
): Promise<Stack> {
  const server = await startModelServer(serverOptions);
  let rt: Runtime;
  try {
    rt = await createRuntime({ workers: testWorkers, providers: providersFor(server), ...TEST_RUNTIME_DEFAULTS, ...runtimeOptions(server) });
  } catch (err) {
    await server.close();
    throw err;
  }
  return {
    server,
    rt,
    async close() {
      await rt.shutdown({ graceMs: 500 });
      await server.close();
    },
  };
}

/** Runs `body` with a fresh stack and always tears it down. */
export async function withStack(
  serverOptions: ModelServerOptions,
  runtimeOptions: (server: ModelServer) => Partial<RuntimeOptions>,
  body: (stack: Stack) => Promise<void>,
): Promise<void> {
  const stack = await startStack(serverOptions, runtimeOptions);
  try {
    await body(stack);
  } finally {
    await stack.close();
  }
}

/**
 * A loopback port with nothing listening on it, that stays so: one below
 * 1024, checked to refuse a connection. The OS hands out ports far above
 * that for listen(0), which is how every test server listens. A port freed
 * by closing a listener was not safe: another test process's listen(0)
 * could be given it while a test still counted on it being closed (seen
 * once in npm test: secrets-redaction's "down" provider answered by another
 * suite's model server).
 */
export async function closedPort(): Promise<number> {
  for (let port = 1023; port > 0; port--) {
    if (await refuses(port)) return port;
  }
  throw new Error('closedPort: every port below 1024 on 127.0.0.1 accepts connections');
}

function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

export function ask(content: string, extra: Partial<ChatRequest> = {}): ChatRequest {
  return { model: 'parley-echo', messages: [{ role: 'user', content }], ...extra };
}

/** Awaits a rejection and checks it is a ParleyError with `code`; returns it for further checks. */
export async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<ParleyError> {
  try {
    await promise;
  } catch (err) {
    assertCode(err, code);
    return err;
  }
  assert.fail(`expected a rejection with ${code}, but the call succeeded`);
}

/** Checks that `err` is a ParleyError with `code`. */
export function assertCode(err: unknown, code: ErrorCode): asserts err is ParleyError {
  assert.ok(err instanceof ParleyError, `expected a ParleyError, got ${String(err)}`);
  assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
}

/** The error a stream ends with, whether stream() throws at once or on iteration; a stream that ends well fails the test. */
export async function streamFailure(open: () => AsyncIterable<StreamEvent>): Promise<{ events: StreamEvent[]; error: unknown }> {
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

/** Reads a whole stream: its events, or the error that ended it. */
export async function collect(stream: AsyncIterable<StreamEvent>): Promise<{ events: StreamEvent[]; error?: unknown }> {
  const events: StreamEvent[] = [];
  try {
    for await (const event of stream) events.push(event);
    return { events };
  } catch (error) {
    return { events, error };
  }
}

export function textOf(events: StreamEvent[]): string {
  return events.map((e) => (e.type === 'text' ? e.text : '')).join('');
}

/**
 * Starts the worker (its first call pays for thread start-up), in pool mode
 * every thread (a thread answers stats() once it has loaded), and leaves the
 * server with no open socket, so short deadlines measure only the call and
 * connection counts start from 0.
 */
export async function warm({ server, rt }: Pick<Stack, 'server' | 'rt'>): Promise<void> {
  await rt.models(undefined, { timeoutMs: 30_000 });
  await waitFor(async () => (await rt.stats()).workers.length === testWorkers, { what: `${testWorkers} worker thread(s) answering` });
  server.dropConnections();
  await waitFor(() => server.stats().connectionsOpen === 0, { what: 'warm-up socket closed' });
}
