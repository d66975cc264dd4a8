/**
 * The request controls (tool choice, parallel tool calls, reasoning,
 * structured output) in each protocol's own fields. The host's door has
 * already refused what a protocol cannot express (host/request-controls.ts),
 * so these only translate. Sources:
 * - OpenAI: https://platform.openai.com/docs/api-reference/chat/create
 * - Ollama: https://github.com/ollama/ollama/blob/main/docs/api.md#generate-a-chat-completion
 * - Anthropic: https://docs.claude.com/en/api/messages,
 *   https://docs.claude.com/en/docs/build-with-claude/extended-thinking,
 *   https://docs.claude.com/en/docs/build-with-claude/structured-outputs
 */
import { DEFAULT_OUTPUT_NAME, EFFORT_BUDGET_TOKENS, outputViaTool } from '../../shared/request-controls.ts';
import type { AnthropicProviderConfig, ChatRequest } from '../../shared/types.ts';
import type { JsonObject } from './wire-format.ts';

function hasTools(req: ChatRequest): boolean {
  return req.tools !== undefined && req.tools.length > 0;
}

/** The JSON Schema a (host-converted) response format carries, or undefined for plain JSON. */
function schemaOf(req: ChatRequest): JsonObject | undefined {
  const format = req.responseFormat;
  return format?.type === 'json-schema' ? (format.schema as JsonObject) : undefined;
}

export function openaiControls(req: ChatRequest, body: JsonObject): void {
  if (hasTools(req)) {
    const choice = req.toolChoice;
    if (choice !== undefined) body.tool_choice = typeof choice === 'string' ? choice : { type: 'function', function: { name: choice.name } };
    if (req.parallelToolCalls !== undefined) body.parallel_tool_calls = req.parallelToolCalls;
  }
  const reasoning = req.reasoning;
  if (reasoning?.effort !== undefined) body.reasoning_effort = reasoning.effort;
  else if (reasoning?.enabled === false) body.reasoning_effort = 'none';
  // Said, not dropped: 'medium' is the effort OpenAI's reasoning models use when none is given.
  else if (reasoning?.enabled === true) body.reasoning_effort = 'medium';
  const format = req.responseFormat;
  if (format?.type === 'json') body.response_format = { type: 'json_object' };
  else if (format?.type === 'json-schema') {
    const jsonSchema: JsonObject = { name: format.name ?? DEFAULT_OUTPUT_NAME, schema: format.schema };
    if (format.strict !== undefined) jsonSchema.strict = format.strict;
    body.response_format = { type: 'json_schema', json_schema: jsonSchema };
  }
}

export function ollamaControls(req: ChatRequest, body: JsonObject): void {
  // Ollama has no tool_choice: 'none' is a request without tools (the door refuses the rest).
  if (req.toolChoice === 'none') delete body.tools;
  const reasoning = req.reasoning;
  if (reasoning?.enabled === false) body.think = false;
  else if (reasoning?.effort !== undefined) body.think = reasoning.effort;
  else if (reasoning?.enabled === true) body.think = true;
  const format = req.responseFormat;
  if (format !== undefined) body.format = schemaOf(req) ?? 'json';
}

/**
 * Anthropic's fields. `defaultMaxTokens` is the cap used when the request
 * sets none; with thinking on, max_tokens is raised above the budget
 * (Anthropic counts thinking inside max_tokens and refuses a budget that
 * is not below it): to budget + the requested (or default) cap.
 */
export function anthropicControls(req: ChatRequest, body: JsonObject, config: AnthropicProviderConfig, defaultMaxTokens: number): void {
  const tools = hasTools(req);
  let toolChoice: JsonObject | undefined;
  if (tools && req.toolChoice !== undefined) {
    const choice = req.toolChoice;
    toolChoice = choice === 'auto' ? { type: 'auto' } : choice === 'none' ? { type: 'none' } : choice === 'required' ? { type: 'any' } : { type: 'tool', name: choice.name };
  }
  if (tools && req.parallelToolCalls === false) (toolChoice ??= { type: 'auto' }).disable_parallel_tool_use = true;

  const reasoning = req.reasoning;
  if (reasoning?.enabled === false) body.thinking = { type: 'disabled' };
  else if (reasoning !== undefined && (reasoning.enabled === true || reasoning.effort !== undefined || reasoning.budgetTokens !== undefined)) {
    const budget = reasoning.budgetTokens ?? EFFORT_BUDGET_TOKENS[reasoning.effort ?? 'medium'];
    body.thinking = { type: 'enabled', budget_tokens: budget };
    if ((body.max_tokens as number) <= budget) body.max_tokens = budget + (req.maxTokens ?? defaultMaxTokens);
  }

  const format = req.responseFormat;
  if (format !== undefined) {
    const schema = schemaOf(req);
    if (outputViaTool(config, format)) {
      const name = (format.type === 'json-schema' ? format.name : undefined) ?? DEFAULT_OUTPUT_NAME;
      const tool = { name, description: 'Give your answer as the input of this tool.', input_schema: schema ?? { type: 'object' } };
      body.tools = [...((body.tools as JsonObject[] | undefined) ?? []), tool];
      toolChoice = { type: 'tool', name };
    } else {
      body.output_config = { format: { type: 'json_schema', schema } };
    }
  }
  if (toolChoice !== undefined) body.tool_choice = toolChoice;
}
