/**
 * Leak soak (kept out of the default `npm test`: it takes about a minute):
 * 1,000 streams aborted mid-reply and 1,000 calls that time out while the
 * server holds its headers, in a row. Afterwards no socket may be busy, the
 * server's connection count must be back to the keep-alive floor, and the
 * heaps must not have grown with the number of calls.
 *
 *   npm run soak            (PARLEY_TEST_WORKERS=2 npm run soak for the pool)
 */
import { createRuntime, ParleyError, type Runtime, type RuntimeStats } from '../../src/index.ts';
import { startModelServer, waitFor } from '../../src/testing/index.ts';

const CALLS = Number(process.env.SOAK_CALLS ?? 1_000);
const WORKERS = Number(process.env.PARLEY_TEST_WORKERS ?? 1);
const MB = 1024 * 1024;

const server = await startModelServer({ tokenDelayMs: 2 });
const rt = await createRuntime({
  providers: { local: { kind: 'openai', baseUrl: `${server.url}/v1` } },
  workers: WORKERS,
  connections: 16,
});
const ask = { model: 'parley-echo', messages: [{ role: 'user' as const, content: 'soak' }], maxTokens: 200 };

function busySockets(stats: RuntimeStats): number {
  return stats.workers.reduce((n, w) => n + w.providers.reduce((m, p) => m + p.running + p.pending, 0), 0);
}
function workerHeap(stats: RuntimeStats): number {
  return stats.workers.reduce((n, w) => n + w.heapUsedBytes, 0);
}
function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

async function abortedStream(runtime: Runtime): Promise<void> {
  const controller = new AbortController();
  try {
    for await (const event of runtime.stream(ask, { signal: controller.signal })) {
      if (event.type === 'text') controller.abort();
    }
    throw new Error('a stream aborted mid-reply completed');
  } catch (err) {
    if (!(err instanceof ParleyError) || err.code !== 'ABORTED') throw err;
  }
}

async function timedOutCall(runtime: Runtime): Promise<void> {
  try {
    await runtime.chat(ask, { timeoutMs: 20 });
    throw new Error('a call past its deadline completed');
  } catch (err) {
    if (!(err instanceof ParleyError) || err.code !== 'TIMEOUT') throw err;
  }
}

async function phase(name: string, n: number, one: (runtime: Runtime) => Promise<void>) {
  const started = performance.now();
  for (let i = 0; i < n; i++) await one(rt);
  // Sockets released: nothing running or pending in any Agent, and the server
  // back to at most the pool's keep-alive sockets.
  await waitFor(async () => busySockets(await rt.stats()) === 0, { timeoutMs: 10_000, what: `${name}: busy sockets at 0` });
  gc();
  const stats = await rt.stats();
  return {
    name,
    calls: n,
    seconds: ((performance.now() - started) / 1000).toFixed(1),
    busySockets: busySockets(stats),
    serverOpen: server.stats().connectionsOpen,
    hostHeapMB: (process.memoryUsage().heapUsed / MB).toFixed(1),
    workerHeapMB: (workerHeap(stats) / MB).toFixed(1),
  };
}

const rows = [];
rows.push(await phase('warm-up aborts', 100, abortedStream));
rows.push(await phase('aborted streams', CALLS, abortedStream));
server.setFault({ kind: 'slow-headers', delayMs: 1_000 });
rows.push(await phase('warm-up timeouts', 100, timedOutCall));
rows.push(await phase('timed-out calls', CALLS, timedOutCall));
server.setFault(undefined);
rows.push(await phase('aborted streams again', CALLS, abortedStream));
console.table(rows);

const report = await rt.shutdown();
await waitFor(() => server.stats().connectionsOpen === 0, { timeoutMs: 5_000, what: 'server sockets closed after shutdown' });
console.log(`shutdown: ${JSON.stringify(report)}; server sockets open after shutdown: ${server.stats().connectionsOpen}`);
await server.close();

const first = rows[1]!;
const last = rows[4]!;
const growthMB = Number(last.workerHeapMB) - Number(first.workerHeapMB);
console.log(`worker heap after ${CALLS} aborted streams: ${first.workerHeapMB} MB; after ${CALLS} timeouts and ${CALLS} more aborts: ${last.workerHeapMB} MB (${growthMB >= 0 ? '+' : ''}${growthMB.toFixed(1)} MB)`);
const failures = rows.filter((r) => r.busySockets !== 0).map((r) => `${r.name}: ${r.busySockets} busy sockets`);
if (growthMB > 10) failures.push(`worker heap grew ${growthMB.toFixed(1)} MB`);
if (report.forced) failures.push('shutdown had to terminate a worker');
if (failures.length > 0) {
  console.error(`FAIL: ${failures.join('; ')}`);
  process.exitCode = 1;
} else console.log('PASS: 0 busy sockets after every phase, no heap growth with the number of calls, graceful shutdown');
