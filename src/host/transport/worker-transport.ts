/**
 * What the Runtime needs from its workers, whichever way they run: one
 * dedicated actor over Comlink (workers: 1) or a piscina pool (workers > 1).
 * The Runtime keeps deadlines, signals and the pending map; a backend only
 * delivers work, cancels it, supervises threads and closes them.
 */
import type { MessagePort } from 'node:worker_threads';
import type { ParleyError } from '../../shared/errors.ts';
import type { PendingCall } from '../pending-calls.ts';
import type { WorkerStats } from '../../shared/protocol.ts';
import type { ChatRequest } from '../../shared/types.ts';

export type Work =
  | { kind: 'chat'; provider: string; req: ChatRequest }
  | { kind: 'stream'; provider: string; req: ChatRequest; port: MessagePort }
  | { kind: 'models'; provider: string }
  | { kind: 'health'; provider: string };

export type TransportState = 'running' | 'restarting' | 'failed' | 'closed';

export interface CrashRecord {
  workerId: number;
  reason: string;
  at: string;
}

/** How a backend tells the Runtime (and through it, the host) what happened. */
export interface TransportHooks {
  started(workerId: number): void;
  /**
   * A worker died while serving; the backend has already failed or will fail
   * the calls it ran. `failedCalls` when the backend knows how many.
   */
  crashed(workerId: number, reason: string, failedCalls?: number): void;
  restarted(workerId: number): void;
  failed(reason: string): void;
}

export interface WorkerTransport {
  readonly state: TransportState;
  readonly restarts: number;
  readonly lastCrash: CrashRecord | undefined;
  /**
   * Delivers the call's work to a worker, which answers through the call
   * itself: `call.resolve(result)` (for a stream: once started, or once
   * ended; the stream's own port carries its outcome) or `call.reject(err)`.
   */
  dispatch(call: PendingCall, work: Work): void;
  /** The call failed on the host side (deadline, abort, shutdown): stop its HTTP request. */
  cancel(call: PendingCall, reason: ParleyError): void;
  stats(): Promise<WorkerStats[]>;
  /** Leaves the failed state with fresh workers. */
  restart(): void;
  /**
   * Stops supervising and sends every worker the graceful close (abort what
   * is left, close every Agent). Waits up to `ms`; terminates as a fallback
   * and says so in `forced`.
   */
  close(ms: number): Promise<{ forced: boolean }>;
}
