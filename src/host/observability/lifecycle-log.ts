/**
 * What the logger hears of the runtime's life: its workers starting,
 * crashing and being replaced, the runtime giving up on them, and provider
 * breakers opening and closing. (Calls, retries and shutdown are logged
 * where they happen: call-observer.ts and runtime.ts.)
 */
import type { EventEmitter } from 'node:events';
import type { FallbackRouter } from '../fallback-router.ts';
import type { WorkerEvents } from '../transport/worker-transport.ts';
import type { RuntimeLog } from './logger.ts';

export function logLifecycle(log: RuntimeLog, events: EventEmitter<WorkerEvents>, router: FallbackRouter): void {
  events.on('worker-started', (e) => log.write('info', { event: 'worker-started', ...e }, `provider worker ${e.workerId} started`));
  events.on('worker-crashed', (e) =>
    log.write('error', { event: 'worker-crashed', ...e }, `provider worker ${e.workerId} died (${e.failedCalls} calls failed): ${e.reason}`),
  );
  events.on('worker-restarted', (e) => log.write('warn', { event: 'worker-restarted', ...e }, `provider worker ${e.workerId} replaces a dead one (restart ${e.restarts})`));
  events.on('failed', (e) => log.write('error', { event: 'runtime-failed', ...e }, `the runtime stopped restarting workers: ${e.reason}`));
  router.onBreakerChange = (provider, state, lastError) => {
    if (state === 'open') {
      log.write('warn', { event: 'breaker-open', provider, lastError }, `provider "${provider}" is skipped for a cooldown after repeated failures`);
    } else {
      log.write('info', { event: 'breaker-closed', provider }, `provider "${provider}" answered again; its breaker is closed`);
    }
  };
}
