// The naive flow table: every operation scans every flow. It is the oracle the megaflow table is
// tested against and the baseline its benchmark reports a ratio to (DESIGN: Flows; STYLE: 12).
import { type FieldMask } from '../packet/flow-match.js';
import { byFlowId, FlowTableBase } from './flow-table-base.js';
import { FULL_MASK, maskFieldCount, maskFieldNames, maskKey, maskWordOffsets, outranks } from './mask.js';
import {
  type Flow,
  type FlowTable,
  type FlowTimeouts,
  type MaskStats,
  flowDeadline,
  normalisePriority,
  normaliseTimeout,
} from './types.js';

class LinearEntry<A> implements Flow<A> {
  readonly id: number;
  readonly mask: FieldMask;
  readonly fieldCount: number;
  readonly offsets: Int32Array;
  /** Full-width key, zero outside the mask. */
  readonly words: Float64Array;
  readonly actions: A;
  readonly tags: readonly string[];
  readonly priority: number;
  readonly idleMs: number;
  readonly hardMs: number;
  readonly createdAt: number;
  packets = 0;
  bytes = 0;
  lastUsed: number;
  live = true;
  /** Position in the table's array while live. */
  index = -1;

  constructor(
    id: number,
    key: Float64Array,
    mask: FieldMask,
    offsets: Int32Array,
    actions: A,
    tags: readonly string[],
    opts: FlowTimeouts,
    now: number,
  ) {
    this.id = id;
    this.mask = mask;
    this.fieldCount = maskFieldCount(mask);
    this.offsets = offsets;
    this.words = maskKey(key, mask);
    this.actions = actions;
    this.tags = tags;
    this.priority = normalisePriority(opts.priority);
    this.idleMs = normaliseTimeout(opts.idleMs);
    this.hardMs = normaliseTimeout(opts.hardMs);
    this.createdAt = now;
    this.lastUsed = now;
  }

  /** The mask and masked words as text: identical matches, identical ids. */
  get matchId(): string {
    let s = String(this.mask);
    for (let j = 0; j < this.offsets.length; j++) {
      const v = this.words[this.offsets[j]];
      // NaN equals nothing, not even itself: such a match is never identical to another.
      if (Number.isNaN(v)) return `nan:${this.id}`;
      s += ',' + String(v);
    }
    return s;
  }

  key(): Float64Array {
    return Float64Array.from(this.words);
  }

  matches(key: Float64Array): boolean {
    const offs = this.offsets;
    for (let j = 0; j < offs.length; j++) if (this.words[offs[j]] !== key[offs[j]]) return false;
    return true;
  }
}

export class LinearFlowTable<A> extends FlowTableBase<A, LinearEntry<A>> implements FlowTable<A> {
  private readonly entries: LinearEntry<A>[] = [];
  private readonly hitsByMask = new Map<FieldMask, number>();
  private readonly offsetsByMask = new Map<FieldMask, Int32Array>();
  /** Finds the flow an identical install replaces; lookups never use it (they scan). */
  private readonly byMatch = new Map<string, LinearEntry<A>>();
  private nextId = 1;

  get size(): number {
    return this.entries.length;
  }

  get masks(): number {
    return new Set(this.entries.map((e) => e.mask)).size;
  }

  install(key: Float64Array, mask: FieldMask, actions: A, tags: readonly string[], opts: FlowTimeouts, now: number): Flow<A> {
    const m = mask & FULL_MASK;
    let offsets = this.offsetsByMask.get(m);
    if (offsets === undefined) {
      offsets = maskWordOffsets(m);
      this.offsetsByMask.set(m, offsets);
    }
    const entry = new LinearEntry<A>(this.nextId++, key, m, offsets, actions, [...new Set(tags)], opts, now);
    const same = this.byMatch.get(entry.matchId);
    if (same !== undefined) {
      this.removeEntry(same);
      this.replaceCount++;
    }
    entry.index = this.entries.length;
    this.entries.push(entry);
    this.byMatch.set(entry.matchId, entry);
    this.installCount++;
    return entry;
  }

  lookupActions(key: Float64Array): A | undefined {
    return this.lookup(key)?.actions;
  }

  lookup(key: Float64Array): Flow<A> | undefined {
    let best: LinearEntry<A> | undefined;
    for (const e of this.entries) {
      if (!e.matches(key)) continue;
      if (best === undefined || outranks(e.priority, e.fieldCount, e.mask, best.priority, best.fieldCount, best.mask)) best = e;
    }
    this.lookupCount++;
    if (best !== undefined) {
      this.hitCount++;
      this.hitsByMask.set(best.mask, (this.hitsByMask.get(best.mask) ?? 0) + 1);
    }
    return best;
  }

  invalidateTag(tag: string): Flow<A>[] {
    return this.invalidateTags([tag]);
  }

  invalidateTags(tags: Iterable<string>): Flow<A>[] {
    const wanted = new Set(tags);
    const victims = this.entries.filter((e) => e.tags.some((t) => wanted.has(t)));
    for (const e of victims) this.removeEntry(e);
    this.invalidateCount += victims.length;
    return victims.sort(byFlowId);
  }

  expire(now: number): Flow<A>[] {
    const victims = this.entries.filter((e) => flowDeadline(e.createdAt, e.lastUsed, e.idleMs, e.hardMs) <= now);
    for (const e of victims) this.removeEntry(e);
    this.expireCount += victims.length;
    return victims.sort(byFlowId);
  }

  maskStats(): MaskStats[] {
    const flows = new Map<FieldMask, number>();
    for (const e of this.entries) flows.set(e.mask, (flows.get(e.mask) ?? 0) + 1);
    return [...flows].map(([mask, n]) => ({ mask, fields: maskFieldNames(mask), flows: n, hits: this.hitsByMask.get(mask) ?? 0 }));
  }

  *[Symbol.iterator](): Iterator<Flow<A>> {
    for (const e of [...this.entries]) if (e.live) yield e;
  }

  protected own(flow: Flow<A>): LinearEntry<A> | undefined {
    if (!(flow instanceof LinearEntry)) return undefined;
    const e = flow as LinearEntry<A>;
    return e.live && this.entries[e.index] === e ? e : undefined;
  }

  protected removeEntry(e: LinearEntry<A>): void {
    this.byMatch.delete(e.matchId);
    const last = this.entries.pop() as LinearEntry<A>;
    if (last !== e) {
      this.entries[e.index] = last;
      last.index = e.index;
    }
    e.live = false;
    e.index = -1;
  }
}
