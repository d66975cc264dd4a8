/**
 * The request controls as flags, for `chat` (every turn) and `ask`:
 * --reasoning, --format json, --schema FILE and --extra JSON become the
 * same fields a host sets on a request (see TurnControls).
 */
import { readFileSync } from 'node:fs';
import type { TurnControls } from '../index.ts';
import { UsageError } from './exit-codes.ts';

export const REQUEST_FLAG_USAGE = `  --reasoning LEVEL    low | medium | high, or off (thinking, where the model has it)
  --format json        ask for a JSON reply
  --schema PATH        ask for JSON that fits this JSON Schema file (checked on arrival)
  --extra JSON         provider-specific request fields, merged deeply, e.g. '{"options":{"num_ctx":8192}}'`;

export const REQUEST_FLAG_OPTIONS = {
  reasoning: { type: 'string' },
  format: { type: 'string' },
  schema: { type: 'string' },
  extra: { type: 'string' },
} as const;

function jsonObject(flag: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${flag} must be a JSON object (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UsageError(`${flag} must be a JSON object`);
  return value as Record<string, unknown>;
}

/** The controls the flags ask for; a wrong value is a UsageError naming the flag. */
export function controlsFromFlags(values: { reasoning?: string; format?: string; schema?: string; extra?: string }): TurnControls {
  const controls: TurnControls = {};
  const level = values.reasoning;
  if (level !== undefined) {
    if (level === 'off') controls.reasoning = { enabled: false };
    else if (level === 'low' || level === 'medium' || level === 'high') controls.reasoning = { effort: level };
    else throw new UsageError(`--reasoning must be low, medium, high or off (got ${JSON.stringify(level)})`);
  }
  if (values.format !== undefined && values.format !== 'json') throw new UsageError(`--format must be json (got ${JSON.stringify(values.format)})`);
  if (values.schema !== undefined) {
    let text: string;
    try {
      text = readFileSync(values.schema, 'utf8');
    } catch (err) {
      throw new UsageError(`--schema ${values.schema} could not be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    controls.responseFormat = { type: 'json-schema', schema: jsonObject(`--schema ${values.schema}`, text) };
  } else if (values.format === 'json') controls.responseFormat = { type: 'json' };
  if (values.extra !== undefined) controls.extra = jsonObject('--extra', values.extra);
  return controls;
}
