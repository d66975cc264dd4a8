/**
 * A host with a busy main loop, like a game, an editor or a DCC tool: a frame
 * every 16 ms doing ~8 ms of synchronous work. It streams chat replies through
 * parley and measures its own frame timing with streaming off, then on. The
 * HTTP, parsing and retries live in parley's worker thread, so the two columns
 * should look the same.
 *
 *   npx tsx examples/render-loop-host.ts
 *
 * The model server runs in a child process (as a real provider would be
 * elsewhere), so the numbers show only what parley costs the host thread.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createRuntime } from '../src/index.ts';

const FRAME_MS = 16;
const WORK_MS = 8;
const PHASE_MS = 3_000;
/** Lets the JIT settle so the first phase is not penalised. */
const WARMUP_MS = 500;
const CONCURRENT_STREAMS = 4;

interface FrameStats {
  frames: number;
  p50: number;
  p99: number;
  max: number;
  loopDelayP99: number;
}

/** ~8 ms of "rendering": synchronous, as a frame's work is. */
function renderFrame(): void {
  const end = performance.now() + WORK_MS;
  let x = 0;
  while (performance.now() < end) x += Math.sqrt(x + 1);
  if (x < 0) console.log(x);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** Runs the frame loop for `ms` and reports the time between frames. */
async function measureFrames(ms: number): Promise<FrameStats> {
  const deltas: number[] = [];
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    deltas.push(now - last);
    last = now;
    renderFrame();
  }, FRAME_MS);
  await new Promise((resolve) => setTimeout(resolve, ms));
  clearInterval(timer);
  delay.disable();
  deltas.sort((a, b) => a - b);
  return {
    frames: deltas.length,
    p50: percentile(deltas, 50),
    p99: percentile(deltas, 99),
    max: deltas.at(-1) ?? 0,
    loopDelayP99: delay.percentile(99) / 1e6,
  };
}

async function startServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  const serve = fileURLToPath(new URL('../src/testing/serve.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', serve, '--port', '0', '--token-delay-ms', '10', '--max-tokens', '400'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`model server exited with ${code}`)));
  });
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

const server = await startServer();
const runtime = await createRuntime({ providers: { local: { kind: 'ollama', baseUrl: server.url } } });
try {
  // Start the worker and its connection before measuring anything.
  await runtime.chat({ model: 'parley-echo', messages: [{ role: 'user', content: 'warm up' }], maxTokens: 4 });
  await measureFrames(WARMUP_MS);

  const off = await measureFrames(PHASE_MS);

  let streaming = true;
  let tokens = 0;
  let replies = 0;
  const streamers = Array.from({ length: CONCURRENT_STREAMS }, async (_, i) => {
    const conversation = await runtime.conversation({ model: 'parley-echo', maxTokens: 400 });
    while (streaming) {
      for await (const event of conversation.stream(`host stream ${i}, reply ${replies}`)) {
        if (event.type === 'text') tokens++;
        if (!streaming) break; // leaving the loop early cancels the request
      }
      replies++;
      await conversation.reset();
    }
  });
  const on = await measureFrames(PHASE_MS);
  streaming = false;
  await Promise.all(streamers);

  const row = (name: string, s: FrameStats) =>
    `${name.padEnd(14)} ${String(s.frames).padStart(6)} ${s.p50.toFixed(1).padStart(8)} ${s.p99.toFixed(1).padStart(8)} ${s.max.toFixed(1).padStart(8)} ${s.loopDelayP99.toFixed(1).padStart(12)}`;
  console.log(`frame loop: every ${FRAME_MS} ms, ${WORK_MS} ms of work per frame; ${CONCURRENT_STREAMS} concurrent streams when on`);
  console.log(`${'streaming'.padEnd(14)} ${'frames'.padStart(6)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)} ${'loop p99 ms'.padStart(12)}`);
  console.log(row('off', off));
  console.log(row('on', on));
  console.log(`streamed ${tokens} tokens in ${replies} replies while the frame loop ran (${Math.round(tokens / (PHASE_MS / 1000))} tokens/s)`);
  console.log(`p99 frame time changed by ${(on.p99 - off.p99).toFixed(1)} ms with streaming on`);
} finally {
  await runtime.shutdown();
  await server.stop();
}
