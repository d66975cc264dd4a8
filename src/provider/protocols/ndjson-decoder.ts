/**
 * Newline-delimited JSON (Ollama's stream format), decoded from bytes split
 * anywhere, even inside a UTF-8 sequence. Shares its line splitting with the
 * SSE decoder, so CRLF is tolerated as well.
 */
import { LineDecoder } from './sse-decoder.ts';
import { parseJson } from './wire-format.ts';

export interface NdjsonDecoderOptions {
  /** Named on the BAD_RESPONSE errors the decoder throws. */
  provider?: string;
  /**
   * Recognizes the protocol's end marker. Lines after it are not parsed, so
   * trailing bytes after a complete reply cannot turn it into an error.
   */
  isEnd?: (value: unknown) => boolean;
}

export class NdjsonDecoder {
  readonly #lines = new LineDecoder();
  readonly #provider: string | undefined;
  readonly #isEnd: ((value: unknown) => boolean) | undefined;
  #ended = false;

  constructor(options: NdjsonDecoderOptions = {}) {
    this.#provider = options.provider;
    this.#isEnd = options.isEnd;
  }

  /** Returns the values of the lines this chunk completed; throws BAD_RESPONSE on a line that is not JSON. */
  push(chunk: Uint8Array): unknown[] {
    return this.#ended ? [] : this.#parse(this.#lines.push(chunk));
  }

  /** The body ended: parses a last line that had no newline. */
  end(): unknown[] {
    return this.#ended ? [] : this.#parse(this.#lines.end());
  }

  #parse(lines: string[]): unknown[] {
    const values: unknown[] = [];
    for (const line of lines) {
      if (line === '' || line.trim() === '') continue;
      const value = parseJson(line, this.#provider);
      values.push(value);
      if (this.#isEnd?.(value)) {
        this.#ended = true;
        break;
      }
    }
    return values;
  }
}
