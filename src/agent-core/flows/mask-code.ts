// Lookup code for one subtable layout (DESIGN: Flows): hashing, probing and word comparison
// generated as straight-line code with the layout's word offsets as constants.
//
// Why generated: V8 repeats a map check and a data-pointer load for every typed-array access in a
// loop over an offsets array, which made hashing and comparing the lookup's main cost. The same
// work written out with constant offsets runs about twice as fast (measured on the flow-lookup
// benchmark). The code is built only from word offsets and the fixed multipliers, never from
// input text, and tests check it against the loop definitions (key-hash.ts).
import { FINISH_HASH_SOURCE, hashTermSource } from './key-hash.js';

/**
 * A subtable stores, per slot, only the words of its `cols`; the mask's other words hold one
 * value for every flow of the subtable (`consts`, checked once per lookup, before any hashing).
 * Slot arrays: fingerprints (0 = empty, else the hash's top byte or 1), words (`cols.length` a
 * slot) and entries.
 */
export interface LayoutCode<E> {
  /** hashMaskedKey(key, cols), never 0. */
  readonly hash: (key: ArrayLike<number>) => number;
  /** The entry matching `key`: the constant words, then the hash and the probe, in one call. */
  readonly lookup: (
    key: ArrayLike<number>,
    consts: Float64Array,
    fingerprints: Uint8Array,
    words: Float64Array,
    entries: readonly (E | undefined)[],
    capMask: number,
  ) => E | undefined;
}

type AnyLayoutCode = LayoutCode<unknown>;

/** Layouts are few (a handful of masks per gateway); the bound only guards against a runaway caller. */
const CACHE_LIMIT = 4096;
const cache = new Map<string, AnyLayoutCode>();

/** The code for a layout, built once and shared by every subtable with that layout. */
export function layoutCode<E>(cols: Int32Array, constOffsets: Int32Array): LayoutCode<E> {
  const id = `${cols.join(',')}|${constOffsets.join(',')}`;
  let code = cache.get(id);
  if (code === undefined) {
    if (cache.size >= CACHE_LIMIT) cache.clear();
    code = buildLayoutCode([...cols], [...constOffsets]);
    cache.set(id, code);
  }
  return code as LayoutCode<E>;
}

function buildLayoutCode(cols: number[], constOffsets: number[]): AnyLayoutCode {
  // hashMaskedKey over the columns, unrolled: leaves the hash (never 0) in `s`.
  const hashLines: string[] = ['let s = 0;'];
  for (const w of cols) hashLines.push(`{ const v = key[${w}]; s = (s + ${hashTermSource(w, 'v')}) | 0; }`);
  hashLines.push(FINISH_HASH_SOURCE);
  const hashCode = hashLines.join('\n');
  const admits = constOffsets.length === 0 ? 'true' : constOffsets.map((w, j) => `key[${w}] === consts[${j}]`).join(' && ');

  const n = cols.length;
  const compare = n === 0 ? 'true' : cols.map((w, j) => `words[b + ${j}] === key[${w}]`).join(' && ');
  const probe = `
    let fp = h >>> 24;
    if (fp === 0) fp = 1;
    let i = h & capMask;
    for (;;) {
      const c = fingerprints[i];
      if (c === 0) return undefined;
      if (c === fp) {
        // The entry is read before the words are compared so both cache misses overlap.
        const e = entries[i];
        const b = i * ${n};
        if (${compare}) return e;
      }
      i = (i + 1) & capMask;
    }`;
  // Function() compiles code made of the numbers above only (see the file comment).
  return {
    hash: new Function('key', `${hashCode}\nreturn s;`) as AnyLayoutCode['hash'],
    lookup: new Function(
      'key',
      'consts',
      'fingerprints',
      'words',
      'entries',
      'capMask',
      `if (!(${admits})) return undefined;\n${hashCode}\nconst h = s;\n${probe}`,
    ) as AnyLayoutCode['lookup'],
  };
}
