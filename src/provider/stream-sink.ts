/**
 * Where a streamed body goes: chunk by chunk through the protocol's parser
 * into the stream's writer, under the response size cap, until the
 * protocol's end marker. One sink per attempt, since a retry starts a new
 * parser.
 */
import { ParleyError } from '../shared/errors.ts';
import type { CallReport, ChatResult } from '../shared/types.ts';
import type { StreamParser } from './protocols/adapter.ts';
import { TAIL, type BodySink } from './http/exchange.ts';
import type { CallSignal } from './call-signal.ts';
import type { StreamWriter } from './stream-writer.ts';
import { shutdownError } from './refusals.ts';

/**
 * A sink that resolves with the assembled reply. Throws TOO_LARGE past
 * `maxBytes`, and the call's abort reason once the writer was closed (the
 * host cancelled); the parser's own errors (PROVIDER, BAD_RESPONSE,
 * INCOMPLETE) pass through. `report` gives the call's attempts when the
 * end goes out.
 */
export function streamSink(
  parser: StreamParser,
  writer: StreamWriter,
  signal: CallSignal,
  maxBytes: number,
  provider: string,
  report: () => CallReport | undefined,
): BodySink<ChatResult> {
  let result: ChatResult | undefined;
  let bytes = 0;
  const stopped = () => signal.reason ?? shutdownError();
  return {
    data(chunk) {
      bytes += chunk.length;
      if (bytes > maxBytes) {
        throw new ParleyError('TOO_LARGE', `stream from provider "${provider}" passed the ${maxBytes}-byte cap`, { provider });
      }
      writer.push(parser.push(chunk));
      if (parser.done) {
        // The caller has its result now; the rest of the body, if any, is its
        // tail: read briefly (exchange.ts), not parsed.
        result = parser.finish();
        writer.end(result, report());
        return TAIL;
      }
      // No credit: the socket pauses until the host reads on. A writer
      // closed meanwhile (cancel) ends the request.
      return writer.waitForCredit()?.then(() => {
        if (writer.closed) throw stopped();
      });
    },
    end() {
      if (result) return result;
      if (writer.closed) throw stopped();
      return parser.finish();
    },
  };
}
