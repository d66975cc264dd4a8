/**
 * Ollama's native chat API (POST /api/chat): NDJSON lines ending in a
 * `done: true` line with the timing counters, or one object with
 * `"stream": false`. Ollama streams by default, unlike the other two.
 */

import { stableHash, type TurnMessage, type TurnRole } from './reply-text.ts';
import { inlineAttachment, type Attachment } from './attachments.ts';
import { asRecord, contentText, functionTools, isProblem, lastUserAttachments, problem, tokenCap, type ExchangeContext, type StreamEncoder, type WireProtocol } from './wire-protocol.ts';

const ROLES: ReadonlySet<string> = new Set(['system', 'user', 'assistant', 'tool']);

/** Nanoseconds, as Ollama reports durations; plausible and derived from the token counts. */
function timings(ctx: ExchangeContext) {
  const { promptTokens, completionTokens } = ctx.reply;
  const promptEval = 1_000_000 + promptTokens * 200_000;
  const evalDuration = 1_000_000 + completionTokens * 5_000_000;
  const load = 500_000;
  return {
    total_duration: load + promptEval + evalDuration,
    load_duration: load,
    prompt_eval_count: promptTokens,
    prompt_eval_duration: promptEval,
    eval_count: completionTokens,
    eval_duration: evalDuration,
  };
}

function toolCalls(ctx: ExchangeContext) {
  const call = ctx.reply.toolCall!;
  return [{ function: { name: call.name, arguments: call.input } }];
}

const line = (value: unknown) => `${JSON.stringify(value)}\n`;

/** `images`: base64 strings without a media type; the bytes say what they are. */
function ollamaAttachments(m: Record<string, unknown>): Attachment[] | string {
  const out: Attachment[] = [];
  for (const image of Array.isArray(m.images) ? m.images : []) {
    if (typeof image !== 'string') return 'images must be base64 strings';
    const found = inlineAttachment('image', undefined, image);
    if (typeof found === 'string') return found;
    out.push(found);
  }
  return out;
}

export const ollamaProtocol: WireProtocol = {
  name: 'ollama',

  parse(body) {
    if (typeof body.model !== 'string' || body.model === '') return problem(400, 'model is required');
    if (body.messages !== undefined && !Array.isArray(body.messages)) return problem(400, 'messages must be an array');
    const messages: TurnMessage[] = [];
    let lastToolName: string | undefined;
    for (const raw of (body.messages as unknown[] | undefined) ?? []) {
      const m = asRecord(raw);
      if (typeof m.role !== 'string' || !ROLES.has(m.role)) return problem(400, `invalid role ${JSON.stringify(m.role)}`);
      const calls = Array.isArray(m.tool_calls) ? m.tool_calls : [];
      if (calls.length > 0) lastToolName = String(asRecord(asRecord(calls[0]).function).name);
      const msg: TurnMessage = { role: m.role as TurnRole, text: contentText(m.content) };
      if (m.role === 'tool') {
        const name = typeof m.tool_name === 'string' ? m.tool_name : lastToolName;
        if (name) msg.toolName = name;
      }
      messages.push(msg);
    }
    const attachments = lastUserAttachments((body.messages as unknown[] | undefined) ?? [], ollamaAttachments);
    if (isProblem(attachments)) return attachments;
    const tools = functionTools(body.tools);
    return {
      model: body.model,
      messages,
      tools,
      attachments,
      maxTokens: tokenCap(asRecord(body.options).num_predict),
      stream: body.stream !== false,
      reasoning: body.think === true || body.think === 'low' || body.think === 'medium' || body.think === 'high',
    };
  },

  encoder(ctx): StreamEncoder {
    const chunk = (message: Record<string, unknown>) =>
      line({ model: ctx.turn.model, created_at: new Date().toISOString(), message: { role: 'assistant', content: '', ...message }, done: false });
    return {
      contentType: 'application/x-ndjson',
      start: () => [],
      event(ev) {
        if (ev.kind === 'reasoning') return [chunk({ thinking: ev.text })];
        // Ollama has no refusal field: a refusal is text.
        if (ev.kind === 'text' || ev.kind === 'refusal') return [chunk({ content: ev.text })];
        // Ollama sends tool calls whole: emit them with the last argument fragment.
        return ev === ctx.reply.events.at(-1) ? [chunk({ tool_calls: toolCalls(ctx) })] : [];
      },
      finish: () => [],
      endMarker: () => [
        line({
          model: ctx.turn.model,
          created_at: new Date().toISOString(),
          message: { role: 'assistant', content: '' },
          done: true,
          done_reason: ctx.reply.finish === 'length' ? 'length' : 'stop',
          ...timings(ctx),
        }),
      ],
      error: (message) => line({ error: message }),
      keepAlive: () => undefined,
    };
  },

  body(ctx) {
    const { reply } = ctx;
    const message: Record<string, unknown> = { role: 'assistant', content: reply.refusal ?? reply.text };
    if (reply.reasoning) message.thinking = reply.reasoning;
    if (reply.toolCall) message.tool_calls = toolCalls(ctx);
    return {
      model: ctx.turn.model,
      created_at: new Date().toISOString(),
      message,
      done: true,
      done_reason: reply.finish === 'length' ? 'length' : 'stop',
      ...timings(ctx),
    };
  },

  errorBody: (_status, message) => ({ error: message }),
  inBodyError: (message) => ({ error: message }),
};

/** GET /api/tags. */
export function ollamaTags(models: string[]): unknown {
  return {
    models: models.map((name) => ({
      name,
      model: name,
      modified_at: '2025-01-01T00:00:00Z',
      size: 1_000_000,
      digest: stableHash(name).toString(16).padStart(64, '0'),
      details: { parent_model: '', format: 'gguf', family: 'parley', families: ['parley'], parameter_size: '1M', quantization_level: 'F16' },
    })),
  };
}
