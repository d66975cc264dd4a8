/**
 * How a failure becomes an exit code and one line on stderr. Scripts match on
 * the exit code (by class of failure), people read the line; neither ever
 * shows a stack trace unless --debug asks for it.
 */
import { ParleyError, type ErrorCode } from '../index.ts';

export const EXIT = {
  OK: 0,
  UNEXPECTED: 1,
  USAGE: 2,
  UNREACHABLE: 3,
  PROVIDER: 4,
  TIMEOUT: 5,
  ABORTED: 6,
  RUNTIME: 7,
  /** The machine said no: a file that cannot be written or read, a port in use. */
  LOCAL: 8,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

const BY_CODE: Record<ErrorCode, ExitCode> = {
  CONFIG: EXIT.USAGE,
  INVALID_REQUEST: EXIT.USAGE,
  UNREACHABLE: EXIT.UNREACHABLE,
  CONNECTION: EXIT.UNREACHABLE,
  HTTP: EXIT.PROVIDER,
  PROVIDER: EXIT.PROVIDER,
  BAD_RESPONSE: EXIT.PROVIDER,
  INCOMPLETE: EXIT.PROVIDER,
  TOO_LARGE: EXIT.PROVIDER,
  INVALID_OUTPUT: EXIT.PROVIDER,
  TIMEOUT: EXIT.TIMEOUT,
  ABORTED: EXIT.ABORTED,
  SHUTDOWN: EXIT.ABORTED,
  WORKER_CRASHED: EXIT.RUNTIME,
  QUEUE_FULL: EXIT.RUNTIME,
};

/** A mistake on the command line: bad flag, missing argument, unknown command. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * A user's mistake the machine refused (a /save to a directory that does not
 * exist, a port in use): the message says what to do, the label is the
 * system's own code (ENOENT, EADDRINUSE, ...).
 */
export class LocalError extends Error {
  override readonly name = 'LocalError';
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Node's system errors that are about this machine (files, ports), not a bug. */
const LOCAL_ERRNO = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EEXIST', 'EADDRINUSE', 'EADDRNOTAVAIL', 'EMFILE', 'ENAMETOOLONG']);

function isLocalErrno(err: unknown): err is NodeJS.ErrnoException {
  const code = (err as { code?: unknown } | null)?.code;
  return err instanceof Error && typeof code === 'string' && LOCAL_ERRNO.has(code) && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}

export function exitCodeOf(err: unknown): ExitCode {
  if (err instanceof ParleyError) return BY_CODE[err.code] ?? EXIT.UNEXPECTED;
  if (err instanceof UsageError) return EXIT.USAGE;
  if (err instanceof LocalError || isLocalErrno(err)) return EXIT.LOCAL;
  // node:util parseArgs rejects unknown or malformed flags with these codes.
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) return EXIT.USAGE;
  return EXIT.UNEXPECTED;
}

/** `error [CODE]: message`, on one line; the stack and cause only with --debug. */
export function describeError(err: unknown, debug: boolean): string {
  const exit = exitCodeOf(err);
  const code = err instanceof ParleyError ? err.code : exit === EXIT.USAGE ? 'USAGE' : exit === EXIT.LOCAL ? (err as { code: string }).code : 'UNEXPECTED';
  const message = err instanceof Error ? err.message : String(err);
  const line = `error [${code}]: ${message.replace(/\s*\n\s*/g, ' ')}`;
  if (!debug) return line;
  const details: string[] = [line];
  if (err instanceof Error && err.stack) details.push(err.stack);
  let cause = err instanceof Error ? err.cause : undefined;
  for (let depth = 0; cause !== undefined && depth < 5; depth++) {
    details.push(`cause: ${cause instanceof Error ? (cause.stack ?? cause.message) : JSON.stringify(cause)}`);
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return details.join('\n');
}
