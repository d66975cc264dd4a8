/**
 * The error of a structured-output reply that is not valid JSON or does not
 * fit the requested schema. The wire worked (that would be BAD_RESPONSE):
 * the model's answer is the problem, so the error carries the answer and
 * what is wrong with it, for the host to show, repair or ask again.
 */
import { ParleyError, type ParleyErrorOptions } from './errors.ts';

/** One thing wrong with the reply: `path` is a JSON Pointer ('' for the whole value, '/items/0/name'). */
export interface OutputIssue {
  message: string;
  path: string;
}

export class InvalidOutputError extends ParleyError {
  /** The reply's text as the model sent it (for Anthropic's forced tool, the tool input as JSON). */
  readonly text: string;
  readonly issues: readonly OutputIssue[];

  constructor(message: string, text: string, issues: OutputIssue[], options: ParleyErrorOptions = {}) {
    super('INVALID_OUTPUT', message, options);
    this.text = text;
    this.issues = Object.freeze(issues.map((issue) => Object.freeze({ ...issue })));
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), text: this.text, issues: this.issues };
  }
}
