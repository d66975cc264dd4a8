/**
 * The test side of test/fixtures/worker-hooks.mjs: options that inject the
 * preload into provider workers, and a function that sends it a command.
 */
import { BroadcastChannel } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

export const hookPreload = fileURLToPath(new URL('../fixtures/worker-hooks.mjs', import.meta.url));

/** Spread into RuntimeOptions. */
export const withWorkerHooks = { workerExecArgv: ['--import', hookPreload] };

export type WorkerFault = 'crash' | 'throw' | 'wedge' | 'oom';

/** Crash, throw in, wedge or exhaust every hooked worker (or the one with `threadId`). */
export function injectWorkerFault(action: WorkerFault, options: { threadId?: number; ms?: number } = {}): void {
  const channel = new BroadcastChannel('parley-test-hooks');
  channel.postMessage({ action, ...options });
  channel.close();
}
