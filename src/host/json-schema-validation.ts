/**
 * JSON Schema validation of structured-output replies, on the host, with
 * ajv (https://ajv.js.org): the maintained validator, rather than one of
 * our own. Schemas are compiled once and kept by their JSON text, since a
 * conversation or a loop sends the same schema on every call.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { ParleyError } from '../shared/errors.ts';
import type { OutputIssue } from '../shared/invalid-output-error.ts';

/** Compiled schemas kept; past this the oldest is dropped. */
const CACHED_SCHEMAS = 64;

// strict: false lets provider keywords (OpenAI's `strict`, descriptions with
// examples) through; formats are the provider's to honour, not checked here.
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false, logger: false });
/** By schema JSON: the compiled function and the object ajv keeps it under (removed from ajv on eviction, or ajv's own cache would grow). */
const compiled = new Map<string, { validate: ValidateFunction; schema: object }>();

/** Checks a value against a compiled schema; returns its issues, empty when it fits. */
export type JsonSchemaCheck = (value: unknown) => OutputIssue[];

/**
 * A check for `schema` (draft 2020-12; a draft-07 `$schema` is read as the
 * same vocabulary, which the common keywords share). Throws
 * INVALID_REQUEST naming `field` when the schema does not compile.
 */
export function compileJsonSchema(schema: Record<string, unknown>, field: string): JsonSchemaCheck {
  const key = JSON.stringify(schema);
  let entry = compiled.get(key);
  if (entry === undefined) {
    // $id would register the schema in ajv by name, and a second compile of it would fail.
    const { $schema: _declared, $id: _id, ...rest } = schema;
    try {
      entry = { validate: ajv.compile(rest), schema: rest };
    } catch (err) {
      throw new ParleyError('INVALID_REQUEST', `${field} is not a usable JSON Schema: ${(err as Error).message}`, { cause: err });
    }
    if (compiled.size >= CACHED_SCHEMAS) {
      const oldest = compiled.keys().next().value!;
      ajv.removeSchema(compiled.get(oldest)!.schema);
      compiled.delete(oldest);
    }
    compiled.set(key, entry);
  }
  const check = entry.validate;
  return (value) => (check(value) ? [] : (check.errors ?? []).map(toIssue));
}

function toIssue(error: ErrorObject): OutputIssue {
  const missing = error.keyword === 'required' ? (error.params as { missingProperty?: string }).missingProperty : undefined;
  return { message: missing === undefined ? (error.message ?? error.keyword) : `must have property "${missing}"`, path: error.instancePath };
}
