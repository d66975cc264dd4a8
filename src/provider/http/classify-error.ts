/**
 * Turns whatever the HTTP stack threw into a ParleyError with a stable code.
 * The line that matters is whether a connection was ever made: before it the
 * provider is UNREACHABLE, after it the CONNECTION broke. A failure at the
 * proxy names the proxy (never its credentials), not the provider; a
 * certificate that is not trusted says why and points at the `ca` option.
 */
import { ParleyError } from '../../shared/errors.ts';

/** Failures that happen before a connection exists: refused, DNS, routing, TLS (ERR_TLS_* and ERR_SSL_* match by prefix). */
const BEFORE_CONNECT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** OpenSSL's verdicts on a certificate chain: retrying will not change them, a `ca` may. */
const UNTRUSTED_CERTIFICATE = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** undici's words when a proxy answers CONNECT with anything but 200 (RequestAbortedError carries no status of its own). */
const TUNNEL_REFUSED = /^Proxy response \((\d{3})\) !== 200/;

interface Failure {
  code?: unknown;
  message?: unknown;
  address?: unknown;
  port?: unknown;
  cause?: unknown;
}

/** The errors of a cause chain, outermost first. */
function chain(err: unknown): Failure[] {
  const out: Failure[] = [];
  let current: unknown = err;
  for (let depth = 0; depth < 4 && current && typeof current === 'object'; depth++) {
    out.push(current as Failure);
    current = (current as Failure).cause;
  }
  return out;
}

function codeOf(errors: Failure[]): string | undefined {
  for (const e of errors) if (typeof e.code === 'string') return e.code;
  return undefined;
}

/** The proxy as a message shows it: scheme, host and port, no credentials. */
function proxyName(proxy: string): string {
  try {
    const url = new URL(proxy);
    return `${url.protocol}//${url.host}`;
  } catch {
    return 'the configured proxy';
  }
}

/** True when the failure happened at the proxy: its CONNECT answer, or a socket to its address. */
function atProxy(errors: Failure[], proxy: string): { status?: number } | undefined {
  for (const e of errors) {
    const tunnel = typeof e.message === 'string' ? TUNNEL_REFUSED.exec(e.message) : null;
    if (tunnel) return { status: Number(tunnel[1]) };
    if ((e as { name?: unknown }).name === 'SecureProxyConnectionError') return {};
  }
  let url: URL;
  try {
    url = new URL(proxy);
  } catch {
    return undefined;
  }
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const local = host === 'localhost' ? ['127.0.0.1', '::1'] : [host];
  for (const e of errors) if (e.port === port && typeof e.address === 'string' && local.includes(e.address)) return {};
  return undefined;
}

export function classifyFailure(err: unknown, provider: string, proxy?: string): ParleyError {
  if (err instanceof ParleyError) return err;
  const errors = chain(err);
  const code = codeOf(errors);
  const detail = err instanceof Error ? err.message : String(err);
  const proxyFailure = proxy === undefined ? undefined : atProxy(errors, proxy);
  if (proxyFailure && proxy !== undefined) {
    const refused = proxyFailure.status !== undefined;
    const why = refused ? `refused the tunnel with status ${proxyFailure.status}${proxyFailure.status === 407 ? ' (proxy credentials missing or wrong)' : ''}` : `could not be reached: ${code ?? ''} ${detail}`.trim();
    return new ParleyError('UNREACHABLE', `proxy ${proxyName(proxy)} ${why}; provider "${provider}" was not reached`, {
      provider,
      // A proxy that answered "no" will say it again; one that is down may come back.
      retryable: !refused,
      cause: err,
    });
  }
  if (code && UNTRUSTED_CERTIFICATE.has(code)) {
    return new ParleyError(
      'UNREACHABLE',
      `TLS: the certificate of provider "${provider}" is not trusted (${code}: ${detail}); if a private CA signs it (an internal gateway, an inspecting proxy), give that CA's PEM as the provider's "ca" option or in NODE_EXTRA_CA_CERTS`,
      { provider, retryable: false, cause: err },
    );
  }
  if (code && (BEFORE_CONNECT.has(code) || code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL'))) {
    return new ParleyError('UNREACHABLE', `could not connect to provider "${provider}": ${code} ${detail}`.trim(), {
      provider,
      retryable: true,
      cause: err,
    });
  }
  return new ParleyError('CONNECTION', `connection to provider "${provider}" broke: ${detail}`, {
    provider,
    retryable: true,
    cause: err,
  });
}
