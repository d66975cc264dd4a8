/**
 * The thread protocol between the host (Runtime) and a provider worker.
 * Types only: request/response calls go over Comlink (ProviderServiceApi);
 * each stream has its own MessagePort (StreamToHost / StreamToWorker);
 * the heartbeat has a port of its own so a busy Comlink channel never
 * delays it and Comlink never sees a message that is not its own.
 */
import type { WireError } from './error-wire.ts';
import type { EventBatch } from './event-batch.ts';
import type { CallReport, ChatRequest, ChatResult, HealthReport, ModelInfo, ProviderConfig } from './types.ts';

/** Handed to the worker once, in workerData. API keys cross here and in live settings (configure) only. */
export interface WorkerInit {
  workerId: number;
  providers: Record<string, ProviderConfig>;
  /** The settings generation `providers` are: 0 at creation, one more with each Runtime.configure(). */
  generation: number;
  http: HttpSettings;
  /** The thread's nice value (Linux), 0 to leave it. */
  nice: number;
  heartbeatPort: MessagePortLike;
}

/** Structural stand-in for node:worker_threads MessagePort, so this file stays types-only. */
export interface MessagePortLike {
  postMessage(value: unknown, transfer?: readonly unknown[]): void;
}

export interface HttpSettings {
  /** Retries after the first attempt, for retryable failures only. */
  maxRetries: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** Cap on one response body, in bytes. */
  maxResponseBytes: number;
  /** Per-origin socket limit of each provider's Agent. */
  connections: number;
  connectTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** Batches a stream may send ahead of the consumer before the body is paused. */
  streamCredits: number;
}

/** A call's identity and deadline as the worker sees them. */
export interface CallMeta {
  callId: number;
  /** Absolute time (Date.now() clock) after which the call is a TIMEOUT. */
  deadlineAt: number;
}

/** The Comlink surface of a provider worker. */
/**
 * A chat's answer as it crosses the thread boundary: the result, with its
 * CallReport when there is more to say than one attempt and no request id.
 * The host takes the report off before the caller sees the result.
 */
export type ChatAnswer = ChatResult & { report?: CallReport };

export interface ProviderServiceApi {
  chat(meta: CallMeta, provider: string, req: ChatRequest): Promise<ChatAnswer>;
  /** Starts a stream; everything after the start travels on `port`. */
  stream(meta: CallMeta, provider: string, req: ChatRequest, port: MessagePortLike): Promise<void>;
  models(meta: CallMeta, provider: string): Promise<ModelInfo[]>;
  health(meta: CallMeta, provider: string): Promise<HealthReport>;
  /**
   * Live settings: the providers of every later call. Ignored unless
   * `generation` is newer than the worker's (a repeat or a late arrival).
   */
  configure(generation: number, providers: Record<string, ProviderConfig>): void;
  /** Cooperative cancel of one call: aborts its HTTP request and frees its socket. */
  cancel(callId: number, reason: WireError): void;
  stats(): Promise<WorkerStats>;
  /** Abort what is left, close every Agent, then let the worker's event loop run dry. */
  close(): Promise<WorkerCloseReport>;
}

export type StreamToHost =
  | { type: 'events'; batch: EventBatch }
  /**
   * The worker's stream hub, offered on the first stream the worker serves:
   * the host adopts it and answers HubReady on it. From then on the worker's
   * new streams send everything host-bound over the hub, as StreamHubMessage.
   */
  | { type: 'hub'; port: MessagePortLike }
  /** `batch`: the last events, when they were still waiting to be sent. */
  | { type: 'end'; result: ChatResult; batch?: EventBatch; report?: CallReport }
  | { type: 'error'; error: WireError };

export type StreamToWorker =
  /** The first message on every stream port, queued before the port is transferred: the stream's key on the hub. */
  | { type: 'hello'; key: number }
  | { type: 'credit'; batches: number }
  | { type: 'cancel'; reason: WireError };

/**
 * One postMessage on a worker's stream hub: the host-bound messages of every
 * stream of that worker gathered since the last one, as [key, message, key,
 * message, ...], each stream's in its own order. An events message travels
 * as its bare EventBatch (one object less to clone and collect per batch).
 */
export type StreamHubMessage = (number | EventBatch | StreamToHost)[];

/** The host's one message on a hub it adopted: from now on, streams may use it. */
export type HubReady = 'ready';

export type Heartbeat = { type: 'ping'; seq: number } | { type: 'pong'; seq: number };

export interface ProviderConnectionStats {
  provider: string;
  origin: string;
  /** From undici's Agent stats: sockets connected, free, and requests running / pending. */
  connected: number;
  free: number;
  running: number;
  pending: number;
  requests: number;
  retries: number;
  errors: number;
}

export interface WorkerStats {
  workerId: number;
  inFlight: number;
  providers: ProviderConnectionStats[];
  heapUsedBytes: number;
  /** The thread's nice value, where threads have one (Linux). */
  nice?: number;
  /** Why the workerNice option could not be applied. */
  niceError?: string;
}

export interface WorkerCloseReport {
  aborted: number;
  agentsClosed: number;
  /**
   * What still keeps the worker's event loop alive once its Agents are
   * closed, by kind (provider/open-resources.ts), less the ports the close
   * releases: empty when the thread has nothing left to do but exit. Absent
   * where the role cannot tell (a pool thread, whose ports piscina owns).
   */
  openResources?: string[];
}

/** Handed to every pool worker in workerData (pool mode, workers > 1). */
export interface PoolInit {
  providers: Record<string, ProviderConfig>;
  /**
   * The settings generation `providers` are. piscina hands every thread it
   * ever starts this same workerData, so a thread started after a
   * configure() is behind: its beats say so, and the host broadcasts the
   * current settings again until it has caught up.
   */
  generation: number;
  http: HttpSettings;
  /** Name of the BroadcastChannel that carries heartbeats, cancels, stats and close. */
  controlChannel: string;
  heartbeatIntervalMs: number;
  /** Each thread's nice value (Linux), 0 to leave it. */
  nice: number;
}

/**
 * One piscina task: a call, with its stream port when it is a stream, and
 * the settings generation it was made under (a thread behind it waits for
 * those settings before it runs the call).
 */
export type PoolTask = (
  | { kind: 'chat'; meta: CallMeta; provider: string; req: ChatRequest }
  | { kind: 'stream'; meta: CallMeta; provider: string; req: ChatRequest; port: MessagePortLike }
  | { kind: 'models'; meta: CallMeta; provider: string }
  | { kind: 'health'; meta: CallMeta; provider: string }
) & { generation: number };

/** Tasks never throw across piscina (its clone would drop `code`): they answer with this. */
export type PoolReply = { ok: true; value: unknown } | { ok: false; error: WireError };

/** The pool's control channel, shared by the host and every pool worker. */
export type PoolControl =
  /** `generation`: the settings the thread runs on. */
  | { type: 'beat'; workerId: number; generation: number }
  | { type: 'configure'; generation: number; providers: Record<string, ProviderConfig> }
  | { type: 'cancel'; callId: number; reason: WireError }
  | { type: 'stats-request'; seq: number }
  | { type: 'stats'; seq: number; stats: WorkerStats }
  | { type: 'close' }
  | { type: 'closed'; workerId: number; report: WorkerCloseReport };
