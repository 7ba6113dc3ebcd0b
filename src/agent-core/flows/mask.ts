// Field masks of megaflows: which key words a mask covers, how specific it is, and how two
// matching flows are ranked (DESIGN: Flows — the flow matches only the fields the simulation read).
import { FIELD_COUNT, FIELD_NAMES, FIELD_OFFSET, FIELD_WIDTH, KEY_WORDS, type FieldMask } from '../packet/flow-match.js';

/** Every defined field; bits above it are ignored by the tables. */
export const FULL_MASK: FieldMask = (1 << FIELD_COUNT) - 1;

/** The key words a mask covers, ascending. */
export function maskWordOffsets(mask: FieldMask): Int32Array {
  const out: number[] = [];
  for (let f = 0; f < FIELD_COUNT; f++) {
    if ((mask & (1 << f)) === 0) continue;
    for (let w = 0; w < FIELD_WIDTH[f]; w++) out.push(FIELD_OFFSET[f] + w);
  }
  out.sort((a, b) => a - b);
  return Int32Array.from(out);
}

export function maskFieldCount(mask: FieldMask): number {
  let n = 0;
  for (let m = mask & FULL_MASK; m !== 0; m &= m - 1) n++;
  return n;
}

export function maskFieldNames(mask: FieldMask): string[] {
  const names: string[] = [];
  for (let f = 0; f < FIELD_COUNT; f++) if ((mask & (1 << f)) !== 0) names.push(FIELD_NAMES[f]);
  return names;
}

/** Whether two keys agree on every word of the mask's fields. */
export function maskedKeyEquals(a: ArrayLike<number>, b: ArrayLike<number>, mask: FieldMask): boolean {
  for (let f = 0; f < FIELD_COUNT; f++) {
    if ((mask & (1 << f)) === 0) continue;
    const off = FIELD_OFFSET[f];
    for (let w = off; w < off + FIELD_WIDTH[f]; w++) if (a[w] !== b[w]) return false;
  }
  return true;
}

/** A copy of `key` with every word outside the mask zeroed. */
export function maskKey(key: ArrayLike<number>, mask: FieldMask): Float64Array {
  const out = new Float64Array(KEY_WORDS);
  const offs = maskWordOffsets(mask);
  for (let j = 0; j < offs.length; j++) out[offs[j]] = key[offs[j]] ?? 0;
  return out;
}

/**
 * Whether a flow ranked (pa, mask a) beats one ranked (pb, mask b): higher priority, then more
 * fields (the more specific megaflow), then the lower mask value, so the choice never depends on
 * install order or table layout.
 */
export function outranks(pa: number, fieldsA: number, maskA: FieldMask, pb: number, fieldsB: number, maskB: FieldMask): boolean {
  if (pa !== pb) return pa > pb;
  if (fieldsA !== fieldsB) return fieldsA > fieldsB;
  return maskA < maskB;
}
