/**
 * What the host's door and the worker's adapters must agree on about the
 * request controls (tool choice, reasoning, structured output). Pure data.
 */

/** The name a structured-output schema goes by when the request gives none (OpenAI's json_schema.name, Anthropic's forced tool). */
export const DEFAULT_OUTPUT_NAME = 'response';

/** Anthropic's thinking budget for an effort level, when the request gives no budgetTokens. */
export const EFFORT_BUDGET_TOKENS = { low: 1_024, medium: 4_096, high: 16_384 } as const;

/** Anthropic refuses a smaller thinking budget. https://docs.claude.com/en/docs/build-with-claude/extended-thinking */
export const MIN_BUDGET_TOKENS = 1_024;

/**
 * True when Anthropic gets structured output as a forced tool call rather
 * than `output_config.format`: always for `{ type: 'json' }` (the native
 * field needs a schema), and for schemas when the provider says 'tool'.
 */
export function outputViaTool(config: { kind: string; structuredOutput?: 'native' | 'tool' }, format: { type: string } | undefined): boolean {
  if (config.kind !== 'anthropic' || format === undefined) return false;
  return format.type === 'json' || config.structuredOutput === 'tool';
}
