/**
 * `request.extra` merged into the body an adapter built: deeply, so that
 * Ollama's `extra: { options: { num_ctx } }` adds to the `options` parley
 * made from temperature and maxTokens instead of wiping them.
 */
import { isObject, type JsonObject } from './wire-format.ts';

/**
 * Merges `extra` into `body` in place and returns it: where both hold an
 * object, their keys are merged (recursively); anything else in `extra`
 * (arrays, strings, numbers, booleans, null) replaces what was there.
 */
export function mergeExtra(body: JsonObject, extra: JsonObject | undefined): JsonObject {
  if (extra === undefined) return body;
  for (const [key, value] of Object.entries(extra)) {
    const current = body[key];
    body[key] = isObject(current) && isObject(value) ? mergeExtra({ ...current }, value) : value;
  }
  return body;
}
