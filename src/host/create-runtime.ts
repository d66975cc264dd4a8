/**
 * The door to a runtime: options checked and resolved (CONFIG naming the
 * option), the Comlink error transfer installed, telemetry loaded when the
 * host registered OpenTelemetry, and the workers started and waited for.
 */
import { installErrorTransfer } from '../wire/error-transfer.ts';
import { loadTelemetry } from './observability/telemetry.ts';
import { resolveRuntimeOptions, type RuntimeOptions } from './options.ts';
import { Runtime, runtimeReady } from './runtime.ts';
import { ActorTransport } from './transport/actor-transport.ts';
import type { TransportClass } from './transport/worker-transport.ts';

/**
 * Creates a runtime and resolves once its workers (options.workers, default
 * 1) have loaded and answered, so a first call's deadline is not spent on
 * start-up. Rejects with CONFIG for invalid options (synchronously checked,
 * before any thread starts), and with WORKER_CRASHED ("the provider worker
 * could not start: ...") when the workers keep dying before they answer,
 * after shutting down what it started.
 */
export async function createRuntime(options: RuntimeOptions): Promise<Runtime> {
  const resolved = resolveRuntimeOptions(options);
  installErrorTransfer();
  const kinds = Object.fromEntries(Object.entries(resolved.providers).map(([name, config]) => [name, config.kind]));
  // Pool mode's transport, and piscina with it (about 50 ms to load), only
  // for a host that asks for a pool: importing parley stays light.
  const Transport: TransportClass = resolved.workers > 1 ? (await import('./transport/pool-transport.ts')).PoolTransport : ActorTransport;
  const runtime = new Runtime(resolved, Transport, await loadTelemetry(kinds, resolved.telemetry));
  // The workers load while the host waits here, not inside the first call's
  // deadline. The workers are unref'd (an idle runtime must not keep the
  // process alive), so this wait holds the process open itself: a host
  // awaiting createRuntime at top level must not exit mid-wait.
  const holdOpen = setInterval(() => undefined, 60_000);
  try {
    await runtimeReady(runtime);
  } catch (err) {
    await runtime.shutdown({ graceMs: 0 }).catch(() => undefined);
    throw err;
  } finally {
    clearInterval(holdOpen);
  }
  return runtime;
}
