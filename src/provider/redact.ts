/**
 * Secrets never leave the worker: every error that crosses the boundary is
 * scrubbed of every API key and credential header value the worker knows.
 */
import type { WireCause, WireError } from '../shared/error-wire.ts';
import type { ProviderConfig } from '../shared/types.ts';

const CREDENTIAL_HEADERS = /^(authorization|proxy-authorization|x-api-key|api-key|cookie)$/i;
/** Short values would redact ordinary words; real keys are long. */
const MIN_SECRET_LENGTH = 6;

export function collectSecrets(providers: Record<string, ProviderConfig>): string[] {
  const secrets = new Set<string>();
  for (const config of Object.values(providers)) {
    if (config.apiKey) secrets.add(config.apiKey);
    for (const [name, value] of Object.entries(config.headers ?? {})) {
      if (!CREDENTIAL_HEADERS.test(name)) continue;
      secrets.add(value);
      const bearer = /^bearer\s+(.+)$/i.exec(value);
      if (bearer?.[1]) secrets.add(bearer[1]);
    }
  }
  // Longest first, so a key that contains another is replaced whole.
  return [...secrets].filter((s) => s.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
}

export function redactText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.split(secret).join('[redacted]');
  }
  return out;
}

function redactCause(cause: WireCause | undefined, secrets: readonly string[]): WireCause | undefined {
  if (!cause) return undefined;
  const out: WireCause = { name: cause.name, message: redactText(cause.message, secrets) };
  if (cause.code !== undefined) out.code = cause.code;
  const inner = redactCause(cause.cause, secrets);
  if (inner) out.cause = inner;
  return out;
}

export function redactWireError(wire: WireError, secrets: readonly string[]): WireError {
  if (secrets.length === 0) return wire;
  const out: WireError = { ...wire, message: redactText(wire.message, secrets) };
  const cause = redactCause(wire.cause, secrets);
  if (cause) out.cause = cause;
  else delete out.cause;
  return out;
}
