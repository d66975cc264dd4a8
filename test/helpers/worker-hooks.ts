/**
 * The test side of test/fixtures/worker-hooks.mjs: options that inject the
 * preload into provider workers, and a function that sends it a command.
 */
import { BroadcastChannel } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { Runtime } from '../../src/index.ts';
import { testWorkers } from './workers-mode.ts';
import { waitFor } from './wait-for.ts';

export const hookPreload = fileURLToPath(new URL('../fixtures/worker-hooks.mjs', import.meta.url));

/** Spread into RuntimeOptions. */
export const withWorkerHooks = { workerExecArgv: ['--import', hookPreload] };

/** 'wedge' blocks the thread's event loop (Atomics.wait); 'spin' blocks it with a busy loop that burns a core. */
export type WorkerFault = 'crash' | 'throw' | 'wedge' | 'spin' | 'oom' | 'hold-timer';

/** Crash, throw in, wedge or exhaust every hooked worker (or the one with `threadId`). */
export function injectWorkerFault(action: WorkerFault, options: { threadId?: number; ms?: number } = {}): void {
  const channel = new BroadcastChannel('parley-test-hooks');
  channel.postMessage({ action, ...options });
  channel.close();
}

/**
 * The thread serving a call right now (the one with calls in flight): in
 * pool mode a fault aimed at it leaves the other threads alone.
 */
export async function threadServing(rt: Runtime): Promise<number> {
  const busy = await waitFor(async () => (await rt.stats()).workers.find((w) => w.inFlight > 0), { what: 'a thread with a call in flight' });
  return busy!.workerId;
}

/**
 * Injects a worker fault the way the suites mean it: the one actor, or in
 * pool mode one thread (the one serving a call, else the first), since a
 * real fault takes down a thread, not the whole pool at the same instant.
 */
export async function hitWorker(rt: Runtime, fault: WorkerFault): Promise<void> {
  if (testWorkers <= 1) return injectWorkerFault(fault);
  const workers = (await rt.stats()).workers;
  const target = workers.find((w) => w.inFlight > 0) ?? workers[0];
  if (!target) throw new Error('hitWorker: no pool thread answered stats()');
  injectWorkerFault(fault, { threadId: target.workerId });
}

/** Sends `action` to every hooked worker and resolves once `count` of them said it is done (the hooks that reply: 'hold-timer'). */
export async function injectAndConfirm(action: 'hold-timer', count: number): Promise<void> {
  const channel = new BroadcastChannel('parley-test-hooks');
  let replies = 0;
  channel.onmessage = (event) => {
    if ((event as unknown as { data: { reply?: string } }).data.reply === action) replies++;
  };
  try {
    channel.postMessage({ action });
    await waitFor(() => replies >= count, { what: `${count} workers confirmed ${action}` });
  } finally {
    channel.close();
  }
}
