/**
 * The providers and the default provider: checked at createRuntime, and
 * again whenever Runtime.configure() replaces them while the runtime runs.
 */
import { ParleyError } from '../shared/errors.ts';
import { nearestName, unknownKey } from '../shared/known-keys.ts';
import { Redactor } from '../shared/redaction.ts';
import type { ProviderConfig } from '../shared/types.ts';
import { validateProvider } from './provider-validation.ts';

function fail(message: string): never {
  throw new ParleyError('CONFIG', message);
}

/** What Runtime.configure() may change while the runtime runs. */
export interface ProviderSettings {
  /** Provider name -> config, replacing the whole set. At least one. */
  providers: Record<string, ProviderConfig>;
  /** @default the first provider */
  defaultProvider?: string;
}

const SETTINGS_KEYS: ReadonlySet<string> = new Set(['providers', 'defaultProvider'] satisfies (keyof ProviderSettings)[]);

/**
 * The providers and their default, checked; every config that names no
 * proxy gets the runtime's `proxy` (so a proxy's credentials are in the
 * configs the redactor is built from).
 */
export function resolveProviders(o: { providers?: unknown; defaultProvider?: unknown }, proxy: string | false | undefined, at: string) {
  if (typeof o.providers !== 'object' || o.providers === null || Array.isArray(o.providers) || Object.keys(o.providers).length === 0) {
    fail(`${at}.providers must name at least one provider, e.g. { local: { kind: "ollama" } }`);
  }
  const providers: Record<string, ProviderConfig> = {};
  for (const [name, config] of Object.entries(o.providers)) {
    const checked = validateProvider(name, config);
    providers[name] = checked.proxy === undefined && proxy !== undefined ? { ...checked, proxy } : checked;
  }
  const names = Object.keys(providers);
  const defaultProvider = o.defaultProvider ?? names[0]!;
  if (typeof defaultProvider !== 'string' || !Object.hasOwn(providers, defaultProvider)) {
    const near = typeof defaultProvider === 'string' ? nearestName(defaultProvider, names) : undefined;
    fail(`${at}.defaultProvider must be one of ${names.join(', ')}${near ? `; did you mean ${near}?` : ''}`);
  }
  return { providers, defaultProvider };
}

/**
 * Checks the settings Runtime.configure() is given, as createRuntime checks
 * its options: ParleyError CONFIG naming the first field that is wrong (an
 * unknown key with the nearest known one), never printing a secret.
 */
export function resolveProviderSettings(settings: unknown, proxy: string | false | undefined): { providers: Record<string, ProviderConfig>; defaultProvider: string } {
  try {
    if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) fail('settings must be an object with "providers"');
    const unknown = unknownKey(settings, SETTINGS_KEYS, 'settings', 'a setting configure() changes', 'the other runtime options are fixed at createRuntime');
    if (unknown) fail(unknown);
    return resolveProviders(settings as ProviderSettings, proxy, 'settings');
  } catch (err) {
    const providers = (settings as { providers?: unknown } | null)?.providers;
    throw err instanceof ParleyError ? Redactor.of(providers as Record<string, ProviderConfig>).error(err) : err;
  }
}
