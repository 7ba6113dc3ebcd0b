// The megaflow table: tuple-space search over one hash table per distinct mask, a tag index for
// invalidation and a deadline heap for idle/hard expiry (DESIGN: Flows). Pure: `now` is passed in.
import { KEY_WORDS, type FieldMask } from '../packet/flow-match.js';
import { ExpiryHeap, type HeapItem } from './expiry-heap.js';
import { byFlowId, FlowTableBase } from './flow-table-base.js';
import { FULL_MASK, maskFieldNames, outranks } from './mask.js';
import { Subtable } from './subtable.js';
import { MAX_GENERATED_SUBTABLES, type TableCode, tableCode } from './table-code.js';
import { TagIndex } from './tag-index.js';
import {
  type Flow,
  type FlowTable,
  type FlowTimeouts,
  type MaskStats,
  flowDeadline,
  normalisePriority,
  normaliseTimeout,
} from './types.js';

class MegaflowEntry<A> implements Flow<A>, HeapItem {
  readonly id: number;
  readonly mask: FieldMask;
  readonly actions: A;
  readonly tags: readonly string[];
  readonly priority: number;
  readonly idleMs: number;
  readonly hardMs: number;
  readonly createdAt: number;
  /** The table that installed it (hit and delete ignore other tables' flows). */
  readonly owner: object;
  /** Its slot in the subtable while live (kept up to date by the subtable). */
  slot = -1;
  packets = 0;
  bytes = 0;
  lastUsed: number;
  deadline = Infinity;
  heapPos = -1;
  /** The subtable holding the flow while it is live. */
  sub: Subtable<MegaflowEntry<A>> | undefined;
  /** The match, kept once the flow has left its subtable. */
  detached: Float64Array | undefined;

  constructor(
    owner: object,
    id: number,
    sub: Subtable<MegaflowEntry<A>>,
    actions: A,
    tags: readonly string[],
    opts: FlowTimeouts,
    now: number,
  ) {
    this.owner = owner;
    this.id = id;
    this.mask = sub.mask;
    this.sub = sub;
    this.actions = actions;
    this.tags = tags;
    this.priority = normalisePriority(opts.priority);
    this.idleMs = normaliseTimeout(opts.idleMs);
    this.hardMs = normaliseTimeout(opts.hardMs);
    this.createdAt = now;
    this.lastUsed = now;
  }

  get live(): boolean {
    return this.sub !== undefined;
  }

  key(): Float64Array {
    if (this.sub !== undefined) return this.sub.keyOf(this);
    return this.detached !== undefined ? Float64Array.from(this.detached) : new Float64Array(KEY_WORDS);
  }
}

/**
 * Flows keyed by the fields their simulation read. A lookup probes the subtables in rank order
 * (highest priority, then most fields, then lowest mask) and stops as soon as no later subtable
 * can hold a better flow: with uniform priorities the first hit is the answer.
 */
export class MegaflowTable<A> extends FlowTableBase<A, MegaflowEntry<A>> implements FlowTable<A> {
  private readonly byMask = new Map<FieldMask, Subtable<MegaflowEntry<A>>>();
  /** Subtables in rank order of (maxPriority, fieldCount, -mask), descending. */
  private ordered: Subtable<MegaflowEntry<A>>[] = [];
  private readonly tagIndex = new TagIndex<MegaflowEntry<A>>();
  private readonly deadlines = new ExpiryHeap<MegaflowEntry<A>>();
  private nextId = 1;
  private flowCount = 0;
  /**
   * Lookup code generated for the current subtables (table-code.ts), while every subtable holds
   * flows of one priority; `fastCurrent` says whether it reflects the current subtables.
   */
  private fast: TableCode<MegaflowEntry<A>> | undefined;
  private fastCurrent = false;

  get size(): number {
    return this.flowCount;
  }

  get masks(): number {
    return this.byMask.size;
  }

  install(key: Float64Array, mask: FieldMask, actions: A, tags: readonly string[], opts: FlowTimeouts, now: number): Flow<A> {
    const m = mask & FULL_MASK;
    let sub = this.byMask.get(m);
    if (sub !== undefined) {
      const old = sub.lookup(key);
      if (old !== undefined) {
        this.removeEntry(old);
        this.replaceCount++;
        sub = this.byMask.get(m);
      }
    }
    let reorder = false;
    if (sub === undefined) {
      sub = new Subtable<MegaflowEntry<A>>(m, (e) => e.actions);
      this.byMask.set(m, sub);
      this.ordered.push(sub);
      reorder = true;
    }
    const entry = new MegaflowEntry<A>(this, this.nextId++, sub, actions, [...new Set(tags)], opts, now);
    const before = shapeOf(sub);
    sub.insert(key, entry, entry.priority);
    if (reorder || sub.maxPriority !== before.maxPriority) this.sortSubtables();
    else if (shapeChanged(sub, before)) this.fastCurrent = false;
    this.tagIndex.add(entry, entry.tags);
    const deadline = flowDeadline(entry.createdAt, entry.lastUsed, entry.idleMs, entry.hardMs);
    if (deadline !== Infinity) this.deadlines.push(entry, deadline);
    this.flowCount++;
    this.installCount++;
    return entry;
  }

  lookup(key: Float64Array): Flow<A> | undefined {
    const fast = this.fastCurrent ? this.fast : this.refreshFast();
    if (fast === undefined) return this.lookupGeneric(key);
    this.lookupCount++;
    const f = fast.lookup(key);
    if (f !== undefined) this.hitCount++;
    return f;
  }

  /**
   * The actions of the flow `lookup(key)` would return, read from the flow's slot rather than from
   * the flow: the datapath's hot path (one dependent cache miss fewer per hit at large tables).
   */
  lookupActions(key: Float64Array): A | undefined {
    const fast = this.fastCurrent ? this.fast : this.refreshFast();
    if (fast === undefined) return this.lookupGeneric(key)?.actions;
    this.lookupCount++;
    const a = fast.lookupPayload(key) as A | undefined;
    if (a !== undefined) this.hitCount++;
    return a;
  }

  /** Rank-order search for tables with several priorities in one subtable. */
  private lookupGeneric(key: Float64Array): Flow<A> | undefined {
    const subs = this.ordered;
    let best: MegaflowEntry<A> | undefined;
    let bestSub: Subtable<MegaflowEntry<A>> | undefined;
    let bestPriority = 0;
    for (let i = 0; i < subs.length; i++) {
      const sub = subs[i];
      if (
        bestSub !== undefined &&
        !outranks(sub.maxPriority, sub.fieldCount, sub.mask, bestPriority, bestSub.fieldCount, bestSub.mask)
      ) {
        break;
      }
      const f = sub.lookup(key);
      if (f === undefined) continue;
      const p = sub.uniformPriority ? sub.maxPriority : f.priority;
      if (bestSub === undefined || outranks(p, sub.fieldCount, sub.mask, bestPriority, bestSub.fieldCount, bestSub.mask)) {
        best = f;
        bestSub = sub;
        bestPriority = p;
      }
    }
    this.lookupCount++;
    if (bestSub !== undefined) {
      bestSub.hits++;
      this.hitCount++;
    }
    return best;
  }

  invalidateTag(tag: string): Flow<A>[] {
    const victims = this.tagIndex.get(tag);
    for (const e of victims) this.removeEntry(e);
    this.invalidateCount += victims.length;
    return victims.sort(byFlowId);
  }

  invalidateTags(tags: Iterable<string>): Flow<A>[] {
    const victims = new Set<MegaflowEntry<A>>();
    for (const tag of tags) for (const e of this.tagIndex.get(tag)) victims.add(e);
    for (const e of victims) this.removeEntry(e);
    this.invalidateCount += victims.size;
    return [...victims].sort(byFlowId);
  }

  /**
   * Pops deadlines due by `now`. A hit moves a flow's idle deadline without touching the heap, so
   * a popped flow is re-checked against its lastUsed and pushed back if it was used since.
   */
  expire(now: number): Flow<A>[] {
    const out: MegaflowEntry<A>[] = [];
    for (;;) {
      const top = this.deadlines.peek();
      if (top === undefined || top.deadline > now) break;
      const deadline = flowDeadline(top.createdAt, top.lastUsed, top.idleMs, top.hardMs);
      if (deadline > now) {
        this.deadlines.update(top, deadline);
        continue;
      }
      this.removeEntry(top);
      out.push(top);
    }
    this.expireCount += out.length;
    return out.sort(byFlowId);
  }

  maskStats(): MaskStats[] {
    return this.ordered.map((s) => ({ mask: s.mask, fields: maskFieldNames(s.mask), flows: s.size, hits: s.hits }));
  }

  /** Sizes of the internal indexes: all zero once every flow is gone (tests check for leaks). */
  indexSizes(): { subtables: number; probeOrder: number; tags: number; deadlines: number } {
    return { subtables: this.byMask.size, probeOrder: this.ordered.length, tags: this.tagIndex.size, deadlines: this.deadlines.size };
  }

  /** Whether lookups currently run the code generated for this table (else the generic search). */
  usesGeneratedLookup(): boolean {
    return (this.fastCurrent ? this.fast : this.refreshFast()) !== undefined;
  }

  /** Longest linear-probe run of any subtable (a hash-quality check for tests and benchmarks). */
  maxProbeLength(): number {
    let worst = 0;
    for (const s of this.ordered) worst = Math.max(worst, s.maxProbeLength());
    return worst;
  }

  /** Live flows, mask by mask; safe against deletions made while iterating. */
  *[Symbol.iterator](): Iterator<Flow<A>> {
    for (const sub of [...this.ordered]) {
      for (const e of sub.snapshot()) if (e.live) yield e;
    }
  }

  protected own(flow: Flow<A>): MegaflowEntry<A> | undefined {
    if (!(flow instanceof MegaflowEntry)) return undefined;
    const e = flow as MegaflowEntry<A>;
    return e.owner === this && e.sub !== undefined ? e : undefined;
  }

  protected removeEntry(e: MegaflowEntry<A>): void {
    const sub = e.sub;
    if (sub === undefined) return;
    const before = shapeOf(sub);
    e.detached = sub.remove(e, e.priority);
    e.sub = undefined;
    if (sub.size === 0) {
      this.byMask.delete(sub.mask);
      this.ordered = this.ordered.filter((s) => s !== sub);
      this.fastCurrent = false;
    } else if (sub.maxPriority !== before.maxPriority) {
      this.sortSubtables();
    } else if (shapeChanged(sub, before)) {
      this.fastCurrent = false;
    }
    this.tagIndex.remove(e, e.tags);
    this.deadlines.remove(e);
    this.flowCount--;
  }

  private sortSubtables(): void {
    this.ordered.sort((a, b) => (outranks(a.maxPriority, a.fieldCount, a.mask, b.maxPriority, b.fieldCount, b.mask) ? -1 : 1));
    this.fastCurrent = false;
  }

  /**
   * Generates the code for the current subtables. With one priority per subtable the rank order
   * makes the first hit the answer; otherwise the generic search stays in use.
   */
  private refreshFast(): TableCode<MegaflowEntry<A>> | undefined {
    this.fastCurrent = true;
    const subs = this.ordered;
    const usable = subs.length > 0 && subs.length <= MAX_GENERATED_SUBTABLES && subs.every((s) => s.uniformPriority);
    this.fast = usable ? tableCode([...subs]) : undefined;
    return this.fast;
  }
}

interface SubtableShapeSnapshot {
  readonly maxPriority: number;
  readonly uniformPriority: boolean;
  readonly shapeVersion: number;
}

function shapeOf(sub: SubtableShapeSnapshot): SubtableShapeSnapshot {
  return { maxPriority: sub.maxPriority, uniformPriority: sub.uniformPriority, shapeVersion: sub.shapeVersion };
}

/** Whether the generated code no longer fits the subtable (its layout or its priority mix changed). */
function shapeChanged(sub: SubtableShapeSnapshot, before: SubtableShapeSnapshot): boolean {
  return sub.shapeVersion !== before.shapeVersion || sub.uniformPriority !== before.uniformPriority;
}
