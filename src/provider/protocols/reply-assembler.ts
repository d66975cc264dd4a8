/**
 * One reply, assembled out of the pieces a provider sends (a whole body or a
 * stream): text, reasoning and its blocks, a refusal, tool calls, usage and
 * the finish reason. `content` is exactly the text events joined.
 */
import type { ChatResult, FinishReason, ReasoningBlock, StreamEvent, ToolCall, Usage } from '../../shared/types.ts';

/** A protocol's own finish words mapped onto parley's closed set; undefined when the provider sent none. */
export type FinishMap = (raw: string | undefined) => FinishReason;

export class ReplyAssembler {
  readonly #provider: string;
  #model: string;
  #finishReason: string | undefined;
  #usage: Usage | undefined;
  readonly #text: string[] = [];
  readonly #reasoning: string[] = [];
  readonly #blocks: ReasoningBlock[] = [];
  readonly #refusal: string[] = [];
  readonly #toolCalls: ToolCall[] = [];

  constructor(provider: string, model: string) {
    this.#provider = provider;
    this.#model = model;
  }

  addText(text: unknown, events: StreamEvent[]): void {
    if (typeof text !== 'string' || text === '') return;
    this.#text.push(text);
    events.push({ type: 'text', text });
  }

  addReasoning(text: unknown, events: StreamEvent[]): void {
    if (typeof text !== 'string' || text === '') return;
    this.#reasoning.push(text);
    events.push({ type: 'reasoning', text });
  }

  /** A whole reasoning block, kept to be sent back; its text was already added through addReasoning. */
  addReasoningBlock(block: ReasoningBlock): void {
    this.#blocks.push(block);
  }

  addRefusal(text: unknown, events: StreamEvent[]): void {
    if (typeof text !== 'string' || text === '') return;
    this.#refusal.push(text);
    events.push({ type: 'refusal', text });
  }

  addToolCall(toolCall: ToolCall, events: StreamEvent[]): void {
    this.#toolCalls.push(toolCall);
    events.push({ type: 'tool_call', toolCall });
  }

  setModel(model: unknown): void {
    if (typeof model === 'string' && model !== '') this.#model = model;
  }

  setFinishReason(reason: unknown): void {
    if (typeof reason === 'string' && reason !== '') this.#finishReason = reason;
  }

  /** Merges a usage report: a later count replaces an earlier one, raw objects merge. */
  addUsage(usage: Usage | undefined): void {
    if (usage === undefined) return;
    const merged: Usage = { ...this.#usage, ...usage };
    if (this.#usage?.raw !== undefined && usage.raw !== undefined) merged.raw = { ...this.#usage.raw, ...usage.raw };
    this.#usage = merged;
  }

  result(finish: FinishMap): ChatResult {
    let finishReason = finish(this.#finishReason);
    // A refusal says so whatever word came with it (OpenAI sends "stop"); a
    // reply that made tool calls says so even where the protocol has no word
    // for it (Ollama's "stop").
    if (this.#refusal.length > 0) finishReason = 'refusal';
    else if (this.#toolCalls.length > 0 && finishReason === 'stop') finishReason = 'tool-calls';
    const result: ChatResult = { content: this.#text.join(''), finishReason, model: this.#model, provider: this.#provider };
    if (this.#finishReason !== undefined) result.rawFinishReason = this.#finishReason;
    const usage = this.#usage;
    if (usage !== undefined) {
      if (usage.totalTokens === undefined && usage.inputTokens !== undefined && usage.outputTokens !== undefined) {
        usage.totalTokens = usage.inputTokens + usage.outputTokens;
      }
      result.usage = usage;
    }
    if (this.#toolCalls.length > 0) result.toolCalls = this.#toolCalls;
    if (this.#reasoning.length > 0) result.reasoning = this.#reasoning.join('');
    if (this.#blocks.length > 0) result.reasoningBlocks = this.#blocks;
    if (this.#refusal.length > 0) result.refusal = this.#refusal.join('');
    return result;
  }
}
