/**
 * What every contender offers the scenarios: one chat, one stream with every
 * text token handed to the caller on the host thread, and close(). Adding a
 * contender is one entry in contenders/index.ts.
 */
import type { Workload } from '../workload.ts';

export type Protocol = 'openai' | 'ollama';

export interface Client {
  /** Resolves with the reply text. */
  chat(w: Workload): Promise<string>;
  /** Calls onToken for every text delta, on the host thread; resolves with the number of deltas. */
  stream(w: Workload, onToken: (text: string) => void): Promise<number>;
  close(): Promise<void>;
}

export interface Contender {
  /** Short name shown in tables and charts, e.g. "parley w1". */
  name: string;
  protocol: Protocol;
  /** The in-process floor the others are measured against. */
  floor?: boolean;
  open(url: string): Promise<Client>;
  /** Left out of --quick runs, which only show that everything runs (and must stay under a minute). */
  fullRunOnly?: boolean;
  /** Resolves with a reason when the contender cannot run here (e.g. a feature not built yet). */
  unavailable?(url: string): Promise<string | undefined>;
}
