/**
 * The checks a conversation's init and each turn's input pass at the door:
 * INVALID_REQUEST naming the field, before anything is queued or sent.
 */
import { ParleyError } from '../shared/errors.ts';
import { unknownKey } from '../shared/known-keys.ts';
import type { ContentPart } from '../shared/types.ts';
import type { ConversationInit } from './conversation.ts';
import { CONTROL_KEYS } from './turn-controls.ts';

export function invalid(message: string): ParleyError {
  return new ParleyError('INVALID_REQUEST', message);
}

export function checkText(text: unknown, field: string): asserts text is string {
  if (typeof text !== 'string' || text.trim() === '') throw invalid(`${field} must be a non-empty string`);
}

/** The user's input as the pending message's content: parts are copied (their bytes shared), so later changes by the caller do not reach the history. */
export function userContent(input: unknown): string | ContentPart[] {
  if (Array.isArray(input)) {
    if (input.length === 0 || !input.every((p) => typeof p === 'object' && p !== null)) throw invalid('input must be a non-empty string or a non-empty array of content parts');
    return (input as ContentPart[]).map((part) => ({ ...part }));
  }
  checkText(input, 'text');
  return input;
}

export function checkProvider(provider: unknown, field: string): asserts provider is string | string[] {
  const ok =
    (typeof provider === 'string' && provider !== '') ||
    (Array.isArray(provider) && provider.length > 0 && provider.every((p) => typeof p === 'string' && p !== ''));
  if (!ok) throw invalid(`${field} must be a non-empty string or a non-empty array of non-empty strings`);
}

/** Every ConversationInit field: anything else is refused, with the nearest of these suggested. */
const INIT_KEYS: ReadonlySet<string> = new Set([
  'provider',
  'model',
  'system',
  'store',
  'maxContextTokens',
  'temperature',
  'maxTokens',
  'tools',
  'onWarning',
  ...CONTROL_KEYS,
] satisfies (keyof ConversationInit)[]);

export function checkInit(init: ConversationInit): asserts init is ConversationInit & { model: string } {
  if (typeof init !== 'object' || init === null) throw invalid('init must be an object');
  const unknown = unknownKey(init, INIT_KEYS, 'init', 'a conversation field');
  if (unknown) throw invalid(unknown);
  if (init.model === undefined) throw invalid("init.model is required: name a model, or give the conversation's provider a defaultModel");
  checkText(init.model, 'init.model');
  if (init.provider !== undefined) checkProvider(init.provider, 'init.provider');
  if (init.system !== undefined && typeof init.system !== 'string') throw invalid('init.system must be a string');
  if (init.store !== undefined) checkText(init.store, 'init.store');
  if (init.maxContextTokens !== undefined && !(Number.isFinite(init.maxContextTokens) && init.maxContextTokens > 0)) {
    throw invalid('init.maxContextTokens must be a positive number');
  }
  if (init.tools !== undefined && !Array.isArray(init.tools)) throw invalid('init.tools must be an array');
  if (init.onWarning !== undefined && typeof init.onWarning !== 'function') throw invalid('init.onWarning must be a function');
}
