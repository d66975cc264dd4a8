/**
 * The contender lists, one per protocol. Adding a contender (a parley pool
 * size, another SDK) is one line here; the scenarios, table and chart pick it up.
 */
import type { Contender } from './contender.ts';
import { ollamaJs } from './ollama-js.ts';
import { openaiSdk } from './openai-sdk.ts';
import { parley } from './parley.ts';
import { undiciRaw } from './undici-raw.ts';

export const OPENAI_CONTENDERS: Contender[] = [
  undiciRaw('openai', 'undici (floor)'),
  parley('openai', 1),
  parley('openai', 2),
  parley('openai', 4),
  openaiSdk(),
];

/**
 * Streams also run parley with workerNice 5, the setting suggested for UI
 * hosts on busy machines: where the host thread's event-loop delay is
 * measured, it shows what yielding the CPU to the host thread buys.
 */
export const STREAM_CONTENDERS: Contender[] = [...OPENAI_CONTENDERS.slice(0, -1), parley('openai', 1, { label: 'nice 5', options: { workerNice: 5 } }), OPENAI_CONTENDERS.at(-1)!];

export const OLLAMA_CONTENDERS: Contender[] = [
  undiciRaw('ollama', 'undici ollama (floor)'),
  parley('ollama', 1),
  ollamaJs(),
];

export type { Client, Contender, Protocol } from './contender.ts';
