/**
 * The requests every contender sends, in one protocol-neutral form, and
 * their translation to each wire protocol. The model server's reply length
 * is set by the prompt: a tool result of N words is answered with about
 * N + 8 tokens, the longest reply it generates, so the token-heavy
 * workloads ask for that and cap it with maxTokens.
 */

export interface BenchMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  toolCallId?: string;
}

export interface Workload {
  model: string;
  messages: BenchMessage[];
  maxTokens: number;
}

export const MODEL = 'parley-echo';

/** The server quotes at most 60 words of a tool result; 60 words -> 68 text tokens. */
const TOOL_RESULT = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');

/** A short question: about 30 tokens back. For latency at concurrency 1. */
export const SHORT_CHAT: Workload = {
  model: MODEL,
  messages: [{ role: 'user', content: 'hello, how are you today?' }],
  maxTokens: 16,
};

/** A reply of exactly `maxTokens` text tokens (the bench's servers run with --fill-to-max-tokens). */
export function longReply(maxTokens: number): Workload {
  return {
    model: MODEL,
    messages: [
      { role: 'user', content: 'read the file please' },
      { role: 'tool', content: TOOL_RESULT, toolCallId: 'call_bench' },
    ],
    maxTokens,
  };
}

/** Exactly 64 text tokens back (cut at maxTokens). */
export const CHAT_64: Workload = longReply(64);

/** 256 text tokens per stream: the bench's server runs with --fill-to-max-tokens. */
export const STREAM_LONG: Workload = longReply(256);

export function toOpenAiMessages(messages: readonly BenchMessage[]): Record<string, unknown>[] {
  return messages.map((m) => (m.toolCallId ? { role: m.role, content: m.content, tool_call_id: m.toolCallId } : { role: m.role, content: m.content }));
}

export function toOllamaMessages(messages: readonly BenchMessage[]): Record<string, unknown>[] {
  return messages.map((m) => ({ role: m.role, content: m.content }));
}

export function openAiBody(w: Workload, stream: boolean): string {
  return JSON.stringify({ model: w.model, messages: toOpenAiMessages(w.messages), max_tokens: w.maxTokens, stream });
}

export function ollamaBody(w: Workload, stream: boolean): string {
  return JSON.stringify({ model: w.model, messages: toOllamaMessages(w.messages), options: { num_predict: w.maxTokens }, stream });
}
