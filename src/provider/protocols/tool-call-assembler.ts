/**
 * Assembling a reply out of the pieces a stream delivers: text, reasoning,
 * usage, and tool calls whose arguments arrive in fragments keyed by a
 * position (OpenAI's `index`, Anthropic's content block index).
 */
import type { ChatResult, StreamEvent, ToolCall, Usage } from '../../shared/types.ts';
import { asNumber } from './wire-format.ts';

export interface ToolCallFragment {
  id?: string | undefined;
  name?: string | undefined;
  arguments?: string | undefined;
}

interface OpenCall {
  id: string;
  name: string;
  args: string[];
}

export class ToolCallAssembler {
  readonly #open = new Map<number, OpenCall>();

  /**
   * Adds a fragment. The first id and name seen win: some servers repeat them
   * on every fragment, and appending would double them.
   */
  add(key: number, fragment: ToolCallFragment): void {
    let call = this.#open.get(key);
    if (call === undefined) {
      call = { id: '', name: '', args: [] };
      this.#open.set(key, call);
    }
    if (call.id === '' && fragment.id) call.id = fragment.id;
    if (call.name === '' && fragment.name) call.name = fragment.name;
    if (fragment.arguments) call.args.push(fragment.arguments);
  }

  has(key: number): boolean {
    return this.#open.has(key);
  }

  get size(): number {
    return this.#open.size;
  }

  /** Closes the call at `key` and returns it, or undefined when none is open there. */
  complete(key: number): ToolCall | undefined {
    const call = this.#open.get(key);
    if (call === undefined) return undefined;
    this.#open.delete(key);
    const args = call.args.join('');
    // An id is what the caller echoes back in the tool message; servers that omit it still need one.
    return { id: call.id || `call_${key}`, name: call.name, arguments: args.trim() === '' ? '{}' : args };
  }

  /** Closes every open call, in key order. */
  completeAll(): ToolCall[] {
    const keys = [...this.#open.keys()].sort((a, b) => a - b);
    return keys.map((key) => this.complete(key)!);
  }
}

/** Collects what the events carried, so that `content` is exactly the text events joined. */
export class ReplyAssembler {
  readonly #provider: string;
  #model: string;
  #finishReason: string | undefined;
  #usage: Usage | undefined;
  readonly #text: string[] = [];
  readonly #reasoning: string[] = [];
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

  /** Counts that are not numbers are ignored; a later count replaces an earlier one. */
  setUsage(inputTokens: unknown, outputTokens: unknown): void {
    const input = asNumber(inputTokens);
    const output = asNumber(outputTokens);
    if (input === undefined && output === undefined) return;
    this.#usage ??= {};
    if (input !== undefined) this.#usage.inputTokens = input;
    if (output !== undefined) this.#usage.outputTokens = output;
  }

  /** `defaultFinish` is the protocol's word for a normal end, used when the provider sent none. */
  result(defaultFinish: string): ChatResult {
    const result: ChatResult = {
      content: this.#text.join(''),
      finishReason: this.#finishReason ?? defaultFinish,
      model: this.#model,
      provider: this.#provider,
    };
    if (this.#usage !== undefined) result.usage = this.#usage;
    if (this.#toolCalls.length > 0) result.toolCalls = this.#toolCalls;
    if (this.#reasoning.length > 0) result.reasoning = this.#reasoning.join('');
    return result;
  }
}
