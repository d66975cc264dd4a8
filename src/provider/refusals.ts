/** The two errors the worker answers with before any I/O: both mean the call was never started. */
import { ParleyError } from '../shared/errors.ts';

export function unknownProvider(provider: string): ParleyError {
  return new ParleyError('INVALID_REQUEST', `unknown provider "${provider}"`, { provider });
}

export function shutdownError(): ParleyError {
  return new ParleyError('SHUTDOWN', 'the runtime is shutting down');
}
