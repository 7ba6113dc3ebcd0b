// Tag → flows index: a topology or table change names a tag and removes exactly the flows that
// depend on it (DESIGN: Flows — tags naming what a flow depends on).

/**
 * Most tags name one flow only (a conntrack or NAT key), so a tag maps to the flow itself until
 * a second flow carries it, and only then to a Set: a million flows need not cost a million Sets.
 * Items must be objects other than Sets.
 */
export class TagIndex<T extends object> {
  private readonly byTag = new Map<string, T | Set<T>>();

  /** Number of distinct tags with at least one flow. */
  get size(): number {
    return this.byTag.size;
  }

  add(item: T, tags: readonly string[]): void {
    for (const tag of tags) {
      const cur = this.byTag.get(tag);
      if (cur === undefined) this.byTag.set(tag, item);
      else if (cur instanceof Set) cur.add(item);
      else if (cur !== item) this.byTag.set(tag, new Set<T>([cur, item]));
    }
  }

  remove(item: T, tags: readonly string[]): void {
    for (const tag of tags) {
      const cur = this.byTag.get(tag);
      if (cur === undefined) continue;
      if (!(cur instanceof Set)) {
        if (cur === item) this.byTag.delete(tag);
        continue;
      }
      cur.delete(item);
      if (cur.size === 1) this.byTag.set(tag, cur.values().next().value as T);
      else if (cur.size === 0) this.byTag.delete(tag);
    }
  }

  /** The items carrying the tag (a copy; the index is unchanged). */
  get(tag: string): T[] {
    const cur = this.byTag.get(tag);
    if (cur === undefined) return [];
    return cur instanceof Set ? [...cur] : [cur];
  }

  has(tag: string): boolean {
    return this.byTag.has(tag);
  }

  tags(): IterableIterator<string> {
    return this.byTag.keys();
  }
}
