/**
 * What the door's check and plain-data copy of a request cost per call, on
 * the bench's chat request (CHAT_64), with structuredClone of the same
 * request (what the thread hop pays anyway) for scale.
 * Run: node --import tsx bench/request-copy.ts
 */
import { validateChatRequest } from '../src/host/request-validation.ts';
import { CHAT_64, MODEL } from './workload.ts';

const request = { model: MODEL, messages: CHAT_64.messages.map((m) => ({ ...m })), maxTokens: CHAT_64.maxTokens };
const ROUNDS = 5;
const CALLS = 200_000;

function perCall(run: () => unknown): number {
  for (let i = 0; i < 20_000; i++) run();
  const times: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < CALLS; i++) run();
    times.push(Number(process.hrtime.bigint() - started) / CALLS / 1_000);
  }
  return times.sort((a, b) => a - b)[Math.floor(ROUNDS / 2)]!;
}

const copy = perCall(() => validateChatRequest(request));
const clone = perCall(() => structuredClone(request));
console.log(`validateChatRequest (check + plain-data copy) on CHAT_64: ${copy.toFixed(2)} µs per call (median of ${ROUNDS} x ${CALLS})`);
console.log(`for scale, structuredClone of the same request:         ${clone.toFixed(2)} µs per call`);
