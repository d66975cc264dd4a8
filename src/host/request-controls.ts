/**
 * The request controls at the door: tool choice, parallel tool calls,
 * reasoning and structured output are checked for shape with the request
 * (copyControls), then against each provider the call may go to
 * (checkControlsFor): what a protocol cannot express is INVALID_REQUEST
 * before any I/O, never a field silently dropped.
 */
import { ParleyError } from '../shared/errors.ts';
import { DEFAULT_OUTPUT_NAME, MIN_BUDGET_TOKENS, outputViaTool } from '../shared/request-controls.ts';
import type { ChatRequest, ProviderConfig } from '../shared/types.ts';
import type { RequestCopier } from './request-validation.ts';

type Fields = Record<string, unknown>;

const REASONING_KEYS: ReadonlySet<string> = new Set(['effort', 'budgetTokens', 'enabled']);
const FORMAT_KEYS: ReadonlySet<string> = new Set(['type', 'schema', 'name', 'strict']);
const TOOL_CHOICE_KEYS: ReadonlySet<string> = new Set(['name']);
const EFFORTS: ReadonlySet<unknown> = new Set(['low', 'medium', 'high']);
/** OpenAI's rule for json_schema.name, which Anthropic's tool names share. */
const OUTPUT_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/** Checks and copies `toolChoice`, `parallelToolCalls`, `reasoning` and `responseFormat` of a request being copied, in place. */
export function copyControls(c: RequestCopier, r: Fields): void {
  if (r.toolChoice !== undefined) r.toolChoice = copyToolChoice(c, r.toolChoice, r.tools);
  if (r.parallelToolCalls !== undefined && typeof r.parallelToolCalls !== 'boolean') throw c.invalid('request.parallelToolCalls', 'a boolean', r.parallelToolCalls);
  if (r.reasoning !== undefined) {
    const reasoning = c.fields(r.reasoning, 'request.reasoning', REASONING_KEYS, 'a reasoning field', 'an object such as { effort: "low" }');
    if (reasoning.effort !== undefined && !EFFORTS.has(reasoning.effort)) throw c.invalid('request.reasoning.effort', 'one of low, medium, high', reasoning.effort);
    const budget = reasoning.budgetTokens;
    if (budget !== undefined && (!Number.isSafeInteger(budget) || (budget as number) < MIN_BUDGET_TOKENS)) {
      throw c.invalid('request.reasoning.budgetTokens', `an integer of at least ${MIN_BUDGET_TOKENS} (Anthropic's minimum; only Anthropic takes a budget, other providers take request.reasoning.effort)`, budget);
    }
    if (reasoning.enabled !== undefined && typeof reasoning.enabled !== 'boolean') throw c.invalid('request.reasoning.enabled', 'a boolean', reasoning.enabled);
    if (reasoning.enabled === false && (reasoning.effort !== undefined || budget !== undefined)) {
      throw new ParleyError('INVALID_REQUEST', 'request.reasoning.enabled is false, so request.reasoning.effort and budgetTokens must be left out');
    }
    r.reasoning = reasoning;
  }
  if (r.responseFormat !== undefined) r.responseFormat = copyResponseFormat(c, r.responseFormat);
}

function copyToolChoice(c: RequestCopier, value: unknown, tools: unknown): unknown {
  const names = Array.isArray(tools) ? tools.map((t: { name?: unknown }) => t.name) : [];
  if (value === 'auto' || value === 'none') return value;
  if (value === 'required') {
    if (names.length === 0) throw c.invalid('request.toolChoice', '"auto" or "none" when request.tools is empty: "required" needs a tool to call', value);
    return value;
  }
  if (typeof value === 'string' || c.shape(value, 'request.toolChoice') !== 'object') {
    throw c.invalid('request.toolChoice', '"auto", "none", "required" or { name } of a tool in request.tools', value);
  }
  const choice = c.fields(value, 'request.toolChoice', TOOL_CHOICE_KEYS, 'a tool choice field', '{ name }');
  if (typeof choice.name !== 'string' || !names.includes(choice.name)) {
    throw c.invalid('request.toolChoice.name', `the name of a tool in request.tools (${names.length === 0 ? 'there are none' : names.map((n) => JSON.stringify(n)).join(', ')})`, choice.name);
  }
  return choice;
}

function copyResponseFormat(c: RequestCopier, value: unknown): Fields {
  const format = c.fields(value, 'request.responseFormat', FORMAT_KEYS, 'a responseFormat field', "{ type: 'json' } or { type: 'json-schema', schema }");
  if (format.type === 'json') {
    const extra = Object.keys(format).find((k) => k !== 'type');
    if (extra !== undefined) throw c.invalid(`request.responseFormat.${extra}`, "absent with type 'json' (use type 'json-schema' for a schema)", format[extra]);
    return format;
  }
  if (format.type !== 'json-schema') throw c.invalid('request.responseFormat.type', "'json' or 'json-schema'", format.type);
  if (c.shape(format.schema, 'request.responseFormat.schema') !== 'object') {
    throw c.invalid('request.responseFormat.schema', 'a JSON Schema object or a Standard Schema (zod 4, valibot, arktype)', format.schema);
  }
  format.schema = c.json(format.schema, 'request.responseFormat.schema');
  if (format.name !== undefined && (typeof format.name !== 'string' || !OUTPUT_NAME.test(format.name))) throw c.invalid('request.responseFormat.name', '1 to 64 letters, digits, _ or -', format.name);
  if (format.strict !== undefined && typeof format.strict !== 'boolean') throw c.invalid('request.responseFormat.strict', 'a boolean', format.strict);
  return format;
}

function refuse(provider: string, message: string): never {
  throw new ParleyError('INVALID_REQUEST', message, { provider });
}

/**
 * Refuses the controls `provider`'s protocol cannot express, and the
 * combinations it refuses, naming the fields; returns nothing when the
 * request is fine for it.
 */
export function checkControlsFor(req: ChatRequest, provider: string, config: ProviderConfig): void {
  const on = `provider "${provider}" (${config.kind})`;
  const reasoning = req.reasoning;
  const thinking = reasoning !== undefined && reasoning.enabled !== false;
  if (config.kind !== 'anthropic' && reasoning?.budgetTokens !== undefined) {
    refuse(provider, `request.reasoning.budgetTokens cannot be expressed for ${on}: it takes request.reasoning.effort instead`);
  }
  if (config.kind === 'ollama') {
    const choice = req.toolChoice;
    if (choice !== undefined && choice !== 'auto' && choice !== 'none') {
      refuse(provider, `request.toolChoice ${JSON.stringify(choice)} cannot be expressed for ${on}: Ollama has no tool_choice (only "auto", or "none", which sends no tools)`);
    }
    if (req.parallelToolCalls === false) refuse(provider, `request.parallelToolCalls false cannot be expressed for ${on}: Ollama has no such setting`);
  }
  if (config.kind !== 'anthropic') return;
  if (thinking && (req.temperature !== undefined || req.topP !== undefined)) {
    const both = req.temperature !== undefined ? 'request.temperature' : 'request.topP';
    refuse(provider, `request.reasoning (extended thinking) and ${both} cannot go together to ${on}: Anthropic refuses temperature and top_p with thinking; leave one of them out`);
  }
  const forced = req.toolChoice === 'required' || typeof req.toolChoice === 'object';
  if (thinking && forced && req.tools !== undefined && req.tools.length > 0) {
    refuse(provider, `request.reasoning (extended thinking) and request.toolChoice ${JSON.stringify(req.toolChoice)} cannot go together to ${on}: Anthropic refuses a forced tool call with thinking; use "auto"`);
  }
  if (outputViaTool(config, req.responseFormat)) {
    const format = req.responseFormat!;
    const name = (format.type === 'json-schema' ? format.name : undefined) ?? DEFAULT_OUTPUT_NAME;
    if (req.toolChoice !== undefined) refuse(provider, `request.responseFormat and request.toolChoice cannot go together to ${on}: its structured output is a forced call of a tool named "${name}"`);
    if (thinking) refuse(provider, `request.responseFormat and request.reasoning cannot go together to ${on}: its structured output is a forced tool call, which Anthropic refuses with thinking`);
    if (req.tools?.some((t) => t.name === name)) refuse(provider, `request.tools has a tool named "${name}", the name of the structured-output tool for ${on}; set request.responseFormat.name to another name`);
  }
}
