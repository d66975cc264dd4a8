/**
 * Each protocol's usage report read into parley's one Usage shape. Counts
 * that are not numbers are left out; `raw` keeps the provider's object.
 */
import type { Usage } from '../../shared/types.ts';
import { asNumber, isObject, type JsonObject } from './wire-format.ts';

function put(usage: Usage, key: Exclude<keyof Usage, 'raw'>, value: unknown): void {
  const n = asNumber(value);
  if (n !== undefined) usage[key] = n;
}

/**
 * OpenAI-compatible `usage` (https://platform.openai.com/docs/api-reference/chat/object#chat/object-usage),
 * with DeepSeek's prompt_cache_hit_tokens and OpenRouter's cache_write_tokens.
 * Groq streams put it under `x_groq.usage`: pass the chunk's `usage ?? x_groq.usage`.
 */
export function openaiUsage(value: unknown): Usage | undefined {
  if (!isObject(value)) return undefined;
  const usage: Usage = {};
  put(usage, 'inputTokens', value.prompt_tokens);
  put(usage, 'outputTokens', value.completion_tokens);
  put(usage, 'totalTokens', value.total_tokens);
  const prompt = isObject(value.prompt_tokens_details) ? value.prompt_tokens_details : {};
  put(usage, 'cachedInputTokens', prompt.cached_tokens ?? value.prompt_cache_hit_tokens);
  put(usage, 'cacheWriteTokens', prompt.cache_write_tokens);
  const completion = isObject(value.completion_tokens_details) ? value.completion_tokens_details : {};
  put(usage, 'reasoningTokens', completion.reasoning_tokens);
  return withRaw(usage, value);
}

/** The usage of an OpenAI-compatible chunk or body, wherever the vendor put it. */
export function openaiUsageOf(body: JsonObject): Usage | undefined {
  if (isObject(body.usage)) return openaiUsage(body.usage);
  // Groq's streams report usage only inside x_groq.
  if (isObject(body.x_groq) && isObject(body.x_groq.usage)) return openaiUsage(body.x_groq.usage);
  return undefined;
}

/**
 * Anthropic `usage` (https://docs.anthropic.com/en/api/messages#response-usage):
 * input_tokens excludes the cache, so inputTokens adds cache reads and writes back.
 */
export function anthropicUsage(value: unknown): Usage | undefined {
  if (!isObject(value)) return undefined;
  const usage: Usage = {};
  const input = asNumber(value.input_tokens);
  const read = asNumber(value.cache_read_input_tokens);
  const write = asNumber(value.cache_creation_input_tokens);
  if (input !== undefined) usage.inputTokens = input + (read ?? 0) + (write ?? 0);
  put(usage, 'outputTokens', value.output_tokens);
  if (read !== undefined) usage.cachedInputTokens = read;
  if (write !== undefined) usage.cacheWriteTokens = write;
  return withRaw(usage, value);
}

/** Ollama's counters on its `done: true` line (https://github.com/ollama/ollama/blob/main/docs/api.md#response-9). */
export function ollamaUsage(line: JsonObject): Usage | undefined {
  const usage: Usage = {};
  put(usage, 'inputTokens', line.prompt_eval_count);
  put(usage, 'outputTokens', line.eval_count);
  const raw: JsonObject = {};
  for (const key of ['prompt_eval_count', 'eval_count', 'total_duration', 'load_duration', 'prompt_eval_duration', 'eval_duration']) {
    if (line[key] !== undefined) raw[key] = line[key];
  }
  return withRaw(usage, raw);
}

function withRaw(usage: Usage, raw: JsonObject): Usage | undefined {
  if (Object.keys(usage).length === 0) return undefined;
  usage.raw = raw;
  return usage;
}
