/** The one place that turns a provider's configured kind into its protocol adapter. */
import { ParleyError } from '../../shared/errors.ts';
import type { Adapter, ProviderContext } from './adapter.ts';
import { AnthropicAdapter } from './anthropic-adapter.ts';
import { OllamaAdapter } from './ollama-adapter.ts';
import { OpenAIAdapter } from './openai-adapter.ts';

export function createAdapter(ctx: ProviderContext): Adapter {
  const kind: string = ctx.config.kind;
  switch (kind) {
    case 'openai':
      return new OpenAIAdapter(ctx);
    case 'ollama':
      return new OllamaAdapter(ctx);
    case 'anthropic':
      return new AnthropicAdapter(ctx);
    default:
      throw new ParleyError('CONFIG', `providers.${ctx.name}.kind must be one of ollama, openai, anthropic (got ${JSON.stringify(kind)})`);
  }
}
