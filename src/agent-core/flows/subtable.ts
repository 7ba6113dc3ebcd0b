// One hash table of the tuple-space search: the flows of one mask, keyed by their masked words
// (DESIGN: Flows — one hash table per mask). Open addressing with linear probing over typed arrays.
import { KEY_WORDS, type FieldMask } from '../packet/flow-match.js';
import { type LayoutCode, layoutCode } from './mask-code.js';
import { maskFieldCount, maskWordOffsets } from './mask.js';

const MIN_CAPACITY = 16;
const NO_WORDS = new Int32Array(0);

/** The byte a probe compares first: the hash's top 8 bits, never 0 (0 = empty slot). */
function fingerprint(h: number): number {
  const f = h >>> 24;
  return f === 0 ? 1 : f;
}

/** What the subtable needs of a flow: a place to keep its slot index (-1 = not in a subtable). */
export interface Slotted {
  slot: number;
}

/**
 * Column layout: a word of the mask that every flow here holds with the same value (the upper
 * three words of IPv4 addresses, the ethertype and protocol of a 5-tuple subtable, ...) is kept
 * once in `consts` and checked once per lookup, before any hashing; only the other words, the
 * columns, are hashed and stored per slot. A flow that differs in a constant word turns that word
 * into a column (a rebuild of the subtable, at most once per word of the mask while it lives).
 *
 * Slot i holds a one-byte fingerprint in `fingerprints[i]` (0 = empty), the full hash in
 * `hashes[i]`, the column words in `words[i*width ..]`, the flow in `entries[i]` and what the
 * fast path needs of it (its actions) in `payloads[i]`. A probe of a subtable that lacks the key
 * mostly reads only the fingerprint array, small enough to stay in cache; a hit reads one run of
 * words and the payload, both found from the slot at once, so that the flow itself (one more
 * dependent cache miss at large tables: ~x1.2-1.7 lookups/s, bench/flow-lookup.ts) is not read.
 * No strings, no allocation.
 */
export class Subtable<E extends Slotted> {
  readonly mask: FieldMask;
  readonly fieldCount: number;
  /** Every word of the mask, ascending. */
  readonly offsets: Int32Array;
  size = 0;
  /** Lookups this mask answered. */
  hits = 0;
  /** Highest priority among the flows here (only meaningful while size > 0). */
  maxPriority = 0;
  /** Whether every flow here has priority maxPriority (a lookup then need not read the flow's own). */
  uniformPriority = true;
  /** Changes whenever cols, constOffsets or consts do (code generated for the table embeds them). */
  shapeVersion = 0;
  // Public for the table's generated lookup (table-code.ts), which reads them on every call;
  // only this class writes them.
  cols: Int32Array = NO_WORDS;
  constOffsets: Int32Array = NO_WORDS;
  consts = new Float64Array(0);
  capMask = MIN_CAPACITY - 1;
  fingerprints = new Uint8Array(MIN_CAPACITY);
  words = new Float64Array(0);
  entries: (E | undefined)[] = new Array<E | undefined>(MIN_CAPACITY).fill(undefined);
  /** What a hit's caller reads of the flow (its actions), per slot: answered without the flow's own cache miss. */
  payloads: unknown[] = new Array<unknown>(MIN_CAPACITY).fill(undefined);
  private readonly priorityCounts = new Map<number, number>();
  private code: LayoutCode<E> = layoutCode<E>(NO_WORDS, NO_WORDS);
  private hashes = new Int32Array(MIN_CAPACITY);

  constructor(
    mask: FieldMask,
    private readonly payloadOf: (e: E) => unknown = () => undefined,
  ) {
    this.mask = mask;
    this.fieldCount = maskFieldCount(mask);
    this.offsets = maskWordOffsets(mask);
  }

  /** Words stored per slot (the mask's words that vary between its flows). */
  get width(): number {
    return this.cols.length;
  }

  /** The flow whose masked words equal those of `key`: the hot path. */
  lookup(key: ArrayLike<number>): E | undefined {
    return this.code.lookup(key, this.consts, this.fingerprints, this.words, this.entries, this.capMask);
  }

  /** Adds a flow whose masked key is not present yet. */
  insert(key: ArrayLike<number>, entry: E, priority: number): void {
    if (this.size === 0) {
      // The first flow makes every word a constant.
      this.relayout(NO_WORDS, this.offsets, key, MIN_CAPACITY);
    } else {
      const varying: number[] = [];
      for (let j = 0; j < this.constOffsets.length; j++) {
        if (key[this.constOffsets[j]] !== this.consts[j]) varying.push(this.constOffsets[j]);
      }
      if (varying.length > 0) {
        const cols = Int32Array.from([...this.cols, ...varying].sort((a, b) => a - b));
        const consts = Int32Array.from([...this.constOffsets].filter((w) => !varying.includes(w)));
        this.relayout(cols, consts, undefined, this.fingerprints.length);
      }
    }
    if ((this.size + 1) * 2 > this.fingerprints.length) this.relayout(this.cols, this.constOffsets, undefined, this.fingerprints.length * 2);
    this.place(key, this.code.hash(key), entry);
    this.size++;
    this.addPriority(priority);
  }

  /**
   * Removes the flow and returns its match as a full key (zero outside the mask), or undefined if
   * it is not here. Backward-shift deletion keeps probe runs intact without tombstones.
   */
  remove(entry: E, priority: number): Float64Array | undefined {
    const i = entry.slot;
    if (i < 0 || i >= this.entries.length || this.entries[i] !== entry) return undefined;
    const key = this.keyAt(i);
    this.clearSlot(i);
    entry.slot = -1;
    this.size--;
    this.removePriority(priority);
    const cap = this.fingerprints.length;
    if (cap > MIN_CAPACITY && this.size * 8 < cap) this.relayout(this.cols, this.constOffsets, undefined, capacityFor(this.size * 4));
    return key;
  }

  /** A live flow's match as a full key, zero outside the mask. */
  keyOf(entry: E): Float64Array {
    const i = entry.slot;
    return i >= 0 && this.entries[i] === entry ? this.keyAt(i) : new Float64Array(KEY_WORDS);
  }

  /** The flows here, in slot order (a snapshot). */
  snapshot(): E[] {
    const out: E[] = [];
    for (const e of this.entries) if (e !== undefined) out.push(e);
    return out;
  }

  /** Longest probe run, for tests and benchmarks checking the hash spreads well. */
  maxProbeLength(): number {
    let worst = 0;
    const m = this.capMask;
    for (let i = 0; i < this.hashes.length; i++) {
      if (this.entries[i] === undefined) continue;
      const d = (i - (this.hashes[i] & m) + this.hashes.length) & m;
      if (d + 1 > worst) worst = d + 1;
    }
    return worst;
  }

  private keyAt(i: number): Float64Array {
    const out = new Float64Array(KEY_WORDS);
    for (let j = 0; j < this.constOffsets.length; j++) out[this.constOffsets[j]] = this.consts[j];
    const base = i * this.cols.length;
    for (let j = 0; j < this.cols.length; j++) out[this.cols[j]] = this.words[base + j];
    return out;
  }

  /** Puts a flow in the first free slot from its home; the caller has made room. */
  private place(key: ArrayLike<number>, h: number, entry: E): void {
    const m = this.capMask;
    let i = h & m;
    while (this.entries[i] !== undefined) i = (i + 1) & m;
    this.hashes[i] = h;
    this.fingerprints[i] = fingerprint(h);
    const n = this.cols.length;
    for (let j = 0; j < n; j++) this.words[i * n + j] = key[this.cols[j]] ?? 0;
    this.entries[i] = entry;
    this.payloads[i] = this.payloadOf(entry);
    entry.slot = i;
  }

  private clearSlot(slot: number): void {
    const hashes = this.hashes;
    const m = this.capMask;
    const n = this.cols.length;
    let i = slot;
    let j = slot;
    for (;;) {
      j = (j + 1) & m;
      const e = this.entries[j];
      if (e === undefined) break;
      const home = hashes[j] & m;
      // The entry at j may fill the hole at i only if its home slot is not in (i, j] (cyclically).
      const stays = i <= j ? i < home && home <= j : i < home || home <= j;
      if (stays) continue;
      hashes[i] = hashes[j];
      this.fingerprints[i] = this.fingerprints[j];
      this.words.copyWithin(i * n, j * n, j * n + n);
      this.entries[i] = e;
      this.payloads[i] = this.payloads[j];
      e.slot = i;
      i = j;
    }
    hashes[i] = 0;
    this.fingerprints[i] = 0;
    this.entries[i] = undefined;
    this.payloads[i] = undefined;
  }

  /**
   * Rebuilds the slot arrays at `capacity` for a (possibly new) layout, re-hashing every flow.
   * `constSource` gives the constant words when the subtable is empty; otherwise they are kept.
   */
  private relayout(cols: Int32Array, constOffsets: Int32Array, constSource: ArrayLike<number> | undefined, capacity: number): void {
    const old = { cols: this.cols, constOffsets: this.constOffsets, consts: this.consts, words: this.words, entries: this.entries };
    const consts = new Float64Array(constOffsets.length);
    for (let j = 0; j < constOffsets.length; j++) {
      const w = constOffsets[j];
      consts[j] = constSource !== undefined ? (constSource[w] ?? 0) : old.consts[old.constOffsets.indexOf(w)];
    }
    // Growing or shrinking keeps the layout (same arrays, constants kept); anything else changes it.
    if (cols !== this.cols || constOffsets !== this.constOffsets || constSource !== undefined) this.shapeVersion++;
    this.cols = cols;
    this.constOffsets = constOffsets;
    this.consts = consts;
    this.code = layoutCode<E>(cols, constOffsets);
    this.capMask = capacity - 1;
    this.fingerprints = new Uint8Array(capacity);
    this.hashes = new Int32Array(capacity);
    this.words = new Float64Array(capacity * cols.length);
    this.entries = new Array<E | undefined>(capacity).fill(undefined);
    this.payloads = new Array<unknown>(capacity).fill(undefined);
    const key = new Float64Array(KEY_WORDS);
    const n = old.cols.length;
    for (let s = 0; s < old.entries.length; s++) {
      const e = old.entries[s];
      if (e === undefined) continue;
      for (let j = 0; j < old.constOffsets.length; j++) key[old.constOffsets[j]] = old.consts[j];
      for (let j = 0; j < n; j++) key[old.cols[j]] = old.words[s * n + j];
      this.place(key, this.code.hash(key), e);
    }
  }

  private addPriority(p: number): void {
    this.priorityCounts.set(p, (this.priorityCounts.get(p) ?? 0) + 1);
    if (this.size === 1 || p > this.maxPriority) this.maxPriority = p;
    this.uniformPriority = this.priorityCounts.size === 1;
  }

  private removePriority(p: number): void {
    const c = (this.priorityCounts.get(p) ?? 0) - 1;
    if (c > 0) {
      this.priorityCounts.set(p, c);
      return;
    }
    this.priorityCounts.delete(p);
    this.uniformPriority = this.priorityCounts.size <= 1;
    if (p !== this.maxPriority) return;
    let max = 0;
    let first = true;
    for (const q of this.priorityCounts.keys()) {
      if (first || q > max) max = q;
      first = false;
    }
    this.maxPriority = max;
  }
}

function capacityFor(n: number): number {
  let c = MIN_CAPACITY;
  while (c < n) c *= 2;
  return c;
}
