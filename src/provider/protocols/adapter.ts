/**
 * What a provider protocol (Ollama, OpenAI-compatible, Anthropic) must supply:
 * how to build its HTTP requests and how to read its responses. Adapters are
 * pure: they do no I/O, so the HTTP side (sessions, deadlines, retries) is
 * written once for all of them.
 */
import type { ChatRequest, ChatResult, ModelInfo, ProviderConfig, ProviderKind, StreamEvent } from '../../shared/types.ts';

export interface HttpRequestSpec {
  method: 'GET' | 'POST';
  /** Absolute URL. */
  url: string;
  headers: Record<string, string>;
  body?: string;
}

/** A provider as the worker knows it: its configured name and its config (with secrets). */
export interface ProviderContext {
  name: string;
  config: ProviderConfig;
}

/**
 * Incremental decoder of one streamed reply. Bytes go in exactly as they came
 * off the socket (split anywhere, even inside a UTF-8 sequence).
 */
export interface StreamParser {
  /**
   * Decode a chunk; returns the text / reasoning / tool_call events it completed.
   * An error the provider reports inside the stream (PROVIDER) or data that
   * cannot be understood (BAD_RESPONSE) is thrown here, unless the same chunk
   * completed events before it: then those events are returned, `done`
   * turns true and finish() throws the error, so what the provider sent
   * before failing does not depend on how TCP split the bytes.
   */
  push(chunk: Uint8Array): StreamEvent[];
  /** True once the protocol's end marker (or a held error) was seen; the rest of the body can be ignored. */
  readonly done: boolean;
  /**
   * The body ended. Returns the assembled result (content = all text events
   * joined), or throws the held error, or ParleyError INCOMPLETE when the
   * end marker was never seen.
   */
  finish(): ChatResult;
}

export interface Adapter {
  readonly kind: ProviderKind;
  chatRequest(req: ChatRequest, stream: boolean): HttpRequestSpec;
  /**
   * After a refused request: true when the refusal named an optional field
   * this adapter sends, which it has now stopped sending for this provider,
   * so the request is worth building and sending once more.
   */
  dropRefusedField?(err: unknown, req: ChatRequest, stream: boolean): boolean;
  /** Read a non-stream chat reply (already JSON-parsed). Throws BAD_RESPONSE / PROVIDER. */
  parseChat(body: unknown, req: ChatRequest): ChatResult;
  streamParser(req: ChatRequest): StreamParser;
  modelsRequest(): HttpRequestSpec;
  parseModels(body: unknown): ModelInfo[];
  /** The provider's cheapest liveness probe. */
  healthRequest(): HttpRequestSpec;
  /** The provider's own human message out of an error body (JSON or text), trimmed. */
  errorMessage(status: number, bodyText: string): string;
}
