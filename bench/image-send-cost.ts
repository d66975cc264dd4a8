/**
 * What sending a 5 MB image costs the host thread: the synchronous time of
 * the chat() call (the door's checks and the hand-over to the worker, where
 * the bytes are copied by structured clone), the host loop's busy time over
 * the whole call (eventLoopUtilization: this thread only, not the workers),
 * and the longest event-loop delay seen while the call is in flight (which
 * also shows CPU contention from other processes), against the same request
 * without the image. base64 encoding happens in the worker, so it is not in
 * these figures.
 * Run: node --import tsx bench/image-send-cost.ts [workers]
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { createRuntime, type ChatRequest } from '../src/index.ts';
import { startServerProcess } from './server-process.ts';

const WORKERS = Number(process.argv[2] ?? 1);
const ROUNDS = 15;
const IMAGE_BYTES = 5 * 1024 * 1024;

const image = new Uint8Array(IMAGE_BYTES);
for (let i = 0; i < image.length; i++) image[i] = (i * 131) & 0xff;
image.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

// In its own process: decoding and checking 5 MB of base64 would otherwise stall this thread and be charged to parley.
const server = await startServerProcess(['--max-tokens', '8']);
const rt = await createRuntime({
  workers: WORKERS,
  timeoutMs: 30_000,
  providers: { openai: { kind: 'openai', baseUrl: `${server.url}/v1` } },
});

async function measure(request: ChatRequest): Promise<{ syncMs: number; busyMs: number; stallMs: number }> {
  const sync: number[] = [];
  const busy: number[] = [];
  const stall: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    const elu = performance.eventLoopUtilization();
    const started = performance.now();
    const call = rt.chat(request);
    sync.push(performance.now() - started);
    const result = await call;
    busy.push(performance.eventLoopUtilization(elu).active);
    histogram.disable();
    if (!result.content) throw new Error('no reply');
    stall.push(histogram.max / 1e6);
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return { syncMs: median(sync), busyMs: median(busy), stallMs: median(stall) };
}

const text: ChatRequest = { provider: 'openai', model: 'parley-echo', messages: [{ role: 'user', content: 'Describe the picture.' }] };
const withImage: ChatRequest = {
  ...text,
  messages: [{ role: 'user', content: [{ type: 'text', text: 'Describe the picture.' }, { type: 'image', data: image, mediaType: 'image/png' }] }],
};

await measure(withImage); // warm-up: worker start, JIT, sockets
const base = await measure(text);
const big = await measure(withImage);
console.log(`workers: ${WORKERS}, median of ${ROUNDS} calls, 5 MiB image as a Uint8Array`);
for (const [name, m] of [['text only: ', base], ['with image:', big]] as const) {
  console.log(`${name} chat() returned in ${m.syncMs.toFixed(2)} ms; host loop busy ${m.busyMs.toFixed(2)} ms over the call; longest loop delay ${m.stallMs.toFixed(2)} ms`);
}
await rt.shutdown();
await server.stop();
