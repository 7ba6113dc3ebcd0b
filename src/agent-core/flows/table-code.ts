// Generated lookup code for a whole megaflow table (DESIGN: Flows — tuple-space search): every
// subtable's constant-word check, hash and probe written out in rank order in one function.
//
// Why one function for the table: the per-subtable code (mask-code.ts) is reached through a call
// whose target differs per subtable, and each call re-reads the key, re-hashes words that several
// masks share and re-checks the rank order. Written out for the table, a key word is read and its
// hash term computed once, constants are literals and a hit returns at once (measured with
// bench/flow-lookup.ts: ~1.2-1.4x single-key lookups at 1M flows). The code is built only from
// word offsets, numbers and the fixed multipliers, never from input text; tests compare it with
// the generic path.
import { FINISH_HASH_SOURCE, hashTermSource } from './key-hash.js';

/** What the generated code reads of a subtable on each call (its arrays change as it grows). */
export interface ProbedSubtable<E> {
  readonly fingerprints: Uint8Array;
  readonly words: Float64Array;
  readonly entries: readonly (E | undefined)[];
  readonly payloads: readonly unknown[];
  readonly capMask: number;
  hits: number;
}

/** The layout of a subtable, which the code embeds: a change of layout needs new code. */
export interface SubtableShape {
  readonly cols: Int32Array;
  readonly constOffsets: Int32Array;
  readonly consts: Float64Array;
}

export interface TableCode<E> {
  /** The flow of the first subtable (in the given order) holding `key`, counting the hit there. */
  lookup(key: ArrayLike<number>): E | undefined;
  /** The payload (the flow's actions) of the flow lookup would return, read from the slot: no read of the flow itself. */
  lookupPayload(key: ArrayLike<number>): unknown;
}

/**
 * Most subtables one generated function covers. Gateways carry a handful of masks; far more would
 * make the function too big for the optimising compiler, and the table keeps its generic search.
 */
export const MAX_GENERATED_SUBTABLES = 32;

type Factory = (subs: readonly ProbedSubtable<unknown>[]) => TableCode<unknown>;

/** Tables change shape rarely (a new mask, a word that stops being constant); the bound only guards. */
const CACHE_LIMIT = 256;
const cache = new Map<string, Factory>();

/**
 * The lookups over `subs` in the given order, returning the first flow found: correct when the
 * order is the rank order and every subtable holds flows of one priority, so that no later
 * subtable can hold a better flow than a hit.
 */
export function tableCode<E>(subs: readonly (ProbedSubtable<E> & SubtableShape)[]): TableCode<E> {
  const text = tableCodeText(subs);
  let factory = cache.get(text);
  if (factory === undefined) {
    if (cache.size >= CACHE_LIMIT) cache.clear();
    // Function() compiles code made of word offsets and numbers only (see the file comment).
    factory = new Function('subs', text) as Factory;
    cache.set(text, factory);
  }
  return factory(subs as readonly ProbedSubtable<unknown>[]) as TableCode<E>;
}

/** A number as source text that reads back as exactly that number. */
function literal(x: number): string {
  if (Object.is(x, -0)) return '-0';
  return Number.isNaN(x) ? 'NaN' : String(x); // 'Infinity' and '-Infinity' read back too
}

/** hashMaskedKey of the columns from their terms `p<w>`, left in `s` (never 0). */
function hashOf(cols: Int32Array): string {
  const sum = [...cols].reduce((acc, w) => `((${acc}) + p${w}) | 0`, '0');
  return `let s = ${sum};\n${FINISH_HASH_SOURCE}`;
}

function admitsOf(sub: SubtableShape): string {
  if (sub.constOffsets.length === 0) return 'true';
  return [...sub.constOffsets].map((w, j) => `x${w} === ${literal(sub.consts[j])}`).join(' && ');
}

/** Probes subtable k for the key words `x<w>` from hash `s`; returns the flow (or its payload) on a hit. */
function probeOf(k: number, sub: SubtableShape, answer: 'entries' | 'payloads'): string {
  const n = sub.cols.length;
  const equal = n === 0 ? 'true' : [...sub.cols].map((w, j) => `words[b + ${j}] === x${w}`).join(' && ');
  return `{
    const fps = s${k}.fingerprints, words = s${k}.words, answers = s${k}.${answer}, cm = s${k}.capMask;
    let fp = s >>> 24;
    if (fp === 0) fp = 1;
    let i = s & cm;
    for (;;) {
      const c = fps[i];
      if (c === 0) break;
      if (c === fp) {
        const e = answers[i];
        const b = i * ${n};
        if (${equal}) { s${k}.hits++; return e; }
      }
      i = (i + 1) & cm;
    }
  }`;
}

function tableCodeText(subs: readonly SubtableShape[]): string {
  return [
    ...subs.map((_, k) => `const s${k} = subs[${k}];`),
    probeAllText(subs, 'lookupAll', 'entries'),
    probeAllText(subs, 'lookupPayload', 'payloads'),
    'return { lookup: lookupAll, lookupPayload };',
  ].join('\n');
}

/**
 * `name(key)`: the subtables in order. A key word is read, and its hash term computed, once: inside
 * the block of the only subtable that needs it, else just before the first block that does.
 */
function probeAllText(subs: readonly SubtableShape[], name: string, answer: 'entries' | 'payloads'): string {
  const lastRead = new Map<number, number>();
  const lastHashed = new Map<number, number>();
  subs.forEach((sub, k) => {
    for (const w of sub.constOffsets) lastRead.set(w, k);
    for (const w of sub.cols) {
      lastRead.set(w, k);
      lastHashed.set(w, k);
    }
  });
  const read = new Set<number>();
  const hashed = new Set<number>();
  const lines = [`function ${name}(key) {`];
  subs.forEach((sub, k) => {
    const before: string[] = [];
    const inside: string[] = [];
    const place = (last: number | undefined, line: string): void => {
      ((last ?? k) > k ? before : inside).push(line);
    };
    for (const w of sub.constOffsets) {
      if (read.has(w)) continue;
      read.add(w);
      before.push(`const x${w} = key[${w}];`);
    }
    for (const w of sub.cols) {
      if (!read.has(w)) {
        read.add(w);
        place(lastRead.get(w), `const x${w} = key[${w}];`);
      }
      if (!hashed.has(w)) {
        hashed.add(w);
        place(lastHashed.get(w), `const p${w} = ${hashTermSource(w, `x${w}`)};`);
      }
    }
    lines.push(...before);
    lines.push(`if (${admitsOf(sub)}) {`, ...inside, hashOf(sub.cols), probeOf(k, sub, answer), '}');
  });
  lines.push('return undefined;', '}');
  return lines.join('\n');
}
