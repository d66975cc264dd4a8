/**
 * One sample of the lifecycle scenario (scenarios/lifecycle.ts), run by
 * plain node in a fresh process: no module is cached and nothing is warm,
 * as in a CLI `parley ask` or a host's first call. Plain JavaScript, so no
 * transform (tsx) is timed with it.
 *
 *   node bench/lifecycle-sample.mjs '{"kind":"parley","entry":"/abs/dist/src/index.js",...}'
 *
 * kinds:
 *   parley  import the entry, createRuntime, two chats, shutdown() idle; then
 *           a second runtime with one stream in flight (on `slowUrl`, whose
 *           tokens are slow) and shutdown({ graceMs })
 *   worker  a bare worker thread: new Worker(eval'd script) until its first
 *           message, then terminate() until it resolves (the thread exited)
 *   undici  import('undici') alone, the provider worker's largest import
 *
 * Prints one JSON line of figures in ms (performance.now(), which starts at
 * the process's start) and `endEpochMs`, so the parent can time the exit;
 * then the process must exit by itself: a handle left open shows as a slow
 * exit. On failure: `{ "error": message, "code": ParleyError code }`, exit 1.
 */
import { Worker } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';

const nodeStartMs = performance.now();
const spec = JSON.parse(process.argv[2] ?? '{}');

function options(baseUrl) {
  return { providers: { bench: { kind: 'openai', baseUrl: `${baseUrl}/v1`, apiKey: 'x' } }, maxRetries: 0, workers: spec.workers };
}

async function parleySample() {
  let t = performance.now();
  const parley = await import(pathToFileURL(spec.entry).href);
  const importMs = performance.now() - t;

  const created = performance.now();
  const runtime = await parley.createRuntime(options(spec.url));
  const createMs = performance.now() - created;
  await runtime.chat(spec.chat);
  const firstReplyMs = performance.now() - created;
  t = performance.now();
  await runtime.chat(spec.chat);
  const secondReplyMs = performance.now() - t;
  t = performance.now();
  const idle = await runtime.shutdown();
  const shutdownIdleMs = performance.now() - t;

  // A stream still sending tokens when shutdown starts: the grace runs out,
  // the call is abandoned with SHUTDOWN, the workers close.
  const busy = await parley.createRuntime(options(spec.slowUrl));
  const events = busy.stream(spec.stream)[Symbol.asyncIterator]();
  let step;
  do step = await events.next();
  while (!step.done && step.value.type !== 'text');
  if (step.done) throw new Error('the stream ended before shutdown: the slow server is not slow');
  const outcome = (async () => {
    try {
      while (!(await events.next()).done);
      return 'done';
    } catch (err) {
      return err?.code ?? String(err);
    }
  })();
  t = performance.now();
  const inFlight = await busy.shutdown({ graceMs: spec.graceMs });
  const shutdownInFlightMs = performance.now() - t;
  const streamEnd = await outcome;

  return {
    nodeStartMs,
    importMs,
    createMs,
    firstReplyMs,
    secondReplyMs,
    shutdownIdleMs,
    shutdownIdleForced: idle.forced ? 1 : 0,
    shutdownInFlightMs,
    inFlightAborted: inFlight.aborted,
    inFlightForced: inFlight.forced ? 1 : 0,
    streamEndedShutdown: streamEnd === 'SHUTDOWN' ? 1 : 0,
  };
}

async function workerSample() {
  const t = performance.now();
  const worker = new Worker(`require('node:worker_threads').parentPort.postMessage(0)`, { eval: true });
  await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const workerStartMs = performance.now() - t;
  const t2 = performance.now();
  await worker.terminate();
  return { nodeStartMs, workerStartMs, workerExitMs: performance.now() - t2 };
}

async function undiciSample() {
  const t = performance.now();
  await import('undici');
  return { nodeStartMs, undiciImportMs: performance.now() - t };
}

const run = { parley: parleySample, worker: workerSample, undici: undiciSample }[spec.kind];
try {
  if (!run) throw new Error(`unknown sample kind ${JSON.stringify(spec.kind)}`);
  const figures = await run();
  process.stdout.write(`${JSON.stringify({ ...figures, endEpochMs: performance.timeOrigin + performance.now() })}\n`);
} catch (err) {
  process.stdout.write(`${JSON.stringify({ error: String(err?.message ?? err), code: err?.code })}\n`);
  // A runtime left open would keep the process alive until the parent gives up on it.
  process.exit(1);
}
