// The flow table contract shared by the megaflow table and its linear-scan reference
// (DESIGN: Flows — megaflows with tags for invalidation and idle/hard expiry).
import type { FieldMask } from '../packet/flow-match.js';

/** How long a flow lives. A timeout of 0 (or any non-positive or non-finite value) means none. */
export interface FlowTimeouts {
  /** Removed once idle for this long since its last hit (or its install). */
  readonly idleMs: number;
  /** Removed this long after install, however busy. */
  readonly hardMs: number;
  /** Among flows matching one key, the highest priority wins; default 0. */
  readonly priority?: number;
}

/** One installed flow. Counters change through the table's `hit`; the rest is fixed at install. */
export interface Flow<A> {
  readonly id: number;
  readonly mask: FieldMask;
  readonly actions: A;
  readonly tags: readonly string[];
  readonly priority: number;
  readonly packets: number;
  readonly bytes: number;
  readonly createdAt: number;
  readonly lastUsed: number;
  readonly idleMs: number;
  readonly hardMs: number;
  /** False once the flow was deleted, replaced, invalidated or expired. */
  readonly live: boolean;
  /** The flow's match as a KEY_WORDS key, zero outside the mask (a fresh copy: not for the hot path). */
  key(): Float64Array;
}

export interface FlowTableStats {
  readonly flows: number;
  readonly masks: number;
  readonly lookups: number;
  readonly hits: number;
  readonly misses: number;
  readonly installs: number;
  /** Flows removed because an identical match was installed over them. */
  readonly replacements: number;
  readonly deletions: number;
  readonly invalidations: number;
  readonly expirations: number;
}

/** Per-mask occupancy and lookup hits, for the REST API and the dashboard. */
export interface MaskStats {
  readonly mask: FieldMask;
  readonly fields: readonly string[];
  readonly flows: number;
  readonly hits: number;
}

/**
 * What every flow table offers. Among several flows matching a key, lookup returns the one with
 * the highest priority, then the most fields in its mask, then the lowest mask value: a total
 * order, since one mask holds at most one flow per masked key.
 */
export interface FlowTable<A> extends Iterable<Flow<A>> {
  install(key: Float64Array, mask: FieldMask, actions: A, tags: readonly string[], opts: FlowTimeouts, now: number): Flow<A>;
  lookup(key: Float64Array): Flow<A> | undefined;
  /** `lookup(key)?.actions`; a table may answer it without reading the flow itself (the fast path's call). */
  lookupActions(key: Float64Array): A | undefined;
  /** Adds to the flow's counters and moves its idle deadline; false if the flow is not in this table. */
  hit(flow: Flow<A>, packets: number, bytes: number, now: number): boolean;
  delete(flow: Flow<A>): boolean;
  /** Removes every flow carrying the tag; returns them in ascending id order. */
  invalidateTag(tag: string): Flow<A>[];
  /** Removes every flow carrying any of the tags; each once, in ascending id order. */
  invalidateTags(tags: Iterable<string>): Flow<A>[];
  /** Removes every flow whose hard or idle deadline is at or before `now`; ascending id order. */
  expire(now: number): Flow<A>[];
  readonly size: number;
  /** Number of distinct masks among installed flows. */
  readonly masks: number;
  stats(): FlowTableStats;
  maskStats(): MaskStats[];
}

/** Clamps a timeout to the table's convention: 0 = none. */
export function normaliseTimeout(ms: number): number {
  return Number.isFinite(ms) && ms > 0 ? ms : 0;
}

export function normalisePriority(p: number | undefined): number {
  return p !== undefined && Number.isFinite(p) ? p : 0;
}

/** Earliest time the flow may be removed, from its current lastUsed; Infinity if never. */
export function flowDeadline(createdAt: number, lastUsed: number, idleMs: number, hardMs: number): number {
  const hard = hardMs > 0 ? createdAt + hardMs : Infinity;
  const idle = idleMs > 0 ? lastUsed + idleMs : Infinity;
  return hard < idle ? hard : idle;
}
