/**
 * The `logger` option: any object with debug, info, warn and error methods
 * that take a record and a message, which pino and console both are. The
 * runtime sends it structured records (worker start, crash, restart,
 * retries, fallbacks, breaker changes, shutdown, transcript warnings), each
 * redacted on its way out. A logger that throws never fails a call.
 */
import { ParleyError } from '../../shared/errors.ts';
import type { Redactor } from '../../shared/redaction.ts';

/** pino's and console's shape: `logger.info(record, message)`. */
export interface Logger {
  debug(record: LogRecord, message: string): void;
  info(record: LogRecord, message: string): void;
  warn(record: LogRecord, message: string): void;
  error(record: LogRecord, message: string): void;
}

/** What every record carries: `event` names what happened (e.g. 'worker-crashed'); the rest depends on it. */
export interface LogRecord {
  event: string;
  [field: string]: unknown;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** options.logger as given: undefined (silent) or a Logger; CONFIG otherwise. */
export function checkLogger(value: unknown): Logger | undefined {
  if (value === undefined) return undefined;
  const missing = typeof value === 'object' && value !== null ? LEVELS.filter((level) => typeof (value as Record<string, unknown>)[level] !== 'function') : LEVELS;
  if (missing.length > 0) {
    throw new ParleyError('CONFIG', `options.logger must have debug, info, warn and error methods (missing: ${missing.join(', ')}), e.g. console or a pino logger`);
  }
  return value as Logger;
}

/** The runtime's side of a logger: redacts every record and message, and keeps the logger's failures to itself. */
export class RuntimeLog {
  readonly #logger: Logger;
  readonly #redactor: Redactor;

  constructor(logger: Logger, redactor: Redactor) {
    this.#logger = logger;
    this.#redactor = redactor;
  }

  write(level: LogLevel, record: LogRecord, message: string): void {
    try {
      this.#logger[level](this.#redactor.value(record), this.#redactor.text(message));
    } catch {
      // The host's logger is the host's: its failure is not the call's.
    }
  }
}
