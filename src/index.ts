/**
 * The public API of parley. Everything a host needs is exported here; the
 * rest of src/ is internal. Every type that appears in a public signature is
 * exported too (test/public-types.test.ts), and src/cli uses nothing else.
 */
export { createRuntime } from './host/create-runtime.ts';
// A type only: a runtime is made by createRuntime, which validates the options; the constructor takes them resolved.
export type { ProviderStats, Runtime, RuntimeEvents, RuntimeState, RuntimeStats, ShutdownReport } from './host/runtime.ts';
export type { Percentiles, ProviderLatency } from './host/observability/latency-window.ts';
export type { Logger, LogRecord } from './host/observability/logger.ts';
export type { TelemetryOptions } from './host/observability/telemetry.ts';
export { checkRuntimeOptions } from './host/options.ts';
export { providersFromEnv } from './host/providers-from-env.ts';
export type { RestartPolicy, RuntimeOptions } from './host/options.ts';
export type { ProviderSettings } from './host/provider-settings.ts';
export { redactSecrets } from './shared/redaction.ts';
export { contentText, omitPartBytes } from './shared/content.ts';
export { ParleyError, ERROR_CODES, isParleyError, hasCode } from './shared/errors.ts';
export type { ErrorCode, ParleyErrorOptions } from './shared/errors.ts';
export { InvalidOutputError } from './shared/invalid-output-error.ts';
export type { OutputIssue } from './shared/invalid-output-error.ts';
export type { Conversation, ConversationInit, ToolResult } from './conversation/conversation.ts';
export type { TurnControls, TurnOptions } from './conversation/turn-controls.ts';
export type { BreakerOptions, BreakerState, ProviderHealthStats } from './host/fallback-router.ts';
export type { CrashRecord, WorkerEvents } from './host/transport/worker-transport.ts';
export type { CallEvents } from './host/observability/call-observer.ts';
export type { CallKind } from './host/pending-calls.ts';
export type { CallEndEvent, CallFallback, CallRetry, CallStartEvent } from './host/observability/call-events.ts';
export type { ProviderConnectionStats, WorkerStats } from './shared/protocol.ts';
export type {
  AnthropicProviderConfig,
  CallOptions,
  CallReport,
  ChatInput,
  ChatRequest,
  ChatResult,
  ContentPart,
  DocumentPart,
  FinishReason,
  HealthReport,
  ImagePart,
  InferOutput,
  Message,
  ModelInfo,
  OllamaProviderConfig,
  OpenAIProviderConfig,
  PartData,
  ProviderConfig,
  ProviderConfigBase,
  ProviderKind,
  ReasoningBlock,
  ReasoningControls,
  ResponseFormat,
  RetryRecord,
  Role,
  StandardResult,
  StandardSchema,
  StreamEvent,
  StructuredChatInput,
  TextPart,
  ToolCall,
  ToolChoice,
  ToolSpec,
  Usage,
} from './shared/types.ts';
