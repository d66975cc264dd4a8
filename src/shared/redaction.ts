/**
 * The one redaction mechanism. Every string that leaves the worker or the
 * runtime (errors with their request id and cause chain, provider body
 * excerpts, stats, events, CLI output) passes through a Redactor built from
 * the provider configs, on whichever thread it is leaving.
 *
 * A secret is a configured apiKey or authToken; the value of a configured header whose
 * name says credential; credentials inside a baseUrl (userinfo, or a
 * credential-named query parameter such as `?key=`); and a proxy's
 * credentials, configured or from the environment's proxy variables (as
 * written, decoded, and as the Basic Proxy-Authorization token). Pure: no I/O.
 */
import { fromWireError, toWireError, type WireCause, type WireError } from './error-wire.ts';
import type { ParleyError } from './errors.ts';
import type { ProviderConfig } from './types.ts';

/** Header names whose values are credentials: authorization, cookie, or any name containing key, token, auth or secret. */
const CREDENTIAL_NAME = /^(authorization|proxy-authorization|cookie)$|key|token|auth|secret|passw|signature|^sig$/i;

/** What a secret is replaced with. */
export const REDACTED = '[redacted]';

/** Values shorter than this would redact ordinary words; real credentials are longer. */
const MIN_SECRET_LENGTH = 6;

/**
 * Where a text was cut (an excerpt's `…`, or its start or end), a piece of
 * a secret this long or longer is redacted too: an excerpt must not leak a
 * key's first half because the cut fell inside it.
 */
const MIN_FRAGMENT_LENGTH = 8;
const CUT = '…';

/** True when a header (or query parameter) of this name carries a credential. */
export function isCredentialName(name: string): boolean {
  return CREDENTIAL_NAME.test(name);
}

/** The forms a secret takes on the wire and in messages: as is, URL-encoded, and without an auth scheme. */
function forms(value: string): string[] {
  const out = [value];
  const scheme = /^(bearer|basic|token)\s+(.+)$/i.exec(value);
  if (scheme?.[2]) out.push(scheme[2]);
  // A cookie's values (`session=…; csrf=…`), each a credential on its own.
  for (const pair of value.split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0) out.push(pair.slice(eq + 1).trim());
  }
  for (const v of [...out]) {
    const encoded = encodeURIComponent(v);
    if (encoded !== v) out.push(encoded);
  }
  return out;
}

/** The credentials inside a URL string (userinfo, credential-named query values), parsed leniently. */
function urlSecrets(url: string): string[] {
  const out: string[] = [];
  const userinfo = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)@/i.exec(url)?.[1];
  if (userinfo) {
    out.push(userinfo);
    const [user = '', password = ''] = userinfo.split(':');
    try {
      // What undici sends a proxy: Basic base64(user:password), decoded.
      out.push(base64(`${decodeURIComponent(user)}:${decodeURIComponent(password)}`));
    } catch {
      // a malformed escape: undici would refuse the URL too
    }
    for (const part of userinfo.split(':')) {
      out.push(part);
      try {
        out.push(decodeURIComponent(part));
      } catch {
        // a malformed escape: the raw form is covered
      }
    }
  }
  const query = url.indexOf('?');
  if (query >= 0) {
    for (const pair of url.slice(query + 1).split(/[&#]/)) {
      const eq = pair.indexOf('=');
      if (eq <= 0 || !isCredentialName(pair.slice(0, eq))) continue;
      const raw = pair.slice(eq + 1);
      out.push(raw);
      try {
        out.push(decodeURIComponent(raw.replace(/\+/g, ' ')));
      } catch {
        // a malformed escape: the raw form is covered
      }
    }
  }
  return out;
}

/** base64 of a UTF-8 string, without Buffer (this file runs on both threads and stays pure). */
function base64(text: string): string {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** The proxy URLs the environment names (http_proxy, https_proxy, either case), as undici's EnvHttpProxyAgent reads them. */
export function environmentProxies(env: Readonly<Record<string, string | undefined>>): string[] {
  return [env.http_proxy, env.HTTP_PROXY, env.https_proxy, env.HTTPS_PROXY].filter((v): v is string => typeof v === 'string' && v !== '');
}

/** Every secret in provider configs, whatever shape they arrive in (unvalidated input is read defensively). */
function providerSecrets(providers: Readonly<Record<string, ProviderConfig>> | undefined): string[] {
  const secrets: string[] = [];
  for (const config of Object.values(providers ?? {})) {
    if (typeof config !== 'object' || config === null) continue;
    const c = config as unknown as Record<string, unknown>;
    if (typeof c.apiKey === 'string') secrets.push(c.apiKey);
    if (typeof c.authToken === 'string') secrets.push(c.authToken);
    if (typeof c.baseUrl === 'string') secrets.push(...urlSecrets(c.baseUrl));
    if (typeof c.proxy === 'string') secrets.push(...urlSecrets(c.proxy));
    if (typeof c.headers === 'object' && c.headers !== null) {
      for (const [name, value] of Object.entries(c.headers)) {
        if (typeof value === 'string' && isCredentialName(name)) secrets.push(value);
      }
    }
  }
  return secrets;
}

export class Redactor {
  /** Longest first, so a secret that contains another is replaced whole. */
  #secrets: readonly string[] = [];

  constructor(secrets: Iterable<string>) {
    this.#add(secrets);
  }

  /**
   * Every secret the provider configs hold, and the credentials of the
   * proxy URLs in `proxies` (the environment's, see environmentProxies).
   */
  static of(providers: Readonly<Record<string, ProviderConfig>> | undefined, proxies: readonly string[] = []): Redactor {
    return new Redactor([...providerSecrets(providers), ...proxies.flatMap(urlSecrets)]);
  }

  /**
   * Adds the secrets of new provider configs (live settings) to the ones
   * already known, which are kept: calls in flight on the old settings may
   * still echo them, and a rotated key is still a key.
   */
  learn(providers: Readonly<Record<string, ProviderConfig>>): void {
    this.#add(providerSecrets(providers));
  }

  #add(secrets: Iterable<string>): void {
    const all = new Set<string>(this.#secrets);
    for (const secret of secrets) for (const form of forms(secret)) if (form.length >= MIN_SECRET_LENGTH) all.add(form);
    this.#secrets = [...all].sort((a, b) => b.length - a.length);
  }

  /** `text` with every secret, and every piece of one at a cut, replaced by [redacted]. */
  text(text: string): string {
    if (text === '') return text;
    let out = text.includes('://') || text.includes('?') ? redactUrl(text) : text;
    if (this.#secrets.length === 0) return out;
    for (const secret of this.#secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    return this.#fragments(out);
  }

  /** An error on its way across the thread boundary: message, request id and the whole cause chain. */
  wire(wire: WireError): WireError {
    const out: WireError = { ...wire, message: this.text(wire.message) };
    if (wire.requestId !== undefined) out.requestId = this.text(wire.requestId);
    if (wire.provider !== undefined) out.provider = this.text(wire.provider);
    const cause = this.#cause(wire.cause);
    if (cause) out.cause = cause;
    return out;
  }

  /**
   * `err`, or when a string of it (message, provider, request id, cause
   * chain) holds a secret, the same error rebuilt from redacted strings.
   */
  error(err: ParleyError): ParleyError {
    const wire = toWireError(err);
    const clean = this.wire(wire);
    return JSON.stringify(clean) === JSON.stringify(wire) ? err : fromWireError(clean);
  }

  #cause(cause: WireCause | undefined): WireCause | undefined {
    if (!cause) return undefined;
    const out: WireCause = { name: this.text(cause.name), message: this.text(cause.message) };
    if (cause.code !== undefined) out.code = this.text(cause.code);
    const inner = this.#cause(cause.cause);
    if (inner) out.cause = inner;
    return out;
  }

  /** A copy of `value` with every string in it redacted (plain data: objects, arrays, primitives). */
  value<T>(value: T): T {
    return this.#copy(value, 0) as T;
  }

  #copy(value: unknown, depth: number): unknown {
    if (typeof value === 'string') return this.text(value);
    if (typeof value !== 'object' || value === null || depth > 32) return value;
    if (Array.isArray(value)) return value.map((v) => this.#copy(v, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) out[key] = this.#copy(v, depth + 1);
    return out;
  }

  /** A secret's head just before a cut or at the end, or its tail just after a cut or at the start. */
  #fragments(text: string): string {
    let out = text;
    for (const secret of this.#secrets) {
      if (secret.length <= MIN_FRAGMENT_LENGTH) continue;
      for (let n = secret.length - 1; n >= MIN_FRAGMENT_LENGTH; n--) {
        const head = secret.slice(0, n);
        if (out.endsWith(head)) out = out.slice(0, -n) + REDACTED;
        if (out.includes(head + CUT)) out = out.split(head + CUT).join(REDACTED + CUT);
        const tail = secret.slice(-n);
        if (out.startsWith(tail)) out = REDACTED + out.slice(n);
        if (out.includes(CUT + tail)) out = out.split(CUT + tail).join(CUT + REDACTED);
      }
    }
    return out;
  }
}

/**
 * Credentials written into any URL in `text` (userinfo, credential-named
 * query values), whatever secrets are configured: a URL in a message may
 * not be a configured one.
 */
function redactUrl(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/)[^/?#\s@"']*@/gi, `$1${REDACTED}@`)
    .replace(/([?&])([^=&#\s"']+)=([^&#\s"']*)/g, (pair: string, sep: string, name: string) => (isCredentialName(name) ? `${sep}${name}=${REDACTED}` : pair));
}

/**
 * `text` with every secret of `providers` replaced by [redacted]: API keys,
 * values of credential-named headers (authorization, cookie, anything with
 * key, token, auth or secret in its name) and credentials in a baseUrl.
 * What parley applies to every string it lets out; for a host's own logs
 * and config views.
 */
export function redactSecrets(text: string, providers: Readonly<Record<string, ProviderConfig>>): string {
  return Redactor.of(providers).text(text);
}
