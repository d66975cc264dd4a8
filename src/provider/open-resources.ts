/**
 * What would keep a closed worker's event loop alive, as Node lists it
 * (process.getActiveResourcesInfo(): one entry per ref'd handle or request,
 * by kind, e.g. 'TCPSocketWrap', 'Timeout', 'FSReqCallback', 'MessagePort').
 *
 * Why: a worker that closed everything exits by itself, but its thread's
 * exit also waits for V8 to finish any background compilation it started
 * (the optimizing tier-up of undici's llhttp WebAssembly, about 200 ms after
 * a worker's first calls). The host need not wait for that: a worker that
 * reports nothing open holds no socket, timer or file, and its thread's
 * teardown cannot do anything more. One that reports something is waited
 * for, and terminated if it does not exit (ShutdownReport.forced).
 */

/**
 * The kinds still open, less `releasedPorts` MessagePorts (those the close
 * itself releases once its answer is sent) and pending Immediates (they run
 * on this turn of the loop and cannot hold it open by themselves).
 */
export function openResources(releasedPorts: number): string[] {
  let ports = releasedPorts;
  return process.getActiveResourcesInfo().filter((kind) => {
    if (kind === 'Immediate') return false;
    if (kind === 'MessagePort' && ports > 0) {
      ports--;
      return false;
    }
    return true;
  });
}
