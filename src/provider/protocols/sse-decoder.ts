/**
 * Server-sent events, decoded byte by byte as the WHATWG EventSource spec
 * describes (https://html.spec.whatwg.org/multipage/server-sent-events.html).
 * Chunks may split anywhere: inside a line, inside a CRLF pair, inside a UTF-8
 * sequence. This runs for every token of every stream, so lines are found with
 * indexOf and never built a character at a time.
 */
import { StringDecoder } from 'node:string_decoder';

export interface SseEvent {
  /** The `event:` field, or 'message' when the event named none. */
  event: string;
  /** The `data:` lines joined with '\n'. */
  data: string;
  /** The last event id seen on the stream (it carries over, as in EventSource). */
  id?: string;
  /**
   * The lines of a non-standard `error:` field, joined with '\n': older
   * llama.cpp servers report a failure this way, then send `data: [DONE]`.
   * EventSource would drop the field; a client that did would see an empty success.
   */
  error?: string;
}

const LF = 10;
const SPACE = 32;

/**
 * Bytes to lines. Accepts LF, CRLF and lone CR as line ends, and drops a
 * leading BOM. StringDecoder rather than TextDecoder: a stream arrives one
 * small chunk per token, and on such chunks TextDecoder's streaming decode
 * costs about four times as much (0.26 vs 0.07 µs for a 200-byte chunk).
 */
export class LineDecoder {
  readonly #decoder = new StringDecoder('utf8');
  #bomChecked = false;
  /** The unterminated tail of the text so far; it never holds a CR or LF. */
  #pending = '';
  /** The last chunk ended with CR: an LF opening the next one is the same line end. */
  #afterCr = false;

  push(chunk: Uint8Array): string[] {
    return this.#split(this.#text(this.#decoder.write(chunk as Buffer)));
  }

  /** The body ended: returns the lines the decoder's last bytes completed; a last line without its line end is dropped. */
  endTerminated(): string[] {
    const lines = this.#split(this.#text(this.#decoder.end()));
    this.#pending = '';
    this.#afterCr = false;
    return lines;
  }

  /** The body ended: returns what is left, including a last line without a line end. */
  end(): string[] {
    const lines = this.#split(this.#text(this.#decoder.end()));
    if (this.#pending !== '') lines.push(this.#pending);
    this.#pending = '';
    this.#afterCr = false;
    return lines;
  }

  #text(text: string): string {
    if (this.#bomChecked || text === '') return text;
    this.#bomChecked = true;
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  }

  #split(text: string): string[] {
    const lines: string[] = [];
    if (text === '') return lines;
    let start = 0;
    if (this.#afterCr) {
      this.#afterCr = false;
      if (text.charCodeAt(0) === LF) start = 1;
    }
    let lf = text.indexOf('\n', start);
    let cr = text.indexOf('\r', start);
    while (lf !== -1 || cr !== -1) {
      const end = cr === -1 || (lf !== -1 && lf < cr) ? lf : cr;
      let line = text.slice(start, end);
      if (this.#pending !== '') {
        line = this.#pending + line;
        this.#pending = '';
      }
      lines.push(line);
      start = end + 1;
      if (end === cr) {
        if (start === text.length) this.#afterCr = true;
        else if (text.charCodeAt(start) === LF) start++;
      }
      // Search again only for the kind of line end we went past, so a body
      // without any CR is not rescanned to its end once per line.
      if (lf !== -1 && lf < start) lf = text.indexOf('\n', start);
      if (cr !== -1 && cr < start) cr = text.indexOf('\r', start);
    }
    if (start < text.length) this.#pending += start === 0 ? text : text.slice(start);
    return lines;
  }
}

export class SseDecoder {
  readonly #lines = new LineDecoder();
  #data: string[] = [];
  #error: string[] = [];
  #event = '';
  #lastId = '';

  /** Decode a chunk; returns the events it completed (those closed by a blank line). */
  push(chunk: Uint8Array): SseEvent[] {
    const events: SseEvent[] = [];
    for (const line of this.#lines.push(chunk)) this.#line(line, events);
    return events;
  }

  /**
   * The body ended. The spec discards an event not closed by a blank line,
   * because the connection may have broken in its middle. Servers do close
   * right after their last event's final line (`data: [DONE]\n`, Anthropic's
   * message_stop with one '\n'): every line of it arrived whole, so that
   * event is dispatched. A last line cut before its line end is still dropped.
   */
  end(): SseEvent[] {
    const events: SseEvent[] = [];
    for (const line of this.#lines.endTerminated()) this.#line(line, events);
    this.#dispatch(events);
    return events;
  }

  #line(line: string, events: SseEvent[]): void {
    if (line === '') {
      this.#dispatch(events);
      return;
    }
    const colon = line.indexOf(':');
    if (colon === 0) return; // a comment, e.g. ": OPENROUTER PROCESSING"
    let field: string;
    let value: string;
    if (colon === -1) {
      field = line;
      value = '';
    } else {
      field = line.slice(0, colon);
      value = line.charCodeAt(colon + 1) === SPACE ? line.slice(colon + 2) : line.slice(colon + 1);
    }
    switch (field) {
      case 'data':
        this.#data.push(value);
        break;
      case 'event':
        this.#event = value;
        break;
      case 'error':
        this.#error.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.#lastId = value;
        break;
      // 'retry' and unknown fields are ignored: nothing here reconnects.
    }
  }

  #dispatch(events: SseEvent[]): void {
    const data = this.#data;
    const event = this.#event;
    const error = this.#error;
    this.#data = [];
    this.#event = '';
    if (data.length === 0 && error.length === 0) return;
    const sse: SseEvent = { event: event === '' ? 'message' : event, data: data.length === 1 ? data[0]! : data.join('\n') };
    if (this.#lastId !== '') sse.id = this.#lastId;
    if (error.length > 0) {
      this.#error = [];
      sse.error = error.join('\n');
    }
    events.push(sse);
  }
}
