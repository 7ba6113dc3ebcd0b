// Bookkeeping every flow table keeps alike, whatever its lookup: the operation counters behind
// stats(), and hit/delete through the table's own ownership check (DESIGN: Flows — statistics).
import type { Flow, FlowTable, FlowTableStats } from './types.js';

/** The mutable side of an entry that hit() updates. */
export interface CountedFlow {
  packets: number;
  bytes: number;
  lastUsed: number;
}

/**
 * The counters are plain fields of the table (no object in between), so the lookup paths that bump
 * them stay as they were; subclasses own lookup, install, invalidation and expiry.
 */
export abstract class FlowTableBase<A, E extends Flow<A> & CountedFlow> implements Pick<FlowTable<A>, 'hit' | 'delete' | 'stats'> {
  protected lookupCount = 0;
  protected hitCount = 0;
  protected installCount = 0;
  protected replaceCount = 0;
  protected deleteCount = 0;
  protected invalidateCount = 0;
  protected expireCount = 0;

  abstract readonly size: number;
  abstract readonly masks: number;
  /** The flow as this table's live entry; undefined for another table's flow or a removed one. */
  protected abstract own(flow: Flow<A>): E | undefined;
  /** Takes a live entry out of every index of the table. */
  protected abstract removeEntry(e: E): void;

  hit(flow: Flow<A>, packets: number, bytes: number, now: number): boolean {
    const e = this.own(flow);
    if (e === undefined) return false;
    e.packets += packets;
    e.bytes += bytes;
    if (now > e.lastUsed) e.lastUsed = now;
    return true;
  }

  delete(flow: Flow<A>): boolean {
    const e = this.own(flow);
    if (e === undefined) return false;
    this.removeEntry(e);
    this.deleteCount++;
    return true;
  }

  stats(): FlowTableStats {
    return {
      flows: this.size,
      masks: this.masks,
      lookups: this.lookupCount,
      hits: this.hitCount,
      misses: this.lookupCount - this.hitCount,
      installs: this.installCount,
      replacements: this.replaceCount,
      deletions: this.deleteCount,
      invalidations: this.invalidateCount,
      expirations: this.expireCount,
    };
  }
}

/** Ascending id order, the order every removal API returns flows in. */
export function byFlowId(a: { readonly id: number }, b: { readonly id: number }): number {
  return a.id - b.id;
}
