/**
 * A runtime for one CLI invocation, plus the embedded model server when
 * nothing is configured. close() shuts both down, always, in that order.
 */
import { createRuntime, type ProviderConfig, type Runtime } from '../index.ts';
import { startModelServer, type ModelServer } from '../testing/index.ts';
import { LOCAL, type CliConfig } from './config.ts';

/** Tokens at a pace a person can watch; instant when nobody is watching. */
const HUMAN_TOKEN_DELAY_MS = 25;

export interface CliRuntime {
  runtime: Runtime;
  /** The providers the runtime was created with (the embedded one included). */
  providers: Record<string, ProviderConfig>;
  /** The provider in use unless a call names another. */
  provider: string;
  /** Set when the embedded model server is in use. */
  server?: ModelServer;
  close(): Promise<void>;
}

export async function openCliRuntime(config: CliConfig, options: { interactive: boolean }): Promise<CliRuntime> {
  let server: ModelServer | undefined;
  let providers = config.providers;
  if (config.embedded) {
    server = await startModelServer({ tokenDelayMs: options.interactive ? HUMAN_TOKEN_DELAY_MS : 0 });
    providers = { [LOCAL]: { kind: 'ollama', baseUrl: server.url } };
  }
  let runtime: Runtime;
  try {
    const runtimeOptions: Parameters<typeof createRuntime>[0] = { ...config.runtime, providers, defaultProvider: config.provider };
    if (config.timeoutMs !== undefined) runtimeOptions.timeoutMs = config.timeoutMs;
    runtime = await createRuntime(runtimeOptions);
  } catch (err) {
    await server?.close();
    throw err;
  }
  let closing: Promise<void> | undefined;
  const cli: CliRuntime = {
    runtime,
    providers,
    provider: config.provider,
    close: () =>
      (closing ??= (async () => {
        try {
          await runtime.shutdown({ graceMs: 1_000 });
        } finally {
          await server?.close();
        }
      })()),
  };
  if (server) cli.server = server;
  return cli;
}
