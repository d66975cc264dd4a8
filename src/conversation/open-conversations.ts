/**
 * The conversations a runtime opened, forks included, so that its shutdown
 * closes them: a host that shuts the runtime down without closing each
 * conversation by hand must be able to open the same transcript again in the
 * same process, and no file handle may be left for the garbage collector.
 */
import { ParleyError } from '../shared/errors.ts';
import { openConversation, type Conversation, type ConversationInit, type ConversationOwner, type ConversationRuntime, type HostConversation } from './conversation.ts';

const MAX_TIMER_MS = 2 ** 31 - 1;

function shutdownError(): ParleyError {
  return new ParleyError('SHUTDOWN', 'the runtime is shutting down or shut down; no new conversations are opened');
}

export class OpenConversations implements ConversationOwner {
  readonly timeoutMs: number | undefined;
  readonly #runtime: ConversationRuntime;
  readonly #open = new Set<HostConversation>();
  readonly #opening = new Set<Promise<unknown>>();
  #closing: Promise<void> | undefined;

  /** `timeoutMs`: the runtime's default deadline, which a turn that sets none gets. */
  constructor(runtime: ConversationRuntime, timeoutMs: number | undefined) {
    this.#runtime = runtime;
    this.timeoutMs = timeoutMs;
  }

  /** runtime.conversation(): rejects SHUTDOWN once closeAll() began. */
  open(init: ConversationInit): Promise<Conversation> {
    if (this.#closing) return Promise.reject(shutdownError());
    return openConversation(this.#runtime, init, this);
  }

  adopt(opening: Promise<HostConversation>): Promise<HostConversation> {
    const adopted = opening.then(async (conversation) => {
      if (this.#closing) {
        await conversation.closeWith('the runtime shut down');
        throw shutdownError();
      }
      this.#open.add(conversation);
      return conversation;
    });
    const tracked = adopted.catch(() => {});
    this.#opening.add(tracked);
    void tracked.then(() => this.#opening.delete(tracked));
    return adopted;
  }

  closed(conversation: HostConversation): void {
    this.#open.delete(conversation);
  }

  /**
   * Closes every conversation: turns that have not started fail with
   * SHUTDOWN at once (the runtime refuses new calls now); a running turn gets
   * `graceMs` (the shutdown's grace) to finish and be recorded, then is
   * stopped unrecorded; every store is flushed, closed and unlocked.
   * Conversations still opening are closed as they open. Never rejects;
   * idempotent.
   */
  closeAll(graceMs: number): Promise<void> {
    this.#closing ??= this.#closeAll(graceMs);
    return this.#closing;
  }

  async #closeAll(graceMs: number): Promise<void> {
    const reason = 'the runtime shut down before the turn started';
    const closing = (conversations: Iterable<HostConversation>) => Promise.allSettled([...conversations].map((c) => c.closeWith(reason)));
    const first = closing(this.#open);
    // Infinity (or past the timer's range): wait for the running turns, each bounded by its own deadline.
    let timer: NodeJS.Timeout | undefined;
    const grace = Number.isFinite(graceMs) && graceMs <= MAX_TIMER_MS ? new Promise<'over'>((resolve) => (timer = setTimeout(resolve, graceMs, 'over'))) : undefined;
    try {
      await Promise.allSettled(this.#opening);
      const all = Promise.all([first, closing(this.#open)]);
      if (grace && (await Promise.race([all, grace])) === 'over') {
        for (const conversation of this.#open) conversation.abandon('the runtime shut down before the turn finished');
      }
      await all;
    } finally {
      clearTimeout(timer);
    }
  }
}
