/**
 * What the model server reads of a request's controls (tool choice,
 * structured output) in each protocol's own fields, and the refusals real
 * servers make (max_tokens to an OpenAI reasoning model, stream_options to
 * Mistral). Its own reading of the wire: it shares nothing with the client.
 */
import type { ProtocolName } from './wire-protocol.ts';
import { asRecord, problem, type RequestProblem } from './wire-protocol.ts';

export type TurnToolChoice = 'auto' | 'none' | 'required' | { name: string };

/** What the request asked the reply to be: JSON, fitting `schema` when there is one. */
export interface TurnOutput {
  schema?: unknown;
}

export interface TurnControls {
  toolChoice?: TurnToolChoice;
  output?: TurnOutput;
}

/** The server options these refusals read. */
export interface RefusalSettings {
  /** OpenAI-protocol models that refuse `max_tokens` with a 400, as OpenAI's o-series and gpt-5 do. */
  reasoningModels: string[];
  /** Refuse `stream_options` with this status (Mistral: 422; some Azure and Databricks deployments: 400). */
  refuseStreamOptions: 400 | 422 | undefined;
}

function openaiControls(body: Record<string, unknown>): TurnControls {
  const out: TurnControls = {};
  const choice = body.tool_choice;
  if (choice === 'auto' || choice === 'none' || choice === 'required') out.toolChoice = choice;
  else if (typeof asRecord(asRecord(choice).function).name === 'string') out.toolChoice = { name: asRecord(asRecord(choice).function).name as string };
  const format = asRecord(body.response_format);
  if (format.type === 'json_object') out.output = {};
  else if (format.type === 'json_schema') out.output = { schema: asRecord(format.json_schema).schema };
  return out;
}

function ollamaControls(body: Record<string, unknown>): TurnControls {
  if (body.format === 'json') return { output: {} };
  if (typeof body.format === 'object' && body.format !== null) return { output: { schema: body.format } };
  return {};
}

function anthropicControls(body: Record<string, unknown>): TurnControls {
  const out: TurnControls = {};
  const choice = asRecord(body.tool_choice);
  if (choice.type === 'auto' || choice.type === 'none') out.toolChoice = choice.type;
  else if (choice.type === 'any') out.toolChoice = 'required';
  else if (choice.type === 'tool' && typeof choice.name === 'string') out.toolChoice = { name: choice.name };
  // output_config.format (GA), or the beta's top-level output_format.
  const format = asRecord(asRecord(body.output_config).format ?? body.output_format);
  if (format.type === 'json_schema') out.output = { schema: format.schema };
  return out;
}

/** The request's controls, or the 400 a real server gives for a tool choice naming a tool it was not offered. */
export function readControls(protocol: ProtocolName, body: Record<string, unknown>, toolNames: string[]): TurnControls | RequestProblem {
  const controls = protocol === 'openai' ? openaiControls(body) : protocol === 'ollama' ? ollamaControls(body) : anthropicControls(body);
  const choice = controls.toolChoice;
  if (typeof choice === 'object' && !toolNames.includes(choice.name)) return problem(400, `tool_choice names the tool ${JSON.stringify(choice.name)}, which is not in tools`);
  if (choice === 'required' && toolNames.length === 0) return problem(400, 'tool_choice "required" needs tools');
  return controls;
}

/** The 400 / 422 a real server answers for a field it refuses, or undefined. */
export function refusal(protocol: ProtocolName, body: Record<string, unknown>, settings: RefusalSettings): RequestProblem | undefined {
  if (protocol !== 'openai') return undefined;
  if (body.max_tokens !== undefined && typeof body.model === 'string' && settings.reasoningModels.includes(body.model)) {
    return problem(400, "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.");
  }
  if (body.stream_options !== undefined && settings.refuseStreamOptions !== undefined) {
    return problem(settings.refuseStreamOptions, 'stream_options: Extra inputs are not permitted');
  }
  return undefined;
}
