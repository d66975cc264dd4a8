/**
 * The request controls a conversation carries: set once in its init, and
 * per turn in the turn's options (a turn's value of a control replaces the
 * init's). They are checked where every request is, at the runtime's door,
 * so a bad one fails its turn with INVALID_REQUEST and records nothing.
 */
import type { CallOptions, ChatRequest, ReasoningControls, ResponseFormat, ToolChoice } from '../shared/types.ts';

/** The ChatRequest controls a conversation takes, in its init and per turn (see ChatRequest). */
export interface TurnControls {
  toolChoice?: ToolChoice;
  parallelToolCalls?: boolean;
  reasoning?: ReasoningControls;
  responseFormat?: ResponseFormat;
  /** Merged deeply into the request body (see ChatRequest.extra). */
  extra?: Record<string, unknown>;
}

/** A turn's options: its deadline and signal, and its controls. */
export type TurnOptions = CallOptions & TurnControls;

export const CONTROL_KEYS = ['toolChoice', 'parallelToolCalls', 'reasoning', 'responseFormat', 'extra'] as const satisfies readonly (keyof TurnControls)[];

/** The controls present in `from` (an init or a turn's options); never throws on odd input, the door judges it. */
export function controlsOf(from: unknown): TurnControls {
  const out: Record<string, unknown> = {};
  if (typeof from !== 'object' || from === null) return out;
  for (const key of CONTROL_KEYS) {
    const value = (from as Record<string, unknown>)[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** A turn's options without its controls (what validateCallOptions checks), or the options as they were when they are not an object. */
export function callOptionsOf(opts: unknown): unknown {
  if (typeof opts !== 'object' || opts === null) return opts;
  const rest: Record<string, unknown> = { ...(opts as Record<string, unknown>) };
  for (const key of CONTROL_KEYS) delete rest[key];
  return rest;
}

/** Puts the init's controls, then the turn's over them, on `request`. */
export function applyControls(request: ChatRequest, init: TurnControls, turn: TurnControls): void {
  Object.assign(request, init, turn);
}
