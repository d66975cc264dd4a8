/**
 * Which fault a chat request gets: the request's own x-parley-fault header
 * wins, then faults injected for the next N requests, then the standing fault
 * of setFault()/options.fault.
 */

import { parseFault, validateFault, type Fault } from './options.ts';

export const FAULT_HEADER = 'x-parley-fault';

export class FaultSchedule {
  #standing: Fault | undefined;
  #queued: Fault[] = [];

  constructor(standing?: Fault) {
    this.#standing = standing;
  }

  set(fault: Fault | undefined): void {
    this.#standing = fault === undefined ? undefined : validateFault(fault, 'setFault(fault)');
  }

  inject(fault: Fault, times = 1): void {
    validateFault(fault, 'injectFault(fault)');
    if (!Number.isInteger(times) || times < 1) throw new TypeError('injectFault(fault, times): times must be an integer >= 1');
    for (let i = 0; i < times; i++) this.#queued.push(fault);
  }

  /**
   * The fault for one chat request. A header fault does not consume an
   * injected one, so a test that injects stays in control of the count.
   * Throws a TypeError naming the header when its value is not a fault.
   */
  take(header: string | string[] | undefined): Fault | undefined {
    const raw = Array.isArray(header) ? header[0] : header;
    if (raw !== undefined && raw !== '') return parseFault(raw, `header ${FAULT_HEADER}`);
    return this.#queued.shift() ?? this.#standing;
  }
}
