/**
 * OpenAI-compatible chat completions (POST /v1/chat/completions): SSE chunks
 * ending in `data: [DONE]`, or one chat.completion object.
 */

import type { TurnMessage, TurnRole } from './reply-text.ts';
import { urlAttachment, type Attachment } from './attachments.ts';
import {
  asRecord,
  isProblem,
  lastUserAttachments,
  contentText,
  functionTools,
  problem,
  sse,
  tokenCap,
  type ExchangeContext,
  type StreamEncoder,
  type WireProtocol,
} from './wire-protocol.ts';

const ROLES: ReadonlySet<string> = new Set(['system', 'developer', 'user', 'assistant', 'tool']);

function usage(ctx: ExchangeContext) {
  const { promptTokens, completionTokens } = ctx.reply;
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
}

/** OpenAI ends a refusal with "stop". */
const finishReason = (ctx: ExchangeContext) => (ctx.reply.finish === 'refusal' ? 'stop' : ctx.reply.finish);

/** A part of a content array as Mistral's reasoning models send it: thinking holds its own text parts. */
function contentPart(kind: 'reasoning' | 'text', text: string): Record<string, unknown> {
  return kind === 'reasoning' ? { type: 'thinking', thinking: [{ type: 'text', text }] } : { type: 'text', text };
}

const toolCallId = (ctx: ExchangeContext) => `call_${ctx.reply.toolCall!.id}`;

/** OpenAI's error `type` for a status, as its API reports it. */
function errorType(status: number): { type: string; code: string | null } {
  if (status === 401) return { type: 'invalid_request_error', code: 'invalid_api_key' };
  if (status === 404) return { type: 'invalid_request_error', code: 'model_not_found' };
  if (status === 429) return { type: 'requests', code: 'rate_limit_exceeded' };
  if (status >= 500) return { type: 'server_error', code: null };
  return { type: 'invalid_request_error', code: null };
}

/** image_url parts and file parts (a data: URL in file_data). */
function openaiAttachments(m: Record<string, unknown>): Attachment[] | string {
  const out: Attachment[] = [];
  for (const raw of Array.isArray(m.content) ? m.content : []) {
    const part = asRecord(raw);
    let found: Attachment | string | undefined;
    if (part.type === 'image_url') found = urlAttachment('image', String(asRecord(part.image_url).url ?? ''));
    else if (part.type === 'file') found = urlAttachment('document', String(asRecord(part.file).file_data ?? ''));
    if (typeof found === 'string') return found;
    if (found) out.push(found);
  }
  return out;
}

export const openaiProtocol: WireProtocol = {
  name: 'openai',

  parse(body) {
    if (typeof body.model !== 'string' || body.model === '') return problem(400, 'you must provide a model parameter');
    if (!Array.isArray(body.messages) || body.messages.length === 0) return problem(400, "'messages' must be a non-empty array");
    const ids = new Map<string, string>();
    const messages: TurnMessage[] = [];
    for (const raw of body.messages) {
      const m = asRecord(raw);
      if (typeof m.role !== 'string' || !ROLES.has(m.role)) return problem(400, `invalid message role ${JSON.stringify(m.role)}`);
      for (const call of Array.isArray(m.tool_calls) ? m.tool_calls : []) {
        const c = asRecord(call);
        ids.set(String(c.id), String(asRecord(c.function).name));
      }
      const role = (m.role === 'developer' ? 'system' : m.role) as TurnRole;
      const msg: TurnMessage = { role, text: contentText(m.content) };
      if (role === 'tool' && typeof m.tool_call_id === 'string' && ids.has(m.tool_call_id)) msg.toolName = ids.get(m.tool_call_id)!;
      messages.push(msg);
    }
    const attachments = lastUserAttachments(body.messages, openaiAttachments);
    if (isProblem(attachments)) return attachments;
    const tools = functionTools(body.tools);
    return {
      model: body.model,
      messages,
      tools,
      attachments,
      maxTokens: tokenCap(body.max_completion_tokens, body.max_tokens),
      stream: body.stream === true,
      reasoning: typeof body.reasoning_effort === 'string' && body.reasoning_effort !== 'none',
    };
  },

  encoder(ctx): StreamEncoder {
    const includeUsage = asRecord(ctx.body.stream_options).include_usage === true;
    const id = `chatcmpl-${ctx.id}`;
    // With include_usage, OpenAI sends "usage": null on every chunk but the last.
    const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
      sse({
        id,
        object: 'chat.completion.chunk',
        created: ctx.created,
        model: ctx.turn.model,
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
        ...(includeUsage ? { usage: null } : {}),
      });
    let toolStarted = false;
    return {
      contentType: 'text/event-stream; charset=utf-8',
      start: () => [chunk({ role: 'assistant', content: '' })],
      event(ev) {
        if (ev.kind === 'refusal') return [chunk({ refusal: ev.text })];
        if (ctx.contentArrays && ev.kind !== 'tool') return [chunk({ content: [contentPart(ev.kind, ev.text)] })];
        if (ev.kind === 'reasoning') return [chunk({ reasoning_content: ev.text })];
        if (ev.kind === 'text') return [chunk({ content: ev.text })];
        const call = ctx.reply.toolCall!;
        // id, type and name travel only on the first fragment; clients assemble by index.
        const fn = toolStarted ? { arguments: ev.text } : { name: call.name, arguments: ev.text };
        const head = toolStarted ? {} : { id: toolCallId(ctx), type: 'function' };
        toolStarted = true;
        return [chunk({ tool_calls: [{ index: 0, ...head, function: fn }] })];
      },
      finish() {
        const frames = [chunk({}, finishReason(ctx))];
        if (includeUsage) {
          frames.push(sse({ id, object: 'chat.completion.chunk', created: ctx.created, model: ctx.turn.model, choices: [], usage: usage(ctx) }));
        }
        return frames;
      },
      endMarker: () => [sse('[DONE]')],
      error: (message) => sse({ error: { message, type: 'server_error', param: null, code: null } }),
      keepAlive: () => ': keep-alive\n\n',
    };
  },

  body(ctx) {
    const { reply } = ctx;
    const message: Record<string, unknown> = { role: 'assistant', content: reply.toolCall || reply.refusal ? null : reply.text, refusal: reply.refusal ?? null };
    if (ctx.contentArrays && !reply.toolCall && !reply.refusal) {
      message.content = [...(reply.reasoning ? [contentPart('reasoning', reply.reasoning)] : []), contentPart('text', reply.text)];
    } else if (reply.reasoning) message.reasoning_content = reply.reasoning;
    if (reply.toolCall) {
      message.tool_calls = [
        { id: toolCallId(ctx), type: 'function', function: { name: reply.toolCall.name, arguments: reply.toolCall.arguments } },
      ];
    }
    return {
      id: `chatcmpl-${ctx.id}`,
      object: 'chat.completion',
      created: ctx.created,
      model: ctx.turn.model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason(ctx) }],
      usage: usage(ctx),
    };
  },

  errorBody(status, message) {
    return { error: { message, ...errorType(status), param: null } };
  },

  inBodyError(message) {
    return { error: { message, type: 'server_error', param: null, code: null } };
  },
};

/** GET /v1/models in OpenAI's shape. */
export function openaiModels(models: string[]): unknown {
  return { object: 'list', data: models.map((id) => ({ id, object: 'model', created: 1700000000, owned_by: 'parley' })) };
}
