/**
 * Host-side conversations: the history lives here, not in the worker, so a
 * worker restart loses nothing; with a store it lives on disk too and a
 * process restart loses nothing either.
 *
 * A turn is recorded only when its reply completes (chat resolving, or the
 * stream's done event), and with a store only once it is fsync'd. Anything
 * else (an error, an abort, a timeout, a stream left early) leaves the history
 * exactly as it was, so the caller can simply try again. Turns run one at a
 * time, in the order they were called, each within one deadline that covers
 * its wait for the turns before it (turn-queue.ts).
 */
import { estimateJsonTokens, estimateTokens, trimToWindow, updateCalibration } from './context-window.ts';
import { ParleyError } from '../shared/errors.ts';
import { validateCallOptions } from '../host/request-validation.ts';
import { StreamTurn } from './stream-turn.ts';
import { checkInit, checkProvider, checkText, invalid, userContent } from './conversation-input.ts';
import { applyControls, callOptionsOf, controlsOf, type TurnControls, type TurnOptions } from './turn-controls.ts';
import { TranscriptStore } from './transcript-store.ts';
import { TurnQueue, type Turn } from './turn-queue.ts';
import { assistantMessage, copyMessage, frozenMessage } from './history-messages.ts';
import type { CallOptions, ChatRequest, ChatResult, ContentPart, Message, StreamEvent, ToolCall, ToolSpec } from '../shared/types.ts';

export interface ConversationRuntime {
  chat(req: ChatRequest, opts?: CallOptions): Promise<ChatResult>;
  stream(req: ChatRequest, opts?: CallOptions): AsyncIterable<StreamEvent>;
}

/** With the request controls of every turn (TurnControls); a turn's own options replace them one by one. */
export interface ConversationInit extends TurnControls {
  /** A provider name, or an ordered list to fall back through. */
  provider?: string | string[];
  /** The model of every turn. @default the (first) provider's `defaultModel`; INVALID_REQUEST when it has none */
  model?: string;
  /** Sent first in every request. When resuming a store and omitted, the store's header supplies it. */
  system?: string;
  /** Path of a JSONL transcript; existing history is loaded before openConversation resolves. */
  store?: string;
  /** Trim the oldest exchanges from each request beyond this (calibrated) estimate. */
  maxContextTokens?: number;
  temperature?: number;
  maxTokens?: number;
  tools?: ToolSpec[];
  /** Told about recoverable damage, e.g. a torn last line dropped. @default process.emitWarning */
  onWarning?: (message: string) => void;
}

export interface ToolResult {
  toolCallId: string;
  /** Defaults to the name of the call it answers. */
  name?: string;
  content: string;
}

/**
 * Turns run one at a time, in call order. `opts.timeoutMs` (default: the
 * runtime's timeoutMs) is the deadline of the whole turn: its wait behind
 * earlier turns, its call and, for a stream, its reading. A turn fails with
 * TIMEOUT when it passes (waiting or running), ABORTED when `opts.signal`
 * fires, SHUTDOWN when the conversation is closed or the runtime shut down
 * before the turn started. A failed turn records nothing.
 */
export interface Conversation {
  /** `input`: the user's text, or content parts (text, image, document; checked at the door like any request). `opts` may carry the turn's controls (toolChoice, reasoning, responseFormat, extra...) over the init's. */
  send(input: string | ContentPart[], opts?: TurnOptions): Promise<ChatResult>;
  /**
   * Throws INVALID_REQUEST at once for bad input; takes its place in the turn
   * queue when iteration starts (the deadline starts then too). Every next()
   * settles, in order. Leaving the loop early records nothing; an iterator
   * dropped without return() is stopped at the turn's deadline, so it never
   * holds the queue longer. The iterable is its own iterator: one turn.
   */
  stream(input: string | ContentPart[], opts?: TurnOptions): AsyncIterable<StreamEvent>;
  /** Continues after the model asked for tools: the results answer the calls of the last assistant message. */
  sendToolResults(results: ToolResult[], opts?: TurnOptions): Promise<ChatResult>;
  /** System first if set, then the recorded turns (frozen copies). */
  readonly messages: readonly Message[];
  readonly model: string;
  readonly provider: string | string[] | undefined;
  setModel(model: string): void;
  setProvider(provider: string | string[]): void;
  /** Same history, independent from now on; a new store gets the history written. */
  fork(init?: { store?: string }): Promise<Conversation>;
  /**
   * Forgets the turns (keeps the system message). A turn called before reset()
   * (running or still queued) still returns its reply but is never recorded.
   * With a store: appends a reset record.
   */
  reset(): Promise<void>;
  /**
   * Refuses new turns (SHUTDOWN), fails the queued ones that have not started
   * with SHUTDOWN, lets the running one finish (within its deadline; it is
   * recorded if it completes), then flushes and closes the store and releases
   * its lock. Idempotent. runtime.shutdown() closes every conversation the
   * runtime opened.
   */
  close(): Promise<void>;
}

/** What the owner of conversations (the Runtime) gives each one it opens, forks included. */
export interface ConversationOwner {
  /** The deadline of a turn that sets none, in ms. Without it such a turn has no deadline of its own. */
  readonly timeoutMs?: number;
  /** Takes the conversation being opened; rejects SHUTDOWN (after closing it) when the owner closed meanwhile. */
  adopt(opening: Promise<HostConversation>): Promise<HostConversation>;
  /** The conversation closed. */
  closed(conversation: HostConversation): void;
}

interface Settings {
  provider: string | string[] | undefined;
  model: string;
  system: string | undefined;
  maxContextTokens: number | undefined;
  temperature: number | undefined;
  maxTokens: number | undefined;
  tools: ToolSpec[] | undefined;
  onWarning: ((message: string) => void) | undefined;
  controls: TurnControls;
}

export class HostConversation implements Conversation {
  #runtime: ConversationRuntime;
  #owner: ConversationOwner | undefined;
  #settings: Settings;
  #store: TranscriptStore | undefined;
  #history: Message[];
  #view: readonly Message[] | undefined;
  /** Smoothed reported/estimated input tokens; undefined until the provider reports usage. */
  #calibration: number | undefined;
  /** Bumped by reset(): a turn called in an older epoch is not recorded. */
  #epoch = 0;
  readonly #turns = new TurnQueue();
  #closing: Promise<void> | undefined;

  constructor(
    runtime: ConversationRuntime,
    owner: ConversationOwner | undefined,
    settings: Settings,
    store: TranscriptStore | undefined,
    history: Message[],
    calibration?: number,
  ) {
    this.#runtime = runtime;
    this.#owner = owner;
    this.#settings = settings;
    this.#store = store;
    this.#history = history;
    this.#calibration = calibration;
  }

  get messages(): readonly Message[] {
    if (!this.#view) {
      const all = this.#settings.system !== undefined ? [{ role: 'system' as const, content: this.#settings.system }, ...this.#history] : this.#history;
      this.#view = Object.freeze(all.map(frozenMessage));
    }
    return this.#view;
  }

  get model(): string {
    return this.#settings.model;
  }

  get provider(): string | string[] | undefined {
    const provider = this.#settings.provider;
    return Array.isArray(provider) ? [...provider] : provider;
  }

  setModel(model: string): void {
    checkText(model, 'model');
    this.#settings.model = model;
  }

  setProvider(provider: string | string[]): void {
    checkProvider(provider, 'provider');
    this.#settings.provider = Array.isArray(provider) ? [...provider] : provider;
  }

  async send(input: string | ContentPart[], opts?: TurnOptions): Promise<ChatResult> {
    const content = userContent(input);
    const options = validateCallOptions(callOptionsOf(opts));
    this.#checkOpen();
    return this.#chatTurn(() => [{ role: 'user', content }], options, controlsOf(opts));
  }

  async sendToolResults(results: ToolResult[], opts?: TurnOptions): Promise<ChatResult> {
    if (!Array.isArray(results) || results.length === 0) throw invalid('results must be a non-empty array');
    results.forEach((result, i) => {
      if (typeof result !== 'object' || result === null) throw invalid(`results[${i}] must be an object`);
      checkText(result.toolCallId, `results[${i}].toolCallId`);
      if (typeof result.content !== 'string') throw invalid(`results[${i}].content must be a string`);
      if (result.name !== undefined && typeof result.name !== 'string') throw invalid(`results[${i}].name must be a string`);
    });
    const options = validateCallOptions(callOptionsOf(opts));
    this.#checkOpen();
    const copies = results.map((r) => ({ ...r }));
    // Checked against the history when the turn runs, after the turns queued before it.
    return this.#chatTurn(() => this.#toolMessages(copies), options, controlsOf(opts));
  }

  stream(input: string | ContentPart[], opts?: TurnOptions): AsyncIterable<StreamEvent> {
    const content = userContent(input);
    const options = validateCallOptions(callOptionsOf(opts));
    const controls = controlsOf(opts);
    this.#checkOpen();
    const epoch = this.#epoch;
    const pending: Message[] = [{ role: 'user', content }];
    let estimate = 0;
    return new StreamTurn({
      // A conversation closed before the first read refuses the turn there: the queue is closed.
      enter: () => this.#turns.enter(options.timeoutMs ?? this.#owner?.timeoutMs, options.signal),
      open: (turn) => {
        const built = this.#request(pending, controls);
        estimate = built.estimate;
        return this.#runtime.stream(built.request, turn.callOptions());
      },
      record: (result) => this.#commit(epoch, pending, estimate, result),
    });
  }

  async fork(init: { store?: string } = {}): Promise<Conversation> {
    if (typeof init !== 'object' || init === null) throw invalid('init must be an object');
    if (init.store !== undefined) checkText(init.store, 'init.store');
    const settings: Settings = { ...this.#settings, provider: this.provider, tools: this.#settings.tools?.slice() };
    const history = this.#history.map(copyMessage);
    const calibration = this.#calibration;
    const opening = (async () => {
      let store: TranscriptStore | undefined;
      if (init.store !== undefined) {
        store = await openStore(init.store, settings);
        try {
          if (store.messages.length > 0) {
            throw new ParleyError('CONFIG', `cannot fork into transcript ${init.store}: it already holds a conversation`);
          }
          if (history.length > 0) await store.appendTurn(history, calibration);
        } catch (err) {
          await store.close().catch(() => {});
          throw err;
        }
      }
      return new HostConversation(this.#runtime, this.#owner, settings, store, history, calibration);
    })();
    return this.#owner ? this.#owner.adopt(opening) : opening;
  }

  async reset(): Promise<void> {
    this.#checkOpen();
    this.#epoch += 1;
    this.#setHistory([]);
    await this.#store?.appendReset();
  }

  close(): Promise<void> {
    return this.closeWith('the conversation was closed before the turn started');
  }

  /** close(), with the reason the queued turns are given. */
  closeWith(reason: string): Promise<void> {
    this.#closing ??= (async () => {
      this.#turns.close(new ParleyError('SHUTDOWN', reason));
      try {
        await this.#turns.idle();
        await this.#store?.close();
      } finally {
        this.#owner?.closed(this);
      }
    })();
    return this.#closing;
  }

  /** Stops the running turn, unrecorded, unless it is being recorded: what a shutdown does when its grace time is over. */
  abandon(reason: string): void {
    this.#turns.abandon(new ParleyError('SHUTDOWN', reason));
  }

  #checkOpen(): void {
    if (this.#closing) throw new ParleyError('SHUTDOWN', 'the conversation is closed');
  }

  #setHistory(history: Message[]): void {
    this.#history = history;
    this.#view = undefined;
  }

  #toolMessages(results: ToolResult[]): Message[] {
    const last = this.#history.at(-1);
    const calls = new Map<string, ToolCall>((last?.role === 'assistant' ? (last.toolCalls ?? []) : []).map((c) => [c.id, c]));
    if (calls.size === 0) throw invalid('sendToolResults: the last message is not an assistant message that asked for tools');
    return results.map((result, i) => {
      const call = calls.get(result.toolCallId);
      if (!call) throw invalid(`results[${i}].toolCallId ${JSON.stringify(result.toolCallId)} answers no call of the last assistant message`);
      return { role: 'tool', content: result.content, toolCallId: result.toolCallId, name: result.name ?? call.name };
    });
  }

  #request(pending: Message[], controls: TurnControls): { request: ChatRequest; estimate: number } {
    const s = this.#settings;
    let messages: Message[] = [...this.#history, ...pending].map(copyMessage);
    if (s.system !== undefined) messages.unshift({ role: 'system', content: s.system });
    const fixedTokens = estimateJsonTokens(s.tools);
    if (s.maxContextTokens !== undefined) {
      messages = trimToWindow(messages, { maxTokens: s.maxContextTokens, calibration: this.#calibration ?? 1, fixedTokens }).messages;
    }
    const request: ChatRequest = { model: s.model, messages };
    if (s.provider !== undefined) request.provider = Array.isArray(s.provider) ? [...s.provider] : s.provider;
    if (s.temperature !== undefined) request.temperature = s.temperature;
    if (s.maxTokens !== undefined) request.maxTokens = s.maxTokens;
    if (s.tools !== undefined) request.tools = s.tools.map((tool) => ({ ...tool }));
    applyControls(request, s.controls, controls);
    return { request, estimate: estimateTokens(messages) + fixedTokens };
  }

  /** Records a completed turn: on disk first (fsync'd), then in memory, unless a reset came in between. */
  async #commit(epoch: number, pending: Message[], estimate: number, result: ChatResult): Promise<void> {
    this.#calibration = updateCalibration(this.#calibration, estimate, result.usage?.inputTokens);
    if (epoch !== this.#epoch) return;
    const turn = [...pending, assistantMessage(result)];
    await this.#store?.appendTurn(turn, this.#calibration);
    if (epoch !== this.#epoch) return;
    this.#setHistory([...this.#history, ...turn]);
  }

  async #chatTurn(makePending: () => Message[], opts: CallOptions, controls: TurnControls): Promise<ChatResult> {
    const epoch = this.#epoch;
    const turn: Turn = await this.#turns.enter(opts.timeoutMs ?? this.#owner?.timeoutMs, opts.signal);
    try {
      const pending = makePending();
      const { request, estimate } = this.#request(pending, controls);
      const result = await turn.race(this.#runtime.chat(request, turn.callOptions()));
      await turn.commit(() => this.#commit(epoch, pending, estimate, result));
      return result;
    } finally {
      turn.finish();
    }
  }
}

function openStore(path: string, settings: Settings): Promise<TranscriptStore> {
  const options: { model: string; system?: string; onWarning?: (message: string) => void } = { model: settings.model };
  if (settings.system !== undefined) options.system = settings.system;
  if (settings.onWarning !== undefined) options.onWarning = settings.onWarning;
  return TranscriptStore.open(path, options);
}

/**
 * Creates a conversation over a runtime. With `init.store`, the
 * transcript is locked and its history loaded before this resolves. With an
 * owner, the conversation (and every fork of it) is the owner's to close.
 * Rejects with INVALID_REQUEST for bad input, CONFIG for a store that cannot
 * be opened (see TranscriptStore.open), SHUTDOWN when the owner is closing.
 */
export function openConversation(runtime: ConversationRuntime, init: ConversationInit, owner?: ConversationOwner): Promise<Conversation> {
  const opening = (async () => {
    if (typeof runtime?.chat !== 'function' || typeof runtime.stream !== 'function') {
      throw invalid('runtime must have chat() and stream()');
    }
    checkInit(init);
    const settings: Settings = {
      provider: Array.isArray(init.provider) ? [...init.provider] : init.provider,
      model: init.model,
      system: init.system,
      maxContextTokens: init.maxContextTokens,
      temperature: init.temperature,
      maxTokens: init.maxTokens,
      tools: init.tools?.slice(),
      onWarning: init.onWarning,
      controls: controlsOf(init),
    };
    if (init.store === undefined) return new HostConversation(runtime, owner, settings, undefined, []);
    const store = await openStore(init.store, settings);
    settings.system ??= store.header.system;
    return new HostConversation(runtime, owner, settings, store, store.messages.map(copyMessage), store.calibration);
  })();
  return owner ? owner.adopt(opening) : opening;
}
