/**
 * A provider config checked at the door. Its `headers`, `apiKey` and
 * Anthropic `version` become HTTP headers, and its `baseUrl` the start of
 * every URL: what undici would refuse (or a proxy would misread) is refused
 * here with CONFIG naming the field, instead of failing every call later as
 * a retryable CONNECTION that the breaker blames on the provider. A value is
 * never printed: it may be a key.
 */
import { X509Certificate } from 'node:crypto';
import { ParleyError } from '../shared/errors.ts';
import { keyPath, nearestName, unknownKey } from '../shared/known-keys.ts';
import type { ProviderConfig, ProviderKind } from '../shared/types.ts';

const COMMON_KEYS = ['kind', 'baseUrl', 'apiKey', 'headers', 'defaultModel', 'proxy', 'ca'];
const KEYS: Record<ProviderKind, ReadonlySet<string>> = {
  ollama: new Set([...COMMON_KEYS, 'numCtx', 'keepAlive', 'options']),
  openai: new Set([...COMMON_KEYS, 'maxTokensField', 'streamOptions']),
  anthropic: new Set([...COMMON_KEYS, 'version', 'authToken', 'structuredOutput']),
};

/** RFC 9110 token characters. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Connection-level headers (RFC 9110 7.6.1) belong to the hop, not the
 * request; undici refuses most of them, and content-length is parley's to
 * set from the body it sends.
 */
const HOP_BY_HOP: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'content-length']);

function fail(message: string): never {
  throw new ParleyError('CONFIG', message);
}

function codePoint(char: string): string {
  return `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Why `value` cannot be sent in a header, or undefined when it can. Says
 * where the bad character is and which it is, never the value itself.
 */
function headerValueProblem(value: string): string | undefined {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x0d || c === 0x0a) return `contains a line break (CR or LF) at position ${i}`;
    if (c === 0) return `contains a NUL character at position ${i}`;
    if (c > 0xff) return `contains ${codePoint(value[i]!)} at position ${i}, which a header cannot carry (a pasted zero-width space or smart quote?)`;
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return `contains the control character ${codePoint(value[i]!)} at position ${i}`;
  }
  if (value !== value.trim()) return 'starts or ends with whitespace';
  return undefined;
}

function checkHeaderValue(value: unknown, field: string): void {
  if (typeof value !== 'string') fail(`${field} must be a string (got ${typeof value})`);
  const problem = headerValueProblem(value);
  if (problem) fail(`${field} ${problem}`);
}

function checkHeaders(headers: unknown, at: string): void {
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) fail(`${at} must be an object of header name -> string`);
  Object.keys(headers).forEach((name, i) => {
    // A name that is not a token may be a whole "Authorization: Bearer sk-…" line: shown by its place only.
    if (!HEADER_NAME.test(name)) fail(`${at}: the name of header #${i + 1} is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_\`|~ only)`);
    const field = keyPath(at, name);
    if (HOP_BY_HOP.has(name.toLowerCase())) fail(`${field} is a connection-level header, which parley manages itself; remove it`);
    checkHeaderValue((headers as Record<string, unknown>)[name], field);
  });
}

/** The baseUrl's scheme as shown in a message: the URL itself may hold credentials. */
function schemeOf(text: string): string {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1];
  return scheme ? `a "${scheme}:" URL` : 'a string that is not an absolute URL';
}

function checkBaseUrl(value: unknown, field: string): void {
  if (typeof value !== 'string') fail(`${field} must be an http(s) URL string (got ${typeof value})`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail(`${field} must be an http(s) URL, like "http://127.0.0.1:11434" (got ${schemeOf(value)})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(`${field} must be an http(s) URL (got ${schemeOf(value)})`);
  if (url.username !== '' || url.password !== '') {
    fail(`${field} holds credentials before the host (user:password@); send them as a header instead, e.g. headers: { authorization: "Basic …" }`);
  }
  if (value.includes('#')) fail(`${field} has a fragment (#…), which is never sent to a server; remove it`);
}

/**
 * A proxy URL (its credentials allowed: a proxy's are sent by undici as
 * Proxy-Authorization, and redacted like keys), or false for "direct".
 */
export function checkProxy(value: unknown, field: string): void {
  if (value === false) return;
  if (typeof value !== 'string') fail(`${field} must be an http(s) proxy URL string, or false to connect directly (got ${typeof value})`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail(`${field} must be an http(s) proxy URL, like "http://proxy.example:8080" (got ${schemeOf(value)})`);
  }
  // "proxy.corp:3128" parses with "proxy.corp:" as its scheme: no scheme is shown, it may be a host name.
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(`${field} must start with http:// or https://, like "http://proxy.example:8080"`);
  if (url.pathname !== '/' || url.search !== '' || value.includes('#')) fail(`${field} must be a proxy origin only (scheme, optional user:password@, host and port), with no path, query or fragment`);
}

/** PEM text holding at least one certificate that parses; which block is bad is said by its place. */
function checkCa(value: unknown, field: string): void {
  if (typeof value !== 'string') fail(`${field} must be a string of PEM certificates (got ${typeof value})`);
  const blocks = value.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) fail(`${field} must hold PEM certificates ("-----BEGIN CERTIFICATE-----" ...); a file path or DER bytes are not read`);
  blocks.forEach((pem, i) => {
    try {
      new X509Certificate(pem);
    } catch {
      fail(`${field}: certificate #${i + 1} does not parse as an X.509 certificate`);
    }
  });
}

export function validateProvider(name: string, config: unknown): ProviderConfig {
  const at = keyPath('options.providers', name);
  if (typeof config !== 'object' || config === null || Array.isArray(config)) fail(`${at} must be an object with a "kind"`);
  const c = config as Record<string, unknown>;
  if (typeof c.kind !== 'string' || !(c.kind in KEYS)) {
    const near = typeof c.kind === 'string' ? nearestName(c.kind, Object.keys(KEYS)) : undefined;
    fail(`${at}.kind must be one of ollama, openai, anthropic${near ? `; did you mean ${near}?` : ` (got ${typeof c.kind === 'string' ? `a ${c.kind.length}-character string` : typeof c.kind})`}`);
  }
  const kind = c.kind as ProviderKind;
  const unknown = unknownKey(c, KEYS[kind], at, `a field of a "${kind}" provider`);
  if (unknown) fail(unknown);
  if (c.baseUrl !== undefined) checkBaseUrl(c.baseUrl, `${at}.baseUrl`);
  else if (kind === 'openai') fail(`${at}.baseUrl is required for kind "openai" (e.g. "https://api.openai.com/v1")`);
  if (c.apiKey !== undefined) {
    if (typeof c.apiKey !== 'string' || c.apiKey === '') fail(`${at}.apiKey must be a non-empty string (got ${typeof c.apiKey})`);
    checkHeaderValue(c.apiKey, `${at}.apiKey`);
  }
  if (c.authToken !== undefined) {
    if (typeof c.authToken !== 'string' || c.authToken === '') fail(`${at}.authToken must be a non-empty string (got ${typeof c.authToken})`);
    checkHeaderValue(c.authToken, `${at}.authToken`);
  }
  if (kind === 'anthropic' && c.apiKey === undefined && c.authToken === undefined) {
    fail(`${at}.apiKey (or authToken) is required for kind "anthropic"`);
  }
  if (c.apiKey !== undefined && c.authToken !== undefined) {
    fail(`${at} has both apiKey (sent as x-api-key) and authToken (sent as Authorization: Bearer); set only the one your endpoint takes`);
  }
  if (c.version !== undefined) checkHeaderValue(c.version, `${at}.version`);
  if (c.headers !== undefined) checkHeaders(c.headers, `${at}.headers`);
  if (c.proxy !== undefined) checkProxy(c.proxy, `${at}.proxy`);
  if (c.ca !== undefined) checkCa(c.ca, `${at}.ca`);
  if (c.defaultModel !== undefined && (typeof c.defaultModel !== 'string' || c.defaultModel === '')) {
    fail(`${at}.defaultModel must be a non-empty string`);
  }
  checkProtocolSettings(c, at);
  return c as unknown as ProviderConfig;
}

/** The settings one protocol takes (numCtx, keepAlive, maxTokensField, streamOptions, structuredOutput). */
function checkProtocolSettings(c: Record<string, unknown>, at: string): void {
  if (c.numCtx !== undefined && (!Number.isSafeInteger(c.numCtx) || (c.numCtx as number) <= 0)) fail(`${at}.numCtx must be a positive integer number of tokens (got ${String(c.numCtx)})`);
  const keepAlive = c.keepAlive;
  if (keepAlive !== undefined && !(typeof keepAlive === 'number' && Number.isFinite(keepAlive)) && !(typeof keepAlive === 'string' && /^-?\d+(\.\d+)?(ns|us|µs|ms|s|m|h)?$/.test(keepAlive))) {
    fail(`${at}.keepAlive must be seconds as a number or a duration such as "10m", "24h", "-1" (got ${typeof keepAlive === 'string' ? JSON.stringify(keepAlive.slice(0, 20)) : typeof keepAlive})`);
  }
  if (c.options !== undefined) checkModelOptions(c.options, `${at}.options`);
  if (c.maxTokensField !== undefined && c.maxTokensField !== 'max_tokens' && c.maxTokensField !== 'max_completion_tokens') {
    fail(`${at}.maxTokensField must be "max_tokens" or "max_completion_tokens"`);
  }
  if (c.streamOptions !== undefined && typeof c.streamOptions !== 'boolean') fail(`${at}.streamOptions must be a boolean (got ${typeof c.streamOptions})`);
  if (c.structuredOutput !== undefined && c.structuredOutput !== 'native' && c.structuredOutput !== 'tool') {
    fail(`${at}.structuredOutput must be "native" or "tool"`);
  }
}

/** Ollama model options: a plain object of numbers, strings, booleans or string lists (stop). */
function checkModelOptions(value: unknown, field: string): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${field} must be an object of Ollama model options, e.g. { num_gpu: 99 }`);
  for (const [key, option] of Object.entries(value)) {
    const ok =
      (typeof option === 'number' && Number.isFinite(option)) ||
      typeof option === 'string' ||
      typeof option === 'boolean' ||
      (Array.isArray(option) && option.every((item) => typeof item === 'string'));
    if (!ok) fail(`${keyPath(field, key)} must be a number, string, boolean or list of strings (got ${Array.isArray(option) ? 'a list with a non-string' : typeof option})`);
  }
}
