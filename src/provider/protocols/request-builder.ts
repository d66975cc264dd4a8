/**
 * Where a provider is reached and what every request to it carries: the
 * adapters build all their HTTP requests here, and differ only in paths,
 * bodies and their protocol's own headers.
 */
import type { ProviderConfig } from '../../shared/types.ts';
import type { HttpRequestSpec, ProviderContext } from './adapter.ts';
import type { JsonObject } from './wire-format.ts';

/** The protocol's own headers (its key, and for Anthropic its version), read per request. */
export type ProtocolHeaders = (config: ProviderConfig) => Record<string, string>;

/** The key as OpenAI-compatible servers and Ollama's proxies take it. */
export function bearerAuth(config: ProviderConfig): Record<string, string> {
  return config.apiKey ? { authorization: `Bearer ${config.apiKey}` } : {};
}

export class RequestBuilder {
  readonly #ctx: ProviderContext;
  /** The base without its query string. */
  readonly #base: string;
  /** The base's query string with its `?` (Azure OpenAI's `?api-version=…`), or ''; applied to every request path. */
  readonly #query: string;
  readonly #protocolHeaders: ProtocolHeaders;

  /** `baseUrl` as checked at the door: http(s), no userinfo, no fragment; its query string is kept. */
  constructor(ctx: ProviderContext, baseUrl: string, protocolHeaders: ProtocolHeaders) {
    this.#ctx = ctx;
    const q = baseUrl.indexOf('?');
    this.#base = q < 0 ? baseUrl : baseUrl.slice(0, q);
    this.#query = q < 0 || q === baseUrl.length - 1 ? '' : baseUrl.slice(q);
    this.#protocolHeaders = protocolHeaders;
  }

  /** `accept` names what a streamed reply comes as, or JSON. */
  post(path: string, accept: string, body: JsonObject): HttpRequestSpec {
    return { method: 'POST', url: this.#url(path), headers: this.#headers(accept, true), body: JSON.stringify(body) };
  }

  get(path: string, accept = 'application/json'): HttpRequestSpec {
    return { method: 'GET', url: this.#url(path), headers: this.#headers(accept, false) };
  }

  /** A request path never has a query of its own: the base's is appended as it is. */
  #url(path: string): string {
    return joinUrl(this.#base, path) + this.#query;
  }

  #headers(accept: string, hasBody: boolean): Record<string, string> {
    const config = this.#ctx.config;
    const headers: Record<string, string> = { accept };
    if (hasBody) headers['content-type'] = 'application/json';
    Object.assign(headers, this.#protocolHeaders(config));
    // Configured headers last, so one of them (e.g. a proxy's own auth) wins.
    return config.headers === undefined ? headers : { ...headers, ...config.headers };
  }
}

/** Joins whether or not the base ends with '/' (a `new URL(path, base)` would drop the base's last segment, e.g. `/v1`). */
function joinUrl(base: string, path: string): string {
  let end = base.length;
  while (end > 0 && base.charCodeAt(end - 1) === 47) end--;
  let start = 0;
  while (start < path.length && path.charCodeAt(start) === 47) start++;
  return `${base.slice(0, end)}/${path.slice(start)}`;
}
