/**
 * The public API of parley. Everything a host needs is exported here; the
 * rest of src/ is internal.
 */
export { createRuntime, Runtime } from './runtime.ts';
export type { RuntimeEvents, RuntimeState, RuntimeStats, ShutdownReport } from './runtime.ts';
export type { RestartPolicy, RuntimeOptions } from './options.ts';
export { ParleyError, ERROR_CODES, isParleyError, hasCode } from './errors.ts';
export type { ErrorCode, ParleyErrorOptions } from './errors.ts';
export type { Conversation, ConversationInit } from './conversation.ts';
export type { BreakerOptions, BreakerState, ProviderHealthStats } from './fallback-router.ts';
export type { CrashRecord } from './worker-backend.ts';
export type { ProviderConnectionStats, WorkerStats } from './protocol.ts';
export type {
  AnthropicProviderConfig,
  CallOptions,
  ChatRequest,
  ChatResult,
  HealthReport,
  Message,
  ModelInfo,
  OllamaProviderConfig,
  OpenAIProviderConfig,
  ProviderConfig,
  ProviderKind,
  Role,
  StreamEvent,
  ToolCall,
  ToolSpec,
  Usage,
} from './types.ts';
