/**
 * JSON Schema validation of structured-output replies, on the host, with
 * ajv (https://ajv.js.org): the maintained validator, rather than one of
 * our own. Schemas are compiled once and kept by their JSON text, since a
 * conversation or a loop sends the same schema on every call.
 *
 * ajv is loaded on the first schema, not with parley: loading it and
 * building its 2020-12 meta-schemas took about 50 ms of every host's
 * import on the 2-core reference machine (a CLI `ask` pays it on each run),
 * for a feature most calls never use. The import() names the path as a
 * string literal so that a host's bundler still bundles it.
 */
import type { Ajv2020 as Ajv, ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import { ParleyError } from '../shared/errors.ts';
import type { OutputIssue } from '../shared/invalid-output-error.ts';

/** Compiled schemas kept; past this the oldest is dropped. */
const CACHED_SCHEMAS = 64;

let loading: Promise<Ajv> | undefined;

function validator(): Promise<Ajv> {
  // strict: false lets provider keywords (OpenAI's `strict`, descriptions with
  // examples) through; formats are the provider's to honour, not checked here.
  loading ??= import('ajv/dist/2020.js').then(({ Ajv2020 }) => new Ajv2020({ strict: false, allErrors: true, validateFormats: false, logger: false }));
  return loading;
}
/** By schema JSON: the compiled function and the object ajv keeps it under (removed from ajv on eviction, or ajv's own cache would grow). */
const compiled = new Map<string, { validate: ValidateFunction; schema: object }>();

/** Checks a value against a compiled schema; returns its issues, empty when it fits. */
export type JsonSchemaCheck = (value: unknown) => OutputIssue[];

/**
 * A check for `schema` (draft 2020-12; a draft-07 `$schema` is read as the
 * same vocabulary, which the common keywords share). Rejects with
 * INVALID_REQUEST naming `field` when the schema does not compile.
 */
export async function compileJsonSchema(schema: Record<string, unknown>, field: string): Promise<JsonSchemaCheck> {
  const key = JSON.stringify(schema);
  let entry = compiled.get(key);
  if (entry === undefined) {
    const ajv = await validator();
    // Another call may have compiled it while ajv loaded.
    entry = compiled.get(key) ?? compileInto(ajv, key, schema, field);
  }
  const check = entry.validate;
  return (value) => (check(value) ? [] : (check.errors ?? []).map(toIssue));
}

/** Compiles `schema` with `ajv` and keeps it under `key`; throws INVALID_REQUEST naming `field`. */
function compileInto(ajv: Ajv, key: string, schema: Record<string, unknown>, field: string): { validate: ValidateFunction; schema: object } {
  // $id would register the schema in ajv by name, and a second compile of it would fail.
  const { $schema: _declared, $id: _id, ...rest } = schema;
  let entry: { validate: ValidateFunction; schema: object };
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
  return entry;
}

function toIssue(error: ErrorObject): OutputIssue {
  const missing = error.keyword === 'required' ? (error.params as { missingProperty?: string }).missingProperty : undefined;
  return { message: missing === undefined ? (error.message ?? error.keyword) : `must have property "${missing}"`, path: error.instancePath };
}
