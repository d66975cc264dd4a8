/**
 * One dedicated provider worker (actor mode) as the host sees it: the
 * thread, its Comlink caller and its heartbeat port. It reports what the
 * thread does to its transport, which judges the heartbeat and decides what
 * a death means; it never waits for a wedged thread to come back.
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { batchingEndpoint } from '../../wire/batching-endpoint.ts';
import { ComlinkCaller } from './comlink-caller.ts';
import { ParleyError } from '../../shared/errors.ts';
import type { Heartbeat, ProviderServiceApi, WorkerInit } from '../../shared/protocol.ts';
import type { ResolvedOptions } from '../options.ts';
import { workerExecArgv, workerScript } from './worker-entry.ts';
import type { ThreadReports } from './worker-transport.ts';

export class WorkerHandle {
  readonly id: number;
  readonly rpc: ComlinkCaller<ProviderServiceApi>;
  readonly #worker: Worker;
  readonly #heartbeatPort: MessagePort;
  readonly #exited: Promise<number>;
  readonly #reports: ThreadReports;
  #seq = 0;
  #gone = false;

  /** `generation`: the settings generation of options.providers. */
  constructor(workerId: number, options: ResolvedOptions, generation: number, reports: ThreadReports) {
    this.id = workerId;
    this.#reports = reports;
    const { port1, port2 } = new MessageChannel();
    this.#heartbeatPort = port1;
    const init: WorkerInit = {
      workerId,
      providers: options.providers,
      generation,
      http: options.http,
      nice: options.workerNice,
      heartbeatPort: port2,
    };
    const script = workerScript(options.workerEntry);
    this.#worker = new Worker(script.filename, {
      argv: script.argv,
      workerData: init,
      transferList: [port2],
      execArgv: workerExecArgv(options.workerExecArgv, script),
      resourceLimits: options.resourceLimits,
      name: `parley-provider-${workerId}`,
    });
    this.#exited = new Promise((resolve) => this.#worker.once('exit', resolve));
    this.#worker.once('online', () => reports.started(workerId));
    this.#worker.on('error', (err) => this.#lost(`worker threw: ${describe(err)}`));
    this.#worker.once('exit', (code) => this.#lost(`worker exited with code ${code}`));
    port1.on('message', (msg: Heartbeat) => {
      if (msg.type === 'pong') reports.beat(workerId);
    });
    this.rpc = new ComlinkCaller<ProviderServiceApi>(batchingEndpoint(this.#worker));
    // An idle runtime must not keep the host process alive: calls in flight
    // do, through their deadline timers. Last, because adding a 'message'
    // listener to a port (the Worker's own included) refs it again.
    this.#worker.unref();
    port1.unref();
  }

  /** Resolves with the exit code once the thread is gone. */
  exited(): Promise<number> {
    return this.#exited;
  }

  ping(): void {
    if (!this.#gone) this.#heartbeatPort.postMessage({ type: 'ping', seq: ++this.#seq } satisfies Heartbeat);
  }

  async terminate(): Promise<void> {
    await this.#worker.terminate();
  }

  /**
   * The thread closed everything and is on its way out: if it is still there
   * after `ms`, terminate it. The timer never keeps the host process alive.
   */
  reapAfter(ms: number): void {
    const timer = setTimeout(() => void this.#worker.terminate(), ms).unref();
    void this.#exited.then(() => clearTimeout(timer));
  }

  #lost(reason: string): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#heartbeatPort.close();
    // The transport fails the calls sent here (and counts them) first; what
    // still waits here (a cancel, a stats request) gets the same answer.
    this.#reports.died(this.id, reason);
    this.rpc.close(new ParleyError('WORKER_CRASHED', `provider worker ${this.id} died: ${reason}`));
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return `${err.name}${typeof code === 'string' ? ` ${code}` : ''}: ${err.message}`;
  }
  return String(err);
}
