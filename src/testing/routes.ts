/**
 * Maps each request to the protocol endpoint that answers it: the discovery
 * endpoints (tags, models, version) and the three chat endpoints.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { anthropicModels, anthropicProtocol } from './anthropic-protocol.ts';
import { runExchange, sendError } from './chat-exchange.ts';
import { FAULT_HEADER, type FaultSchedule } from './faults.ts';
import { ollamaProtocol, ollamaTags } from './ollama-protocol.ts';
import { openaiModels, openaiProtocol } from './openai-protocol.ts';
import type { Fault, ResolvedOptions } from './options.ts';
import { buildReply } from './reply-text.ts';
import { readControls, refusal } from './request-controls.ts';
import { isProblem, type WireProtocol } from './wire-protocol.ts';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** The parsed JSON body, or undefined when there was none or it was not JSON. */
  body: unknown;
}

/** What the routes need from the server that owns them. */
export interface RouteContext {
  options(): ResolvedOptions;
  faults: FaultSchedule;
  record(request: RecordedRequest): void;
  nextId(): string;
  /** Counts the responses waiting for their client to read (see ModelServerStats.responsesBlocked). */
  blocked(delta: 1 | -1): void;
}

/** Larger request bodies are refused (413) rather than buffered without bound. */
const MAX_REQUEST_BYTES = 16 * 1024 * 1024;

const CHAT_ROUTES: Record<string, WireProtocol> = {
  '/api/chat': ollamaProtocol,
  '/v1/chat/completions': openaiProtocol,
  '/v1/messages': anthropicProtocol,
};

async function readBody(req: IncomingMessage): Promise<{ text: string; tooLarge: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_REQUEST_BYTES) tooLarge = true;
    else chunks.push(chunk);
  }
  return { text: Buffer.concat(chunks).toString('utf8'), tooLarge };
}

function readJsonBody(text: string): unknown {
  try {
    return text === '' ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Anthropic's SDK always sends one of these; OpenAI's never does. */
function wantsAnthropic(req: IncomingMessage): boolean {
  return req.headers['x-api-key'] !== undefined || req.headers['anthropic-version'] !== undefined;
}

function serveDiscovery(req: IncomingMessage, res: ServerResponse, path: string, models: string[]): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  if (path === '/') text(res, 200, 'Ollama is running');
  else if (path === '/api/version') json(res, 200, { version: '0.12.0' });
  else if (path === '/api/tags') json(res, 200, ollamaTags(models));
  else if (path === '/v1/models') json(res, 200, wantsAnthropic(req) ? anthropicModels(models) : openaiModels(models));
  else if (path.startsWith('/v1/models/')) {
    const id = decodeURIComponent(path.slice('/v1/models/'.length));
    const anthropic = wantsAnthropic(req);
    const found = models.includes(id);
    if (!found) sendError(res, anthropic ? anthropicProtocol : openaiProtocol, 404, `The model '${id}' does not exist`);
    else if (anthropic) json(res, 200, (anthropicModels([id]) as { data: unknown[] }).data[0]);
    else json(res, 200, (openaiModels([id]) as { data: unknown[] }).data[0]);
  } else return false;
  return true;
}

export async function handleRequest(req: IncomingMessage, res: ServerResponse, ctx: RouteContext): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://model-server');
  const path = url.pathname;
  const { text: raw, tooLarge } = await readBody(req);
  const body = readJsonBody(raw);
  ctx.record({ method: req.method ?? 'GET', path: req.url ?? '/', headers: { ...req.headers }, body });

  const protocol = CHAT_ROUTES[path];
  if (!protocol) {
    if (serveDiscovery(req, res, path, ctx.options().models)) return;
    if (path.startsWith('/v1/')) sendError(res, openaiProtocol, 404, `Unknown request URL: ${req.method} ${path}`);
    else text(res, 404, '404 page not found');
    return;
  }
  if (req.method !== 'POST') return sendError(res, protocol, 405, `${req.method} is not allowed on ${path}; use POST`);
  if (tooLarge) return sendError(res, protocol, 413, `request body larger than ${MAX_REQUEST_BYTES} bytes`);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return sendError(res, protocol, 400, 'the request body must be a JSON object');
  }

  let fault: Fault | undefined;
  try {
    fault = ctx.faults.take(req.headers[FAULT_HEADER]);
  } catch (err) {
    return sendError(res, protocol, 400, (err as Error).message);
  }
  const options = ctx.options();
  const turn = protocol.parse(body as Record<string, unknown>, { thinks: options.reasoning });
  if (isProblem(turn)) return sendError(res, protocol, turn.status, turn.message);
  const refused = refusal(protocol.name, body as Record<string, unknown>, options);
  if (refused) return sendError(res, protocol, refused.status, refused.message);
  const controls = readControls(protocol.name, body as Record<string, unknown>, turn.tools.map((t) => t.name));
  if ('problem' in controls) return sendError(res, protocol, controls.status, controls.message);
  Object.assign(turn, controls);

  const reply = buildReply(turn, {
    maxTokens: options.maxTokens,
    reasoning: options.reasoning,
    refusal: options.refusal,
    tools: options.tools,
    fillToMaxTokens: options.fillToMaxTokens,
    invalidJson: options.invalidJson,
    ...(fault?.kind === 'oversized' ? { minBytes: fault.bytes } : {}),
  });
  await runExchange(
    res,
    protocol,
    { turn, reply, body: body as Record<string, unknown>, id: ctx.nextId(), created: Math.floor(Date.now() / 1000), contentArrays: options.contentArrays },
    fault,
    { tokenDelayMs: () => ctx.options().tokenDelayMs, blocked: ctx.blocked },
  );
}
