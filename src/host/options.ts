/**
 * Runtime options: their documented defaults, and the check at the door that
 * rejects bad ones with CONFIG, naming the option and what was expected.
 */
import type { ResourceLimits } from 'node:worker_threads';
import { ParleyError } from '../shared/errors.ts';
import type { HttpSettings } from '../shared/protocol.ts';
import type { BreakerOptions } from './fallback-router.ts';
import type { ProviderConfig } from '../shared/types.ts';
import { unknownKey } from '../shared/known-keys.ts';
import { environmentProxies, Redactor } from '../shared/redaction.ts';
import { checkProxy } from './provider-validation.ts';
import { resolveProviders } from './provider-settings.ts';
import { checkResourceLimits, checkWorkerEntry, checkWorkerExecArgv } from './worker-settings.ts';
import { fitResponseCap } from './response-size-cap.ts';
import { checkLogger, type Logger } from './observability/logger.ts';
import type { TelemetryOptions } from './observability/telemetry.ts';

export interface RestartPolicy {
  /** Crashes tolerated inside `windowMs` before the runtime gives up (state 'failed'). @default 5 */
  maxRestarts?: number;
  /** @default 60_000 */
  windowMs?: number;
  /** First restart delay; doubles with each crash in the window. @default 50 */
  backoffBaseMs?: number;
  /** @default 2_000 */
  backoffMaxMs?: number;
}

/** Every option has its default in RUNTIME_DEFAULTS, where it is documented. */
export interface RuntimeOptions {
  /** Provider name -> config. At least one. */
  providers: Record<string, ProviderConfig>;
  /** Used when a request names no provider. @default the first provider */
  defaultProvider?: string;
  /** Deadline of every call (connect, headers, body), overridable per call. @default 120_000 */
  timeoutMs?: number;
  /** 1: one dedicated provider worker; more: a piscina pool. @default 1 */
  workers?: number;
  /** Retries of a retryable failure while nothing has reached the caller. @default 2 */
  maxRetries?: number;
  /** @default 250 */
  retryBaseMs?: number;
  /** Cap on one retry wait, Retry-After included. @default 8_000 */
  retryMaxMs?: number;
  /** Sockets per provider origin. @default 128 */
  connections?: number;
  /** @default 10_000 */
  connectTimeoutMs?: number;
  /** Idle keep-alive sockets are closed after this, unless the server says less. @default 4_000 */
  keepAliveTimeoutMs?: number;
  /**
   * Cap on one response body in bytes (TOO_LARGE past it). A reply of N MiB
   * costs the provider worker, at its peak, about N MiB of heap (a chat of
   * ASCII text) to 2N (a stream, or any non-ASCII text), on top of the 12 MB
   * an idle worker holds; the process's RSS rises by about 9, 83 and 175 MB
   * for replies of 1, 8 and 30 MiB (worker and host copies together;
   * measured on Node 20). With resourceLimits.maxOldGenerationSizeMb set, the
   * cap must fit in it ((maxOldGenerationSizeMb - 16) MiB / 3, and the limit
   * above 16): a larger cap given is CONFIG, naming both options; the default
   * is lowered to fit (src/host/response-size-cap.ts).
   * @default 32 MiB, or less to fit resourceLimits.maxOldGenerationSizeMb
   */
  maxResponseBytes?: number;
  /** Batches a stream may run ahead of its consumer before the HTTP body is paused. @default 16 */
  streamCredits?: number;
  /** Heartbeat period. @default 500 */
  heartbeatIntervalMs?: number;
  /** A worker silent this long is declared wedged, terminated and replaced. @default 1_500, and at least 3 heartbeat intervals */
  heartbeatTimeoutMs?: number;
  restart?: RestartPolicy;
  /** Fallback routing: when a provider is skipped for a cooldown. */
  breaker?: BreakerOptions;
  /**
   * The HTTP(S) proxy of every provider that names none, e.g.
   * "http://user:pass@proxy.corp:3128" (credentials are secrets, redacted
   * like keys); `false`: connect directly, whatever the environment says.
   * @default HTTPS_PROXY / HTTP_PROXY / NO_PROXY in either case, read in the
   * worker; loopback origins never go through the environment's proxy
   */
  proxy?: string | false;
  /** Passed to each worker thread (e.g. maxOldGenerationSizeMb; see maxResponseBytes). @default none */
  resourceLimits?: ResourceLimits;
  /** Extra Node flags for each worker, e.g. ['--import', './preload.js']. @default [] (the parent's flags, as Node filters them) */
  workerExecArgv?: string[];
  /**
   * The worker entry for both modes (`parley/worker` as a bundler emitted it): a path, relative to
   * process.cwd(), or a file: URL. Needed inside a bundle; a path inside an asar archive is taken from
   * `<archive>.asar.unpacked` when there (README "Packaging"). CONFIG when no file is there.
   * @default parley's own dist/workers/provider-worker.cjs
   */
  workerEntry?: string | URL;
  /**
   * Linux: the nice value (0-19) of the provider worker threads, so that
   * when cores are scarce the host thread runs first. 5 suits a UI host.
   * Elsewhere it is not applied (stats show each worker's nice value where
   * there is one). @default 0
   */
  workerNice?: number;
  /** Pool mode: calls one worker runs at once; more wait in the queue. @default 256 */
  concurrencyPerWorker?: number;
  /** Pool mode: calls waiting for a worker beyond this reject with QUEUE_FULL. @default 1_024 */
  maxQueue?: number;
  /**
   * Where the runtime logs: any `{ debug, info, warn, error }` taking
   * `(record, message)`, such as console or a pino logger. Records are
   * structured and redacted: worker start, crash and restart, retries,
   * fallbacks, breaker changes, shutdown, transcript warnings.
   * @default none (silent)
   * @example createRuntime({ providers, logger: pino() })
   */
  logger?: Logger;
  /** OpenTelemetry spans and metrics, made when the host registered a tracer or meter provider before createRuntime. */
  telemetry?: TelemetryOptions;
}

/**
 * The default of every RuntimeOptions field, in one place. resolveRuntimeOptions
 * applies them once, at the door; no other module defaults an option.
 */
export const RUNTIME_DEFAULTS = {
  /** ms; the deadline of every call, overridable per call. */
  timeoutMs: 120_000,
  /** 1: one dedicated actor; more: a piscina pool. */
  workers: 1,
  /** Retries after the first attempt, for retryable failures only. */
  maxRetries: 2,
  /** ms; retry waits are random up to this, doubled with each retry (full jitter). */
  retryBaseMs: 250,
  /** ms; cap on one retry wait, Retry-After included. */
  retryMaxMs: 8_000,
  /** Sockets per provider origin. */
  connections: 128,
  /** ms */
  connectTimeoutMs: 10_000,
  /** ms; idle keep-alive sockets are closed after this, unless the server says less. */
  keepAliveTimeoutMs: 4_000,
  /** bytes (32 MiB); TOO_LARGE past it. */
  maxResponseBytes: 32 * 1024 * 1024,
  /** Event batches a stream may run ahead of its consumer. */
  streamCredits: 16,
  /** ms */
  heartbeatIntervalMs: 500,
  /** ms; raised to 3 heartbeat intervals when the interval is longer than a third of it. */
  heartbeatTimeoutMs: 1_500,
  restart: {
    /** Crashes tolerated inside the window before the runtime is 'failed'. */
    maxRestarts: 5,
    /** ms */
    windowMs: 60_000,
    /** ms; first restart delay, doubled with each crash in the window (actor mode). */
    backoffBaseMs: 50,
    /** ms */
    backoffMaxMs: 2_000,
  },
  breaker: {
    /** Consecutive provider failures that open a provider's breaker. */
    failureThreshold: 3,
    /** ms a provider with an open breaker is skipped. */
    cooldownMs: 30_000,
  },
  /** Node flags added to each worker thread's. */
  workerExecArgv: [] as readonly string[],
  workerEntry: undefined,
  /** Linux nice value of each worker thread (0: left as it is). */
  workerNice: 0,
  /** Pool mode: calls one worker runs at once. */
  concurrencyPerWorker: 256,
  /** Pool mode: calls waiting for a worker before QUEUE_FULL. */
  maxQueue: 1_024,
  /** None: the runtime is silent. */
  logger: undefined,
  telemetry: {
    /** Message content stays off spans unless the host opts in. */
    recordContent: false,
  },
} as const;

/** ms; how long shutdown() lets calls in flight finish when no graceMs is given. */
export const SHUTDOWN_GRACE_MS = 5_000;

/**
 * shutdown()'s `opts` checked: its graceMs in ms (SHUTDOWN_GRACE_MS when
 * `opts` is undefined or null, or its graceMs is undefined; Infinity
 * allowed). Throws CONFIG naming what is wrong.
 */
export function resolveShutdownGrace(opts: unknown): number {
  if (opts === undefined || opts === null) return SHUTDOWN_GRACE_MS;
  if (typeof opts !== 'object') throw new ParleyError('CONFIG', `shutdown options must be an object such as { graceMs: 5000 } (got ${typeof opts})`);
  const { graceMs } = opts as { graceMs?: unknown };
  if (graceMs === undefined) return SHUTDOWN_GRACE_MS;
  if (typeof graceMs !== 'number' || Number.isNaN(graceMs) || graceMs < 0) {
    throw new ParleyError('CONFIG', `shutdown options.graceMs must be a number of milliseconds >= 0, or Infinity to wait for every call (got ${typeof graceMs === 'number' ? graceMs : typeof graceMs})`);
  }
  return graceMs;
}

export interface ResolvedOptions {
  /** Each config as checked, with the runtime's proxy filled in where it names none. Replaced by configure(). */
  providers: Record<string, ProviderConfig>;
  /**
   * Every string leaving the runtime (errors, events, stats) passes through
   * it; never sent to a worker. configure() teaches it the new secrets and it
   * keeps the old ones: a call in flight on the old settings may still echo them.
   */
  redactor: Redactor;
  /** Replaced by configure(). */
  defaultProvider: string;
  /** The runtime-wide proxy, applied again to the providers configure() is given. */
  proxy: string | false | undefined;
  timeoutMs: number;
  workers: number;
  http: HttpSettings;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  restart: Required<RestartPolicy>;
  breaker: Required<BreakerOptions>;
  resourceLimits: ResourceLimits | undefined;
  workerExecArgv: string[];
  /** An absolute path; undefined: parley's own. */
  workerEntry: string | undefined;
  workerNice: number;
  concurrencyPerWorker: number;
  maxQueue: number;
  logger: Logger | undefined;
  telemetry: Required<TelemetryOptions>;
}

const MAX_TIMER_MS = 2_147_483_647;

/** Every RuntimeOptions field: anything else is refused, with the nearest of these suggested. */
const OPTION_KEYS: ReadonlySet<string> = new Set([
  'providers',
  'defaultProvider',
  'timeoutMs',
  'workers',
  'maxRetries',
  'retryBaseMs',
  'retryMaxMs',
  'connections',
  'connectTimeoutMs',
  'keepAliveTimeoutMs',
  'maxResponseBytes',
  'streamCredits',
  'heartbeatIntervalMs',
  'heartbeatTimeoutMs',
  'restart',
  'breaker',
  'proxy',
  'resourceLimits',
  'workerExecArgv',
  'workerEntry',
  'workerNice',
  'concurrencyPerWorker',
  'maxQueue',
  'logger',
  'telemetry',
] satisfies (keyof RuntimeOptions)[]);
const RESTART_KEYS: ReadonlySet<string> = new Set(Object.keys(RUNTIME_DEFAULTS.restart));
const BREAKER_KEYS: ReadonlySet<string> = new Set(Object.keys(RUNTIME_DEFAULTS.breaker));
const TELEMETRY_KEYS: ReadonlySet<string> = new Set(Object.keys(RUNTIME_DEFAULTS.telemetry));

function fail(message: string): never {
  throw new ParleyError('CONFIG', message);
}

function integer(value: unknown, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(`options.${name} must be an integer from ${min} to ${max} (got ${typeof value === 'number' ? value : typeof value})`);
  }
  return value;
}

function flag(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail(`options.${name} must be true or false (got ${typeof value})`);
  return value;
}

/** An optional nested options object (restart, breaker) with its own known keys. */
function section(value: unknown, name: string, known: ReadonlySet<string>): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`options.${name} must be an object`);
  const unknown = unknownKey(value, known, `options.${name}`, `a ${name} option`);
  if (unknown) fail(unknown);
  return value as Record<string, unknown>;
}

/**
 * Checks every option and applies every default, once, at the door.
 * Throws ParleyError CONFIG naming the first option that is wrong (an
 * unknown key with the nearest known one); no message ever holds a
 * secret. `alsoKnown`: keys a caller keeps beside the options in the same
 * object (the CLI's config file), suggested but not accepted here.
 */
export function resolveRuntimeOptions(options: unknown, alsoKnown: readonly string[] = []): ResolvedOptions {
  try {
    return resolve(options, alsoKnown);
  } catch (err) {
    // Messages never print values, but a key pasted into the wrong field is still a key.
    const providers = (options as { providers?: unknown } | null)?.providers;
    throw err instanceof ParleyError ? Redactor.of(providers as Record<string, ProviderConfig>).error(err) : err;
  }
}

function resolve(options: unknown, alsoKnown: readonly string[]): ResolvedOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) fail('options must be an object with "providers"');
  const suggest = alsoKnown.length === 0 ? OPTION_KEYS : new Set([...OPTION_KEYS, ...alsoKnown]);
  const unknown = unknownKey(options, suggest, 'options', 'a runtime option');
  if (unknown) fail(unknown);
  const o = options as RuntimeOptions;
  if (o.proxy !== undefined) checkProxy(o.proxy, 'options.proxy');
  const { providers, defaultProvider } = resolveProviders(o, o.proxy, 'options');
  const d = RUNTIME_DEFAULTS;
  const heartbeatIntervalMs = integer(o.heartbeatIntervalMs, 'heartbeatIntervalMs', d.heartbeatIntervalMs, 10, MAX_TIMER_MS);
  const heartbeatTimeoutMs = integer(
    o.heartbeatTimeoutMs,
    'heartbeatTimeoutMs',
    Math.max(d.heartbeatTimeoutMs, heartbeatIntervalMs * 3),
    heartbeatIntervalMs,
    MAX_TIMER_MS,
  );
  const r = section(o.restart, 'restart', RESTART_KEYS) as RestartPolicy;
  const b = section(o.breaker, 'breaker', BREAKER_KEYS) as BreakerOptions;
  const resourceLimits = checkResourceLimits(o.resourceLimits);
  const workerExecArgv = checkWorkerExecArgv(o.workerExecArgv ?? d.workerExecArgv);
  const workerEntry = checkWorkerEntry(o.workerEntry);
  return {
    providers,
    redactor: Redactor.of(providers, environmentProxies(process.env)),
    defaultProvider,
    proxy: o.proxy,
    timeoutMs: integer(o.timeoutMs, 'timeoutMs', d.timeoutMs, 1, MAX_TIMER_MS),
    workers: integer(o.workers, 'workers', d.workers, 1, 256),
    http: {
      maxRetries: integer(o.maxRetries, 'maxRetries', d.maxRetries, 0, 100),
      retryBaseMs: integer(o.retryBaseMs, 'retryBaseMs', d.retryBaseMs, 0, MAX_TIMER_MS),
      retryMaxMs: integer(o.retryMaxMs, 'retryMaxMs', d.retryMaxMs, 0, MAX_TIMER_MS),
      maxResponseBytes: fitResponseCap(
        o.maxResponseBytes === undefined ? undefined : integer(o.maxResponseBytes, 'maxResponseBytes', d.maxResponseBytes, 1),
        d.maxResponseBytes,
        o.resourceLimits,
      ),
      connections: integer(o.connections, 'connections', d.connections, 1, 65_536),
      connectTimeoutMs: integer(o.connectTimeoutMs, 'connectTimeoutMs', d.connectTimeoutMs, 1, MAX_TIMER_MS),
      keepAliveTimeoutMs: integer(o.keepAliveTimeoutMs, 'keepAliveTimeoutMs', d.keepAliveTimeoutMs, 1, MAX_TIMER_MS),
      streamCredits: integer(o.streamCredits, 'streamCredits', d.streamCredits, 1, 1_000_000),
    },
    heartbeatIntervalMs,
    heartbeatTimeoutMs,
    restart: {
      maxRestarts: integer(r.maxRestarts, 'restart.maxRestarts', d.restart.maxRestarts, 0, 1_000_000),
      windowMs: integer(r.windowMs, 'restart.windowMs', d.restart.windowMs, 1, MAX_TIMER_MS),
      backoffBaseMs: integer(r.backoffBaseMs, 'restart.backoffBaseMs', d.restart.backoffBaseMs, 0, MAX_TIMER_MS),
      backoffMaxMs: integer(r.backoffMaxMs, 'restart.backoffMaxMs', d.restart.backoffMaxMs, 0, MAX_TIMER_MS),
    },
    breaker: {
      failureThreshold: integer(b.failureThreshold, 'breaker.failureThreshold', d.breaker.failureThreshold, 1, 1_000_000),
      cooldownMs: integer(b.cooldownMs, 'breaker.cooldownMs', d.breaker.cooldownMs, 0, MAX_TIMER_MS),
    },
    resourceLimits,
    workerExecArgv,
    workerEntry,
    workerNice: integer(o.workerNice, 'workerNice', d.workerNice, 0, 19),
    concurrencyPerWorker: integer(o.concurrencyPerWorker, 'concurrencyPerWorker', d.concurrencyPerWorker, 1, 1_000_000),
    maxQueue: integer(o.maxQueue, 'maxQueue', d.maxQueue, 0, 100_000_000),
    logger: checkLogger(o.logger),
    telemetry: { recordContent: flag(section(o.telemetry, 'telemetry', TELEMETRY_KEYS).recordContent, 'telemetry.recordContent', d.telemetry.recordContent) },
  };
}

/**
 * Checks `options` as createRuntime does, without starting anything.
 * Throws ParleyError CONFIG naming the first option that is wrong.
 * `alsoKnown`: keys a host keeps beside the options in its own config
 * (the CLI's `model`, `system`), suggested for a near miss but not taken.
 */
export function checkRuntimeOptions(options: RuntimeOptions, alsoKnown: readonly string[] = []): void {
  resolveRuntimeOptions(options, alsoKnown);
}
