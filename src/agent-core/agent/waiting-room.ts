// The bounded waiting room for packets whose simulation answered NotYet (DESIGN: The packet's way,
// step 5): parked by what they wait for, released when it arrives, dropped when they wait too long
// or the room is full. No timers here: the agent calls expire() on its own clock.

export interface WaitingRoomOptions {
  /** Packets parked at most, over all keys. Default 1024. */
  readonly capacity?: number;
  /** Packets parked at most for one missing thing. Default 64. */
  readonly perKey?: number;
  /** How long a packet may wait. Default 3000 ms. */
  readonly timeoutMs?: number;
}

export interface WaitingRoomCounters {
  parked: number;
  released: number;
  /** Refused because the room, or the key's share of it, was full. */
  overflowDropped: number;
  timedOut: number;
}

interface Parked<T> {
  readonly item: T;
  readonly deadline: number;
}

export class WaitingRoom<T> {
  readonly counters: WaitingRoomCounters = { parked: 0, released: 0, overflowDropped: 0, timedOut: 0 };
  private readonly byKey = new Map<string, Parked<T>[]>();
  private size = 0;
  private readonly capacity: number;
  private readonly perKey: number;
  private readonly timeoutMs: number;

  constructor(options: WaitingRoomOptions = {}) {
    this.capacity = options.capacity ?? 1024;
    this.perKey = options.perKey ?? 64;
    this.timeoutMs = options.timeoutMs ?? 3000;
  }

  get length(): number {
    return this.size;
  }

  /** Keys something waits for now. */
  keys(): string[] {
    return [...this.byKey.keys()];
  }

  /**
   * Parks the item under every key it waits for (released by the first to arrive). Returns false
   * (and counts a drop) when the room or a key's share is full.
   */
  park(keys: readonly string[], item: T, now: number): boolean {
    const key = keys[0];
    if (key === undefined) return false;
    const list = this.byKey.get(key);
    if (this.size >= this.capacity || (list !== undefined && list.length >= this.perKey)) {
      this.counters.overflowDropped++;
      return false;
    }
    const p: Parked<T> = { item, deadline: now + this.timeoutMs };
    // One entry, indexed under its first key; the others alias it so any of them releases it.
    for (const k of keys) {
      const l = this.byKey.get(k);
      if (l === undefined) this.byKey.set(k, [p]);
      else if (!l.includes(p)) l.push(p);
    }
    this.size++;
    this.counters.parked++;
    return true;
  }

  /** Takes every item waiting for the key (in arrival order). */
  release(key: string): T[] {
    const list = this.byKey.get(key);
    if (list === undefined) return [];
    this.byKey.delete(key);
    const out: T[] = [];
    for (const p of list) {
      if (!this.removeEverywhere(p)) continue;
      out.push(p.item);
    }
    this.counters.released += out.length;
    return out;
  }

  /** Drops items past their deadline; returns them. */
  expire(now: number): T[] {
    const gone: T[] = [];
    for (const list of [...this.byKey.values()]) {
      for (const p of [...list]) {
        if (p.deadline <= now && this.removeEverywhere(p)) gone.push(p.item);
      }
    }
    this.counters.timedOut += gone.length;
    return gone;
  }

  private readonly removed = new WeakSet<Parked<T>>();

  /** Removes the entry from every key's list; false if it was already gone. */
  private removeEverywhere(p: Parked<T>): boolean {
    if (this.removed.has(p)) return false;
    this.removed.add(p);
    for (const [k, l] of this.byKey) {
      const i = l.indexOf(p);
      if (i < 0) continue;
      l.splice(i, 1);
      if (l.length === 0) this.byKey.delete(k);
    }
    this.size--;
    return true;
  }
}
