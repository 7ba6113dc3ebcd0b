// Numeric hashing of masked flow keys for the megaflow subtables (DESIGN: Flows): a multilinear
// hash (each word times a per-word odd constant, summed mod 2^32) then murmur3's finaliser.
import { FIELD_OFFSET, FIELD_WIDTH, Field, KEY_WORDS } from '../packet/flow-match.js';

/** 2^-32: scales a word down to its high 32 bits. */
const TWO_POW_MINUS_32 = 2 ** -32;

/** Fixed odd multipliers (a splitmix sequence): one for the low, one for the high half of each word. */
export const MUL_LO = new Int32Array(KEY_WORDS);
export const MUL_HI = new Int32Array(KEY_WORDS);
{
  let s = 0x9e3779b9;
  const next = (): number => {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) | 1;
  };
  for (let w = 0; w < KEY_WORDS; w++) {
    MUL_LO[w] = next();
    MUL_HI[w] = next();
  }
}

/**
 * Words that may exceed 32 bits: the 48-bit MACs, hashed on both halves. Every other word is at
 * most 32 bits (address words, ports, ids), so only its low half is hashed; an out-of-range value
 * there can only collide, never match wrongly, since a hit compares the words themselves.
 */
export const WIDE_WORD = new Uint8Array(KEY_WORDS);
for (const f of [Field.EthSrc, Field.EthDst, Field.ArpSha, Field.ArpTha]) {
  for (let w = 0; w < FIELD_WIDTH[f]; w++) WIDE_WORD[FIELD_OFFSET[f] + w] = 1;
}

/** The murmur3 finaliser; never 0 (0 marks an empty slot). */
function finishHash(sum: number): number {
  let h = sum ^ (sum >>> 16);
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h === 0 ? 1 : h;
}

/**
 * The hash of `key` under the mask whose words are `offsets`: the reference definition, which
 * the generated per-mask code (mask-code.ts) computes identically.
 */
export function hashMaskedKey(key: ArrayLike<number>, offsets: Int32Array): number {
  let s = 0;
  for (let j = 0; j < offsets.length; j++) {
    const w = offsets[j];
    const v = key[w];
    s = (s + Math.imul(v | 0, MUL_LO[w])) | 0;
    if (WIDE_WORD[w] !== 0) s = (s + Math.imul((v * TWO_POW_MINUS_32) | 0, MUL_HI[w])) | 0;
  }
  return finishHash(s);
}

/**
 * Source text of hashMaskedKey's term for word `w` (an int32), the word's value being in the
 * variable named `value`; the generated lookups (mask-code.ts, table-code.ts) sum these.
 */
export function hashTermSource(w: number, value: string): string {
  return WIDE_WORD[w] !== 0
    ? `((Math.imul(${value} | 0, ${MUL_LO[w]}) + Math.imul((${value} * 2.3283064365386963e-10) | 0, ${MUL_HI[w]})) | 0)`
    : `Math.imul(${value} | 0, ${MUL_LO[w]})`;
}

/** Source text of finishHash applied to the int32 variable `s`, in place (never 0 after). */
export const FINISH_HASH_SOURCE =
  's ^= s >>> 16; s = Math.imul(s, 0x85ebca6b); s ^= s >>> 13; s = Math.imul(s, 0xc2b2ae35); s ^= s >>> 16; if (s === 0) s = 1;';
