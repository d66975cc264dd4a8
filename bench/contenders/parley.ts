/** parley itself: the provider worker does the I/O, the host thread gets results and tokens. */
import type { Runtime, RuntimeOptions } from '../../src/index.ts';
import { baselineParley, parley as thisParley } from '../parley-module.ts';
import type { Workload } from '../workload.ts';
import type { Client, Contender, Protocol } from './contender.ts';

export const PROVIDER = 'bench';

export function parleyOptions(url: string, protocol: Protocol, extra: Partial<RuntimeOptions> = {}): RuntimeOptions {
  const provider = protocol === 'openai' ? { kind: 'openai' as const, baseUrl: `${url}/v1`, apiKey: 'x' } : { kind: 'ollama' as const, baseUrl: url };
  return { providers: { [PROVIDER]: provider }, maxRetries: 0, ...extra };
}

export function toParleyRequest(w: Workload) {
  return { model: w.model, messages: w.messages, maxTokens: w.maxTokens };
}

export function parleyClient(runtime: Runtime): Client {
  return {
    async chat(w) {
      return (await runtime.chat(toParleyRequest(w))).content;
    },
    async stream(w, onToken) {
      let tokens = 0;
      for await (const ev of runtime.stream(toParleyRequest(w))) {
        if (ev.type === 'text') {
          tokens++;
          onToken(ev.text);
        }
      }
      return tokens;
    },
    async close() {
      await runtime.shutdown();
    },
  };
}

/**
 * `variant`: extra runtime options under a label, e.g. `{ label: 'nice 5', options: { workerNice: 5 } }`;
 * with `baseline`, the parley given by --baseline instead of this checkout's.
 */
export function parley(protocol: Protocol, workers = 1, variant?: { label: string; options: Partial<RuntimeOptions>; baseline?: boolean }): Contender {
  const options = (url: string) => parleyOptions(url, protocol, { workers, ...variant?.options });
  const parleyModule = variant?.baseline ? () => baselineParley()! : thisParley;
  return {
    name: `parley w${workers}${protocol === 'ollama' ? ' ollama' : ''}${variant ? ` ${variant.label}` : ''}`,
    protocol,
    // A second pool size says little more in a run that only shows everything runs; it costs seconds to start.
    ...(workers > 2 ? { fullRunOnly: true } : {}),
    async open(url) {
      return parleyClient(await parleyModule().createRuntime(options(url)));
    },
    async unavailable(url) {
      if (workers === 1) return undefined;
      // A runtime that accepts `workers` but still runs one worker would pass
      // for a pool here; count the workers that actually answer under load.
      let runtime: Runtime | undefined;
      try {
        runtime = await parleyModule().createRuntime(options(url));
        const req = { model: 'parley-echo', messages: [{ role: 'user' as const, content: 'probe' }], maxTokens: 2 };
        await Promise.all(Array.from({ length: 4 * workers }, () => runtime!.chat(req)));
        const seen = (await runtime.stats()).workers.length;
        return seen >= workers ? undefined : `createRuntime({ workers: ${workers} }) runs ${seen} worker(s) here`;
      } catch (err) {
        return `createRuntime({ workers: ${workers} }) failed: ${(err as Error).message}`;
      } finally {
        await runtime?.shutdown();
      }
    },
  };
}
