/**
 * The model server's options and fault vocabulary, checked at the door so a
 * typo in a test fails loudly instead of silently serving the happy path.
 */

export interface ModelServerOptions {
  /** @default 0 (an ephemeral port) */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** Serve HTTPS with this PEM key and certificate (url then starts with https://). Fixed once the server listens. @default plain HTTP */
  tls?: { key: string; cert: string };
  /** Delay before each token. @default 0 (instant) */
  tokenDelayMs?: number;
  /** Reply length cap in tokens when the request sets none. @default 48 */
  maxTokens?: number;
  /** Advertised in /api/tags and /v1/models. @default ['parley-echo', 'parley-small'] */
  models?: string[];
  /** Emit reasoning/thinking deltas before the text (Anthropic: thinking blocks with signatures). @default false */
  reasoning?: boolean;
  /**
   * Every text reply is a refusal: OpenAI `refusal` deltas with `content: null`,
   * Anthropic text with stop_reason "refusal"; Ollama has no refusal field and
   * sends it as text. @default false
   */
  refusal?: boolean;
  /** OpenAI protocol: `content` as an array of `thinking` and `text` parts, as Mistral's reasoning models send it. @default false */
  contentArrays?: boolean;
  /** 'auto': a request that offers tools and ends with a user message gets a call of its first tool. @default 'auto' */
  tools?: 'auto' | 'never';
  /** Applied to every chat request until cleared. */
  fault?: Fault;
  /** server.keepAliveTimeout. @default 5000 */
  keepAliveTimeoutMs?: number;
  /** Close each keep-alive socket after it served N requests (Connection: close on the Nth response). */
  closeAfterRequests?: number;
  /**
   * Send Node's "Keep-Alive: timeout=N" hint. Node rounds it down to whole
   * seconds and undici keeps a 2 s margin under it, so with a short
   * keepAliveTimeoutMs the hint makes clients never reuse a socket. Real
   * providers often send none (Go's net/http never does): set false to
   * reproduce the stale keep-alive socket race. @default true
   */
  advertiseKeepAlive?: boolean;
  /** Write every reply up to the request's token cap instead of a short natural reply (for benchmarks). @default false */
  fillToMaxTokens?: boolean;
  /** Answer requests for JSON (response_format, format, output_config) with text that is not JSON. @default false */
  invalidJson?: boolean;
  /** OpenAI-protocol model names that refuse `max_tokens` with a 400, as OpenAI's reasoning models do. @default [] */
  reasoningModels?: string[];
  /** Refuse `stream_options` with this status, as Mistral (422) and some Azure / Databricks deployments (400) do. @default undefined (accepted) */
  refuseStreamOptions?: 400 | 422 | undefined;
}

export type Fault =
  | { kind: 'slow-headers'; delayMs: number }
  | { kind: 'stall'; afterTokens?: number; commentEveryMs?: number }
  | { kind: 'reset'; afterTokens?: number }
  | { kind: 'truncate'; afterTokens?: number }
  | { kind: 'status'; status: number; retryAfter?: string; retryAfterMs?: number; message?: string }
  | { kind: 'stream-error'; afterTokens?: number; message?: string }
  | { kind: 'malformed'; afterTokens?: number }
  | { kind: 'oversized'; bytes: number };

export type FaultKind = Fault['kind'];

/** Mid-stream faults strike after this many tokens unless told otherwise: late enough that the stream has visibly started. */
export const DEFAULT_AFTER_TOKENS = 2;

export interface ResolvedOptions {
  port: number;
  host: string;
  tls: { key: string; cert: string } | undefined;
  tokenDelayMs: number;
  maxTokens: number;
  models: string[];
  reasoning: boolean;
  refusal: boolean;
  contentArrays: boolean;
  tools: 'auto' | 'never';
  fault: Fault | undefined;
  keepAliveTimeoutMs: number;
  closeAfterRequests: number | undefined;
  advertiseKeepAlive: boolean;
  fillToMaxTokens: boolean;
  invalidJson: boolean;
  reasoningModels: string[];
  refuseStreamOptions: 400 | 422 | undefined;
}

const DEFAULT_OPTIONS: ResolvedOptions = {
  port: 0,
  host: '127.0.0.1',
  tls: undefined,
  tokenDelayMs: 0,
  maxTokens: 48,
  models: ['parley-echo', 'parley-small'],
  reasoning: false,
  refusal: false,
  contentArrays: false,
  tools: 'auto',
  fault: undefined,
  keepAliveTimeoutMs: 5000,
  closeAfterRequests: undefined,
  advertiseKeepAlive: true,
  fillToMaxTokens: false,
  invalidJson: false,
  reasoningModels: [],
  refuseStreamOptions: undefined,
};

function isCount(value: unknown, min: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min;
}

function expect(ok: boolean, where: string, what: string): void {
  if (!ok) throw new TypeError(`${where} must be ${what}`);
}

/** Merges a patch over `base`, validating every field it sets. */
export function resolveServerOptions(patch: Partial<ModelServerOptions> = {}, base: ResolvedOptions = DEFAULT_OPTIONS): ResolvedOptions {
  expect(typeof patch === 'object' && patch !== null, 'options', 'an object');
  const out: ResolvedOptions = { ...base, models: [...base.models], reasoningModels: [...base.reasoningModels] };
  const p = patch;
  if (p.port !== undefined) {
    expect(isCount(p.port, 0) && p.port <= 65535, 'options.port', 'an integer from 0 to 65535');
    out.port = p.port;
  }
  if (p.host !== undefined) {
    expect(typeof p.host === 'string' && p.host.length > 0, 'options.host', 'a non-empty string');
    out.host = p.host;
  }
  if (p.tls !== undefined) {
    const t = p.tls as Partial<Record<string, unknown>> | null;
    expect(typeof t === 'object' && t !== null && typeof t.key === 'string' && typeof t.cert === 'string', 'options.tls', 'an object { key, cert } of PEM strings');
    out.tls = { key: t!.key as string, cert: t!.cert as string };
  }
  if (p.tokenDelayMs !== undefined) {
    expect(typeof p.tokenDelayMs === 'number' && p.tokenDelayMs >= 0 && Number.isFinite(p.tokenDelayMs), 'options.tokenDelayMs', 'a number >= 0');
    out.tokenDelayMs = p.tokenDelayMs;
  }
  if (p.maxTokens !== undefined) {
    expect(isCount(p.maxTokens, 1), 'options.maxTokens', 'an integer >= 1');
    out.maxTokens = p.maxTokens;
  }
  if (p.models !== undefined) {
    expect(
      Array.isArray(p.models) && p.models.length > 0 && p.models.every((m) => typeof m === 'string' && m.length > 0),
      'options.models',
      'a non-empty array of model names',
    );
    out.models = [...p.models];
  }
  if (p.reasoning !== undefined) {
    expect(typeof p.reasoning === 'boolean', 'options.reasoning', 'a boolean');
    out.reasoning = p.reasoning;
  }
  for (const key of ['refusal', 'contentArrays'] as const) {
    if (p[key] !== undefined) {
      expect(typeof p[key] === 'boolean', `options.${key}`, 'a boolean');
      out[key] = p[key];
    }
  }
  if (p.tools !== undefined) {
    expect(p.tools === 'auto' || p.tools === 'never', 'options.tools', "'auto' or 'never'");
    out.tools = p.tools;
  }
  if ('fault' in p) out.fault = p.fault === undefined ? undefined : validateFault(p.fault, 'options.fault');
  if (p.keepAliveTimeoutMs !== undefined) {
    expect(isCount(p.keepAliveTimeoutMs, 0), 'options.keepAliveTimeoutMs', 'an integer >= 0');
    out.keepAliveTimeoutMs = p.keepAliveTimeoutMs;
  }
  if ('closeAfterRequests' in p) {
    expect(p.closeAfterRequests === undefined || isCount(p.closeAfterRequests, 1), 'options.closeAfterRequests', 'an integer >= 1 or undefined');
    out.closeAfterRequests = p.closeAfterRequests;
  }
  if (p.fillToMaxTokens !== undefined) {
    expect(typeof p.fillToMaxTokens === 'boolean', 'options.fillToMaxTokens', 'a boolean');
    out.fillToMaxTokens = p.fillToMaxTokens;
  }
  if (p.invalidJson !== undefined) {
    expect(typeof p.invalidJson === 'boolean', 'options.invalidJson', 'a boolean');
    out.invalidJson = p.invalidJson;
  }
  if (p.reasoningModels !== undefined) {
    expect(Array.isArray(p.reasoningModels) && p.reasoningModels.every((m) => typeof m === 'string'), 'options.reasoningModels', 'an array of model names');
    out.reasoningModels = [...p.reasoningModels];
  }
  if ('refuseStreamOptions' in p) {
    expect(p.refuseStreamOptions === undefined || p.refuseStreamOptions === 400 || p.refuseStreamOptions === 422, 'options.refuseStreamOptions', '400, 422 or undefined');
    out.refuseStreamOptions = p.refuseStreamOptions;
  }
  if (p.advertiseKeepAlive !== undefined) {
    expect(typeof p.advertiseKeepAlive === 'boolean', 'options.advertiseKeepAlive', 'a boolean');
    out.advertiseKeepAlive = p.advertiseKeepAlive;
  }
  return out;
}

/** Checks a fault (from code, a CLI flag or the x-parley-fault header) and returns it unchanged. */
export function validateFault(value: unknown, where = 'fault'): Fault {
  expect(typeof value === 'object' && value !== null && !Array.isArray(value), where, 'an object with a "kind"');
  const f = value as Record<string, unknown>;
  const optionalCount = (key: string, min = 0): void => {
    if (f[key] !== undefined) expect(isCount(f[key], min), `${where}.${key}`, `an integer >= ${min}`);
  };
  const optionalString = (key: string): void => {
    if (f[key] !== undefined) expect(typeof f[key] === 'string', `${where}.${key}`, 'a string');
  };
  switch (f.kind) {
    case 'slow-headers':
      expect(isCount(f.delayMs, 0), `${where}.delayMs`, 'an integer >= 0');
      break;
    case 'stall':
      optionalCount('afterTokens');
      optionalCount('commentEveryMs', 1);
      break;
    case 'reset':
    case 'truncate':
    case 'malformed':
      optionalCount('afterTokens');
      break;
    case 'stream-error':
      optionalCount('afterTokens');
      optionalString('message');
      break;
    case 'status':
      expect(isCount(f.status, 400) && (f.status as number) <= 599, `${where}.status`, 'an HTTP error status from 400 to 599');
      optionalString('retryAfter');
      optionalCount('retryAfterMs');
      optionalString('message');
      break;
    case 'oversized':
      expect(isCount(f.bytes, 1), `${where}.bytes`, 'an integer >= 1');
      break;
    default:
      throw new TypeError(
        `${where}.kind must be one of slow-headers, stall, reset, truncate, status, stream-error, malformed, oversized (got ${JSON.stringify(f.kind)})`,
      );
  }
  return value as Fault;
}

/** Parses a fault written as JSON (CLI flag, request header). */
export function parseFault(json: string, where = 'fault'): Fault {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new TypeError(`${where} must be JSON, e.g. {"kind":"reset","afterTokens":3}`);
  }
  return validateFault(value, where);
}
