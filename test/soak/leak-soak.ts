/**
 * Leak soak (kept out of the default `npm test`: it takes a minute or two).
 * Phases, in a row: streams aborted mid-reply, calls timing out while the
 * server holds its headers, bodies that linger after their end marker,
 * stream iterators read once and dropped, cancels of calls queued for the
 * one socket of a `connections: 1` runtime, and shutdown with conversations
 * left open (streams in flight, transcripts on disk). After each phase: no
 * socket busy, no call in any worker or on the host, and no file descriptor
 * more than when the phase began (/proc/self/fd: sockets, transcripts, and
 * the threads of the runtimes a phase creates). The heaps must not grow with
 * the number of calls.
 *
 *   npm run soak            (PARLEY_TEST_WORKERS=2 npm run soak for the pool)
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRuntime, ParleyError, type Runtime, type RuntimeOptions, type RuntimeStats } from '../../src/index.ts';
import { startModelServer, waitFor } from '../../src/testing/index.ts';
import { BroadcastChannel } from 'node:worker_threads';
import { withWorkerHooks } from '../helpers/worker-hooks.ts';

const CALLS = Number(process.env.SOAK_CALLS ?? 1_000);
const WORKERS = Number(process.env.PARLEY_TEST_WORKERS ?? 1);
const MB = 1024 * 1024;
/** Idle keep-alive sockets close at the Agent's keep-alive timeout (4 s): the wait for the fd baseline covers it. */
const RELEASE_WAIT_MS = 20_000;

const server = await startModelServer({ tokenDelayMs: 2 });
const lingering = await startLingeringServer();
const runtimeOptions = (extra: Partial<RuntimeOptions> = {}): RuntimeOptions => ({
  providers: {
    local: { kind: 'openai', baseUrl: `${server.url}/v1` },
    linger: { kind: 'openai', baseUrl: `${lingering.url}/v1` },
  },
  workers: WORKERS,
  connections: 16,
  heartbeatTimeoutMs: 10_000,
  ...withWorkerHooks,
  ...extra,
});
const rt = await createRuntime(runtimeOptions());
const ask = { model: 'parley-echo', messages: [{ role: 'user' as const, content: 'soak' }], maxTokens: 200 };

function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}
function busySockets(stats: RuntimeStats): number {
  return stats.workers.reduce((n, w) => n + w.providers.reduce((m, p) => m + p.running + p.pending, 0), 0);
}
function workerCalls(stats: RuntimeStats): number {
  return stats.workers.reduce((n, w) => n + w.inFlight, 0);
}
function workerHeap(stats: RuntimeStats): number {
  return stats.workers.reduce((n, w) => n + w.heapUsedBytes, 0);
}
/** Collects the host's garbage and every worker's (through the test hook), so heap figures compare what is live. */
async function gc(runtime: Runtime | undefined): Promise<void> {
  (globalThis as { gc?: () => void }).gc?.();
  if (!runtime) return;
  const threads = (await runtime.stats()).workers.length;
  const channel = new BroadcastChannel('parley-test-hooks');
  let collected = 0;
  channel.onmessage = (event) => {
    if ((event as unknown as { data: { reply?: string } }).data.reply === 'gc') collected++;
  };
  try {
    channel.postMessage({ action: 'gc' });
    await waitFor(() => collected >= threads, { timeoutMs: RELEASE_WAIT_MS, what: 'every worker collected its garbage' });
  } finally {
    channel.close();
  }
}
async function expectCode(call: Promise<unknown>, code: string, what: string): Promise<void> {
  try {
    await call;
  } catch (err) {
    if (err instanceof ParleyError && err.code === code) return;
    throw err;
  }
  throw new Error(`${what} completed`);
}

/**
 * An OpenAI-compatible server that sends a whole streamed reply, [DONE]
 * included, then keeps the response open with SSE comments, as a lingering
 * gateway does.
 */
async function startLingeringServer() {
  const open = new Set<ServerResponse>();
  const srv = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`data: ${JSON.stringify({ model: 'm', choices: [{ index: 0, delta: { content: 'lingering' } }] })}\n\n`);
    res.write(`data: ${JSON.stringify({ model: 'm', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`);
    res.write('data: [DONE]\n\n');
    open.add(res);
    const timer = setInterval(() => res.write(': ping\n\n'), 20);
    res.on('close', () => {
      clearInterval(timer);
      open.delete(res);
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    open: () => open.size,
    close: () => new Promise<void>((resolve) => srv.close(() => resolve()).closeAllConnections()),
  };
}

async function abortedStream(runtime: Runtime): Promise<void> {
  const controller = new AbortController();
  await expectCode(
    (async () => {
      for await (const event of runtime.stream(ask, { signal: controller.signal })) if (event.type === 'text') controller.abort();
    })(),
    'ABORTED',
    'a stream aborted mid-reply',
  );
}

async function timedOutCall(runtime: Runtime): Promise<void> {
  await expectCode(runtime.chat(ask, { timeoutMs: 20 }), 'TIMEOUT', 'a call past its deadline');
}

async function lingeringStream(runtime: Runtime): Promise<void> {
  let done = false;
  for await (const event of runtime.stream({ ...ask, provider: 'linger' })) if (event.type === 'done') done = true;
  if (!done) throw new Error('a lingering stream gave no done');
}

/** Ten streams read once and dropped at a time: each is released at its 300 ms deadline. */
async function droppedIterators(runtime: Runtime): Promise<void> {
  const dropped = Array.from({ length: 10 }, () => runtime.stream({ ...ask, maxTokens: 100_000 }, { timeoutMs: 300 })[Symbol.asyncIterator]());
  await Promise.all(dropped.map((iterator) => iterator.next()));
  await waitFor(async () => (await runtime.stats()).inFlight === 0, { timeoutMs: 10_000, what: 'dropped iterators reach their deadline' });
}

/** Many calls for one socket: the first holds it, the rest wait in undici's queue, and all are cancelled. */
async function queuedCancels(runtime: Runtime): Promise<void> {
  const calls = Array.from({ length: 50 }, (_, i) => {
    if (i % 2 === 0) return expectCode(runtime.chat(ask, { timeoutMs: 200 }), 'TIMEOUT', 'a queued call past its deadline');
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    return expectCode(runtime.chat(ask, { signal: controller.signal, timeoutMs: 60_000 }), 'ABORTED', 'an aborted queued call');
  });
  await Promise.all(calls);
}

/** Conversations opened and left open: with transcripts, with a stream in flight. shutdown() must close them all. */
async function shutdownWithOpenConversations(dir: string, round: number): Promise<{ forced: boolean }> {
  const runtime = await createRuntime(runtimeOptions({ timeoutMs: 30_000 }));
  const streams: Promise<unknown>[] = [];
  for (let i = 0; i < 10; i++) {
    const conversation = await runtime.conversation({ model: 'parley-echo', ...(i % 2 === 0 ? { store: join(dir, `c${i}.jsonl`) } : {}) });
    await conversation.send(`turn ${round}`);
    // Left running: shutdown settles it (drained or SHUTDOWN), and the conversation is never closed by hand.
    streams.push(
      (async () => {
        for await (const _ of conversation.stream('a long one')) {
          // read until shutdown ends it
        }
      })().catch((err: unknown) => {
        if (!(err instanceof ParleyError) || err.code !== 'SHUTDOWN') throw err;
      }),
    );
  }
  const report = await runtime.shutdown({ graceMs: 50 });
  await Promise.all(streams);
  return report;
}

interface Row {
  name: string;
  calls: number;
  seconds: string;
  busySockets: number;
  workerCalls: number;
  hostCalls: number;
  extraFds: number;
  serverOpen: number;
  hostHeapMB: string;
  workerHeapMB: string;
}

/**
 * After a phase: waits for the runtime (if any) to be idle and measures it,
 * runs `release` (a phase's own runtime is shut down there), then waits for
 * the fd count to come back to `fdsBefore`, the count when the phase began.
 */
async function settle(
  name: string,
  calls: number,
  started: number,
  fdsBefore: number,
  runtime: Runtime | undefined,
  release: () => Promise<void> = async () => {},
): Promise<Row> {
  let stats: RuntimeStats | undefined;
  if (runtime) {
    await waitFor(async () => {
      const s = await runtime.stats();
      return busySockets(s) === 0 && workerCalls(s) === 0 && s.inFlight === 0;
    }, { timeoutMs: RELEASE_WAIT_MS, what: `${name}: nothing busy` }).catch(() => undefined);
    await gc(runtime);
    stats = await runtime.stats();
  }
  await release();
  await waitFor(() => fdCount() <= fdsBefore, { timeoutMs: RELEASE_WAIT_MS, what: `${name}: fds back to where they were` }).catch(() => undefined);
  return {
    name,
    calls,
    seconds: ((performance.now() - started) / 1000).toFixed(1),
    busySockets: stats ? busySockets(stats) : 0,
    workerCalls: stats ? workerCalls(stats) : 0,
    hostCalls: stats ? stats.inFlight : 0,
    extraFds: fdCount() - fdsBefore,
    serverOpen: server.stats().connectionsOpen + lingering.open(),
    hostHeapMB: (process.memoryUsage().heapUsed / MB).toFixed(1),
    workerHeapMB: stats ? (workerHeap(stats) / MB).toFixed(1) : '-',
  };
}

async function phase(name: string, n: number, one: (runtime: Runtime) => Promise<void>): Promise<Row> {
  const started = performance.now();
  const fdsBefore = fdCount();
  for (let i = 0; i < n; i++) await one(rt);
  return settle(name, n, started, fdsBefore, rt);
}

await waitFor(async () => (await rt.stats()).workers.length === WORKERS, { timeoutMs: 30_000, what: 'every worker up' });

const rows: Row[] = [];
rows.push(await phase('warm-up aborts', 100, abortedStream));
rows.push(await phase('aborted streams', CALLS, abortedStream));
server.setFault({ kind: 'slow-headers', delayMs: 1_000 });
rows.push(await phase('warm-up timeouts', 100, timedOutCall));
rows.push(await phase('timed-out calls', CALLS, timedOutCall));
server.setFault(undefined);
rows.push(await phase('lingering bodies', Math.ceil(CALLS / 5), lingeringStream));
rows.push(await phase('dropped iterators (x10)', Math.ceil(CALLS / 50), droppedIterators));
rows.push(await phase('aborted streams again', CALLS, abortedStream));

server.setFault({ kind: 'slow-headers', delayMs: 2_000 });
const queuedStarted = performance.now();
const queuedFds = fdCount();
const single = await createRuntime(runtimeOptions({ connections: 1, timeoutMs: 60_000 }));
let singleReport = { forced: false };
const queuedRounds = Math.ceil(CALLS / 100);
for (let i = 0; i < queuedRounds; i++) await queuedCancels(single);
rows.push(
  await settle('queued cancels, connections 1 (x50)', queuedRounds, queuedStarted, queuedFds, single, async () => {
    singleReport = await single.shutdown();
  }),
);
server.setFault(undefined);

const dir = mkdtempSync(join(tmpdir(), 'parley-soak-'));
const conversationStarted = performance.now();
const conversationFds = fdCount();
const conversationReports: { forced: boolean }[] = [];
let conversationError: unknown;
try {
  for (let round = 0; round < Math.ceil(CALLS / 100); round++) conversationReports.push(await shutdownWithOpenConversations(dir, round));
} catch (err) {
  // Reported with the other failures: the soak still measures and cleans up.
  conversationError = err;
}
rows.push(await settle('shutdown with open conversations (x10)', conversationReports.length, conversationStarted, conversationFds, undefined));
rmSync(dir, { recursive: true, force: true });

console.table(rows);

const report = await rt.shutdown();
await waitFor(() => server.stats().connectionsOpen === 0, { timeoutMs: 5_000, what: 'server sockets closed after shutdown' });
console.log(`shutdown: ${JSON.stringify(report)}; server sockets open after shutdown: ${server.stats().connectionsOpen}`);
await server.close();
await lingering.close();

const first = rows[1]!;
const last = rows.find((r) => r.name === 'aborted streams again')!;
const growthMB = Number(last.workerHeapMB) - Number(first.workerHeapMB);
console.log(`worker heap after ${CALLS} aborted streams: ${first.workerHeapMB} MB; after the phases between and ${CALLS} more aborts: ${last.workerHeapMB} MB (${growthMB >= 0 ? '+' : ''}${growthMB.toFixed(1)} MB)`);
const failures = rows.flatMap((r) => {
  const out: string[] = [];
  if (r.busySockets !== 0) out.push(`${r.name}: ${r.busySockets} busy sockets`);
  if (r.workerCalls !== 0) out.push(`${r.name}: ${r.workerCalls} calls left in the workers`);
  if (r.hostCalls !== 0) out.push(`${r.name}: ${r.hostCalls} calls left on the host`);
  // A warm-up may keep what a thread opens once for its life: libuv opens
  // /dev/null as its EMFILE reserve the first time a worker's loop makes a
  // socket. Every later phase must give back all it opened.
  if (r.extraFds > 0 && !r.name.startsWith('warm-up')) out.push(`${r.name}: ${r.extraFds} file descriptors more than before`);
  return out;
});
if (conversationError !== undefined) {
  const code = conversationError instanceof ParleyError ? ` ${conversationError.code}` : '';
  failures.push(`shutdown with open conversations: round ${conversationReports.length + 1} failed:${code} ${conversationError instanceof Error ? conversationError.message : String(conversationError)}`);
}
if (growthMB > 10) failures.push(`worker heap grew ${growthMB.toFixed(1)} MB`);
if (report.forced || singleReport.forced || conversationReports.some((r) => r.forced)) failures.push('a shutdown had to terminate a worker');
if (failures.length > 0) {
  console.error(`FAIL: ${failures.join('; ')}`);
  process.exitCode = 1;
} else console.log('PASS: after every phase 0 busy sockets, 0 calls in the workers and on the host, 0 extra file descriptors; no heap growth with the number of calls; graceful shutdowns');
