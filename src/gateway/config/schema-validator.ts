// Structural validation of a parsed config against config/tollgate.schema.json (the single source
// of truth, read at run time from the package root) with ajv; schema defaults are applied in place.
// ajv's errors become ConfigProblems with a plain-language message and a typo suggestion.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { CONFIG_FORMATS } from './formats.js';
import { type FieldProblem, type PathSegment } from './problems.js';
import { suggestField } from './suggest.js';

/** The schema file; from src/gateway/config/ and from dist/gateway/config/ alike it is three levels up. */
export const CONFIG_SCHEMA_PATH = fileURLToPath(new URL('../../../config/tollgate.schema.json', import.meta.url));

type JsonSchema = Record<string, unknown>;

let compiled: ValidateFunction | undefined;

export function readConfigSchema(): JsonSchema {
  return JSON.parse(readFileSync(CONFIG_SCHEMA_PATH, 'utf8')) as JsonSchema;
}

function validator(): ValidateFunction {
  if (compiled === undefined) {
    const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, allowUnionTypes: true, strict: true });
    ajv.addVocabulary(['x-expected']);
    for (const [name, check] of Object.entries(CONFIG_FORMATS)) ajv.addFormat(name, { type: 'string', validate: check });
    compiled = ajv.compile(readConfigSchema());
  }
  return compiled;
}

/** Validates `data` in place (filling schema defaults into it) and lists what is wrong. */
export function validateAgainstSchema(data: unknown): FieldProblem[] {
  const validate = validator();
  if (validate(data)) return [];
  const problems = (validate.errors ?? []).map((e) => toProblem(e, data));
  const key = (path: readonly PathSegment[]): string => path.join('\u0000');
  // A misspelt field also leaves its real name missing: the typo's suggestion already says so.
  const suggested = new Set(problems.flatMap((p) => (p.suggests === undefined ? [] : [key([...p.path.slice(0, -1), p.suggests])])));
  // `not` and the bounds can fail together for one value; say it once.
  const seen = new Set<string>();
  return problems.filter((p) => {
    if (p.missing === true && suggested.has(key(p.path))) return false;
    const id = `${key(p.path)}\u0001${p.message}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  }).map(({ path, anchor, message }) => ({ path, anchor, message }));
}

/** A problem with what the de-duplication needs to know. */
interface SchemaProblem extends FieldProblem {
  /** A required field that is missing. */
  readonly missing?: boolean;
  /** For an unknown field: the known field it probably meant. */
  readonly suggests?: string;
}

function pathOf(pointer: string, data: unknown): PathSegment[] {
  if (pointer === '') return [];
  const out: PathSegment[] = [];
  let node: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      out.push(Number(seg));
      node = node[Number(seg)];
    } else {
      out.push(seg);
      node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[seg] : undefined;
    }
  }
  return out;
}

export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return JSON.stringify(v);
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  object: 'a mapping of fields',
  array: 'a list',
  null: 'empty',
};

function toProblem(e: ErrorObject, data: unknown): SchemaProblem {
  const path = pathOf(e.instancePath, data);
  const parent = (e.parentSchema ?? {}) as JsonSchema;
  const expected = typeof parent['x-expected'] === 'string' ? parent['x-expected'] : undefined;
  const got = `(got ${describeValue(e.data)})`;
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return { path: [...path, String(params.missingProperty)], anchor: 'key', message: 'required field is missing', missing: true };
    case 'additionalProperties': {
      const name = String(params.additionalProperty);
      const known = Object.keys((parent.properties ?? {}) as JsonSchema);
      const guess = suggestField(name, known);
      const hint = guess === undefined ? ` (known fields: ${known.join(', ')})` : ` (did you mean '${guess}'?)`;
      return { path: [...path, name], anchor: 'key', message: `unknown field '${name}'${hint}`, suggests: guess };
    }
    case 'type': {
      const types = ([] as string[]).concat(params.type as string | string[]);
      return { path, anchor: 'value', message: `must be ${types.map((t) => TYPE_WORDS[t] ?? t).join(' or ')} ${got}` };
    }
    case 'enum':
      return { path, anchor: 'value', message: `must be one of ${(params.allowedValues as unknown[]).join(', ')} ${got}` };
    case 'uniqueItems': {
      const [first, dup] = [Number(params.j), Number(params.i)].sort((a, b) => a - b);
      const items = e.data as unknown[];
      return { path: [...path, dup], anchor: 'value', message: `${describeValue(items[dup])} is listed twice (also item ${first})` };
    }
    case 'minLength':
      return { path, anchor: 'value', message: params.limit === 1 ? 'must not be empty' : `must be at least ${String(params.limit)} characters long` };
    case 'maxLength':
      return { path, anchor: 'value', message: `must be at most ${String(params.limit)} characters long` };
    case 'minItems':
      return { path, anchor: 'value', message: params.limit === 1 ? 'must list at least one item' : `must list at least ${String(params.limit)} items` };
    case 'minimum':
    case 'maximum':
    case 'not':
    case 'format':
    case 'pattern':
      return { path, anchor: 'value', message: `must be ${expected ?? boundsOf(parent) ?? describeRule(e)} ${got}` };
    default:
      return { path, anchor: 'value', message: `${e.message ?? 'is invalid'} ${got}` };
  }
}

function boundsOf(schema: JsonSchema): string | undefined {
  const { minimum, maximum } = schema;
  if (typeof minimum === 'number' && typeof maximum === 'number') return `between ${minimum} and ${maximum}`;
  if (typeof minimum === 'number') return `at least ${minimum}`;
  if (typeof maximum === 'number') return `at most ${maximum}`;
  return undefined;
}

function describeRule(e: ErrorObject): string {
  const params = e.params as Record<string, unknown>;
  if (e.keyword === 'pattern') return `text matching ${String(params.pattern)}`;
  if (e.keyword === 'format') return `in format ${String(params.format)}`;
  return 'valid';
}
