/**
 * parley/testing: the embedded model server, for parley's own tests, the CLI's
 * zero-configuration default, and host applications' regression tests.
 */

export { startModelServer } from './model-server.ts';
export type { ModelServer, ModelServerStats, RecordedRequest } from './model-server.ts';
export type { Fault, FaultKind, ModelServerOptions } from './options.ts';
export { parseFault } from './options.ts';
export { FAULT_HEADER } from './faults.ts';
export { parseServeArgs, runServe, SERVE_USAGE } from './serve.ts';
export { waitFor } from './wait-for.ts';
export type { WaitForOptions } from './wait-for.ts';
