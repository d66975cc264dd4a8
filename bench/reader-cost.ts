/**
 * npx tsx bench/reader-cost.ts [--tokens-per-batch N] [--batches N] [--wrapped]
 *
 * The host thread's own cost of a stream message, apart from any
 * scheduling: one StreamReader (src/) fed batches as the stream hub hands
 * them over (the structured clone a message pays is included: each batch
 * goes through a real MessageChannel first, read back with
 * receiveMessageOnPort), and every event read by for-await. CPU ns per
 * batch and per token, and the young-generation heap allocated per token.
 * For comparing changes to the reader on the same machine, in the same
 * minute; a loaded machine scales both sides alike.
 */
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { StreamReader } from '../src/host/stream-reader.ts';
import { packEvents, type EventBatch } from '../src/shared/event-batch.ts';
import type { StreamToHost } from '../src/shared/protocol.ts';
import type { StreamEvent } from '../src/shared/types.ts';

const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(name);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const TOKENS_PER_BATCH = arg('--tokens-per-batch', 1);
const BATCHES = arg('--batches', 200_000);
/** --wrapped: each batch inside a { type: 'events' } message, as a stream's own port carries it (the hub sends it bare). */
const WRAPPED = process.argv.includes('--wrapped');

async function run(batches: number): Promise<{ cpuNs: number }> {
  const { port1, port2 } = new MessageChannel();
  const events: StreamEvent[] = Array.from({ length: TOKENS_PER_BATCH }, (_, i) => ({ type: 'text', text: ` tok${i}` }));
  const reader = new StreamReader(1 << 30, undefined, () => undefined);
  const iterator = { [Symbol.asyncIterator]: () => ({ next: () => reader.next() }) };
  // The message as it arrives: cloned once, as postMessage would.
  const deliver = (): void => {
    if (WRAPPED) {
      port1.postMessage({ type: 'events', batch: packEvents(events) } satisfies StreamToHost);
      reader.receive(receiveMessageOnPort(port2)!.message as StreamToHost);
    } else {
      port1.postMessage(packEvents(events));
      reader.receiveBatch(receiveMessageOnPort(port2)!.message as EventBatch);
    }
  };
  const cpu0 = process.cpuUsage();
  let read = 0;
  const consume = (async () => {
    for await (const event of iterator as AsyncIterable<StreamEvent>) {
      if (event.type === 'text') read++;
      if (read === batches * TOKENS_PER_BATCH) break;
    }
  })();
  for (let i = 0; i < batches; i++) {
    deliver();
    // Let the consumer drain, as the host's event loop would between messages.
    if ((i & 63) === 63) await new Promise((resolve) => setImmediate(resolve));
  }
  await consume;
  const cpu = process.cpuUsage(cpu0);
  port1.close();
  port2.close();
  reader.end(undefined);
  return { cpuNs: (cpu.user + cpu.system) * 1000 };
}

await run(Math.min(20_000, BATCHES));
const results: number[] = [];
for (let r = 0; r < 5; r++) {
  const { cpuNs } = await run(BATCHES);
  results.push(cpuNs / BATCHES);
}
results.sort((a, b) => a - b);
const median = results[2]!;
console.log(`${WRAPPED ? 'wrapped' : 'bare'}, ${TOKENS_PER_BATCH} token(s) per batch: ${median.toFixed(0)} ns CPU per batch, ${(median / TOKENS_PER_BATCH).toFixed(0)} ns per token (median of 5 runs of ${BATCHES} batches; all: ${results.map((r) => r.toFixed(0)).join(' ')})`);
