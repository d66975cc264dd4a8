/**
 * One provider worker as the host sees it: the thread, its Comlink caller
 * and its heartbeat. It reports its death exactly once (exit, error, or a
 * heartbeat silent past the timeout, in which case it terminates the thread
 * itself), and never waits for a wedged thread to come back.
 */
import { MessageChannel, Worker, type MessagePort, type ResourceLimits } from 'node:worker_threads';
import { batchingEndpoint } from '../../wire/batching-endpoint.ts';
import { ComlinkCaller } from './comlink-caller.ts';
import { ParleyError } from '../../shared/errors.ts';
import type { Heartbeat, ProviderServiceApi, TransportSettings, WorkerInit } from '../../shared/protocol.ts';
import type { ProviderConfig } from '../../shared/types.ts';
import { workerExecArgv, workerScript } from './worker-entry.ts';

/** How long a new thread may take to load before its silence counts as a wedge. */
const STARTUP_ALLOWANCE_MS = 15_000;

export interface WorkerHandleOptions {
  workerId: number;
  providers: Record<string, ProviderConfig>;
  transport: TransportSettings;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  resourceLimits: ResourceLimits | undefined;
  execArgv: string[];
  nice: number;
  onOnline: (handle: WorkerHandle) => void;
  onDeath: (handle: WorkerHandle, reason: string) => void;
}

export class WorkerHandle {
  readonly id: number;
  readonly rpc: ComlinkCaller<ProviderServiceApi>;
  readonly #worker: Worker;
  readonly #heartbeatPort: MessagePort;
  readonly #options: WorkerHandleOptions;
  readonly #exited: Promise<number>;
  #timer: NodeJS.Timeout | undefined;
  #seq = 0;
  #lastPong = Date.now();
  #lastTick = Date.now();
  #answered = false;
  #dead = false;
  #closing = false;

  constructor(options: WorkerHandleOptions) {
    this.id = options.workerId;
    this.#options = options;
    const { port1, port2 } = new MessageChannel();
    this.#heartbeatPort = port1;
    const init: WorkerInit = {
      workerId: options.workerId,
      providers: options.providers,
      transport: options.transport,
      nice: options.nice,
      heartbeatPort: port2,
    };
    const script = workerScript('provider-actor');
    this.#worker = new Worker(script.filename, {
      argv: script.argv,
      workerData: init,
      transferList: [port2],
      execArgv: workerExecArgv(options.execArgv),
      resourceLimits: options.resourceLimits,
      name: `parley-provider-${options.workerId}`,
    });
    // An idle runtime must not keep the host process alive: calls in flight
    // do, through their deadline timers.
    this.#worker.unref();
    port1.unref();
    this.#exited = new Promise((resolve) => this.#worker.once('exit', resolve));
    this.#worker.once('online', () => options.onOnline(this));
    this.#worker.on('error', (err) => this.#die(`worker threw: ${describe(err)}`));
    this.#worker.once('exit', (code) => this.#die(`worker exited with code ${code}`));
    port1.on('message', (msg: Heartbeat) => {
      if (msg.type !== 'pong') return;
      this.#lastPong = Date.now();
      this.#answered = true;
    });
    this.rpc = new ComlinkCaller<ProviderServiceApi>(batchingEndpoint(this.#worker));
    this.#timer = setInterval(() => this.#beat(), options.heartbeatIntervalMs).unref();
  }

  get dead(): boolean {
    return this.#dead;
  }

  get threadId(): number {
    return this.#worker.threadId;
  }

  /** Resolves with the exit code once the thread is gone. */
  exited(): Promise<number> {
    return this.#exited;
  }

  /** Graceful close in progress: an exit from now on is expected, not a crash. */
  markClosing(): void {
    this.#closing = true;
  }

  get closing(): boolean {
    return this.#closing;
  }

  async terminate(): Promise<void> {
    this.#stopHeartbeat();
    await this.#worker.terminate();
  }

  #beat(): void {
    const now = Date.now();
    // If this thread itself was blocked, the pongs are queued behind us:
    // judge the worker only on time this thread was awake to hear it.
    if (now - this.#lastTick > this.#options.heartbeatIntervalMs * 2) this.#lastPong = now;
    this.#lastTick = now;
    // A thread still loading its modules cannot answer yet: until its first
    // pong it gets the longer startup allowance.
    const allowed = this.#answered ? this.#options.heartbeatTimeoutMs : Math.max(STARTUP_ALLOWANCE_MS, this.#options.heartbeatTimeoutMs);
    if (!this.#closing && now - this.#lastPong > allowed) {
      this.#die(`worker missed heartbeats for ${now - this.#lastPong} ms (event loop blocked)`);
      void this.#worker.terminate();
      return;
    }
    this.#heartbeatPort.postMessage({ type: 'ping', seq: ++this.#seq } satisfies Heartbeat);
  }

  #stopHeartbeat(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#heartbeatPort.close();
  }

  #die(reason: string): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#stopHeartbeat();
    this.#options.onDeath(this, reason);
    // The owner has failed its calls (and counted them); what still waits
    // here (a cancel, a stats request) gets the same answer.
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
