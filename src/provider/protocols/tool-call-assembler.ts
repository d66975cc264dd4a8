/**
 * Tool calls whose arguments arrive in fragments keyed by a position
 * (OpenAI's `index`, Anthropic's content block index), and the keys of
 * OpenAI-compatible fragments, which some servers give by id rather than index.
 */
import type { ToolCall } from '../../shared/types.ts';
import { asNumber, asString, isObject, type JsonObject } from './wire-format.ts';

export interface ToolCallFragment {
  id?: string | undefined;
  name?: string | undefined;
  arguments?: string | undefined;
  /** The whole arguments, used only when no `arguments` fragment follows (Anthropic's input in content_block_start). */
  initialArguments?: string | undefined;
}

interface OpenCall {
  id: string;
  name: string;
  args: string[];
  initial: string | undefined;
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
      call = { id: '', name: '', args: [], initial: undefined };
      this.#open.set(key, call);
    }
    if (call.id === '' && fragment.id) call.id = fragment.id;
    if (call.name === '' && fragment.name) call.name = fragment.name;
    if (fragment.arguments) call.args.push(fragment.arguments);
    if (fragment.initialArguments !== undefined) call.initial = fragment.initialArguments;
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
    const args = call.args.length > 0 ? call.args.join('') : (call.initial ?? '');
    // An id is what the caller echoes back in the tool message; servers that omit it still need one.
    return { id: call.id || `call_${key}`, name: call.name, arguments: args.trim() === '' ? '{}' : args };
  }

  /** Closes every open call, in key order. */
  completeAll(): ToolCall[] {
    const keys = [...this.#open.keys()].sort((a, b) => a - b);
    return keys.map((key) => this.complete(key)!);
  }
}

/**
 * The assembler key of each OpenAI-style tool-call fragment. A fragment with
 * an id not seen before opens a new call even when it reuses an `index`
 * (servers that stream parallel calls one per chunk, all at index 0, or with
 * no index); a fragment without an id continues the call at its index, or
 * the last call when it has no index either.
 */
export class ToolCallKeys {
  readonly #byId = new Map<string, number>();
  readonly #byIndex = new Map<number, number>();
  #next = 0;
  #last: number | undefined;

  /** `position` stands in for a missing index where each fragment is a whole call (a non-stream body). */
  key(call: JsonObject, position?: number): number {
    const id = asString(call.id) || undefined;
    const index = asNumber(call.index) ?? position;
    let key: number | undefined;
    if (id !== undefined) {
      key = this.#byId.get(id);
      if (key === undefined) {
        key = this.#next++;
        this.#byId.set(id, key);
        if (index !== undefined) this.#byIndex.set(index, key);
      }
    } else if (index !== undefined) {
      key = this.#byIndex.get(index);
      if (key === undefined) {
        key = this.#next++;
        this.#byIndex.set(index, key);
      }
    } else {
      key = this.#last ?? this.#next++;
    }
    this.#last = key;
    return key;
  }
}

/** Adds one OpenAI-style tool-call fragment (`{ index?, id?, function: { name?, arguments? } }`). */
export function addFunctionFragment(calls: ToolCallAssembler, keys: ToolCallKeys, call: unknown, position?: number): void {
  if (!isObject(call)) return;
  const fn = isObject(call.function) ? call.function : {};
  const args = fn.arguments;
  calls.add(keys.key(call, position), {
    id: asString(call.id),
    name: asString(fn.name),
    // Some servers send the arguments as an object rather than a JSON string.
    arguments: isObject(args) ? JSON.stringify(args) : asString(args),
  });
}
