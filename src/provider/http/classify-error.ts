/**
 * Turns whatever the HTTP stack threw into a ParleyError with a stable code.
 * The line that matters is whether a connection was ever made: before it the
 * provider is UNREACHABLE, after it the CONNECTION broke.
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
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
]);

function codeOf(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 4 && current && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

export function classifyFailure(err: unknown, provider: string): ParleyError {
  if (err instanceof ParleyError) return err;
  const code = codeOf(err);
  const detail = err instanceof Error ? err.message : String(err);
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
