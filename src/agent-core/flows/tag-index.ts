// Tag → flows index: a topology or table change names a tag and removes exactly the flows that
// depend on it (DESIGN: Flows — tags naming what a flow depends on).

/**
 * An item, its tags and, per tag, its place in that tag's list (-1: not in it — a repeat of an
 * earlier tag, or removed). The first occurrence of a tag in `tags` is the one that counts.
 */
interface Entry<T> {
  readonly item: T;
  /** The caller's array until a later add or a partial remove needs a copy of its own. */
  tags: readonly string[];
  readonly pos: number[];
  ownTags: boolean;
  live: number;
}

/**
 * Most tags name one flow only (a conntrack or NAT key), so a tag maps to the flow's entry itself
 * until a second flow carries it, and only then to a list. A tag that many flows share (a device,
 * a route) keeps a plain array: adding appends, removing moves the last entry into the hole, each
 * entry remembering its places. No hash set of flows per tag: their growth dominated installs.
 * Items must be objects; adding an item again adds the tags it lacked.
 */
export class TagIndex<T extends object> {
  private readonly byTag = new Map<string, Entry<T> | Entry<T>[]>();
  private readonly entries = new Map<T, Entry<T>>();

  /** Number of distinct tags with at least one flow. */
  get size(): number {
    return this.byTag.size;
  }

  add(item: T, tags: readonly string[]): void {
    const old = this.entries.get(item);
    if (old !== undefined) {
      this.addMore(old, tags);
      return;
    }
    const e: Entry<T> = { item, tags, pos: new Array<number>(tags.length), ownTags: false, live: 0 };
    this.entries.set(item, e);
    for (let j = 0; j < tags.length; j++) e.pos[j] = this.insert(e, tags[j]!);
  }

  remove(item: T, tags: readonly string[]): void {
    const e = this.entries.get(item);
    if (e === undefined) return;
    if (tags === e.tags) {
      for (let j = 0; j < e.tags.length; j++) if (e.pos[j]! >= 0) this.detach(e, j);
    } else {
      for (const tag of tags) {
        const j = e.tags.indexOf(tag);
        if (j >= 0 && e.pos[j]! >= 0) this.detach(e, j);
      }
    }
    if (e.live === 0) this.entries.delete(item);
  }

  /** The items carrying the tag (a copy; the index is unchanged). */
  get(tag: string): T[] {
    const cur = this.byTag.get(tag);
    if (cur === undefined) return [];
    if (!Array.isArray(cur)) return [cur.item];
    const out = new Array<T>(cur.length);
    for (let i = 0; i < cur.length; i++) out[i] = cur[i]!.item;
    return out;
  }

  has(tag: string): boolean {
    return this.byTag.has(tag);
  }

  tags(): IterableIterator<string> {
    return this.byTag.keys();
  }

  /** Puts the entry in the tag's list; returns its place there, or -1 when it is there already. */
  private insert(e: Entry<T>, tag: string): number {
    const cur = this.byTag.get(tag);
    if (cur === undefined) {
      this.byTag.set(tag, e);
      e.live++;
      return 0;
    }
    if (cur === e) return -1;
    if (Array.isArray(cur)) {
      // Between two inserts of one entry nothing else joins a list: the entry last in it came from a repeated tag.
      if (cur[cur.length - 1] === e) return -1;
      cur.push(e);
      e.live++;
      return cur.length - 1;
    }
    cur.pos[placeOf(cur, tag)] = 0;
    this.byTag.set(tag, [cur, e]);
    e.live++;
    return 1;
  }

  private addMore(e: Entry<T>, tags: readonly string[]): void {
    for (const tag of tags) {
      const j = e.tags.indexOf(tag);
      if (j >= 0) {
        // The first occurrence is the one listed: -1 there means not in the tag's list now.
        if (e.pos[j]! < 0) e.pos[j] = this.insert(e, tag);
        continue;
      }
      if (!e.ownTags) {
        e.tags = [...e.tags];
        e.ownTags = true;
      }
      (e.tags as string[]).push(tag);
      e.pos.push(this.insert(e, tag));
    }
  }

  /** Takes the entry out of the list of its j-th tag (moving the last one into its place). */
  private detach(e: Entry<T>, j: number): void {
    const at = e.pos[j]!;
    const tag = e.tags[j]!;
    e.pos[j] = -1;
    e.live--;
    const cur = this.byTag.get(tag);
    if (cur === undefined) return;
    if (!Array.isArray(cur)) {
      if (cur === e) this.byTag.delete(tag);
      return;
    }
    const last = cur.pop()!;
    if (last !== e) {
      cur[at] = last;
      last.pos[placeOf(last, tag)] = at;
    }
    if (cur.length === 1) {
      const only = cur[0]!;
      only.pos[placeOf(only, tag)] = 0;
      this.byTag.set(tag, only);
    } else if (cur.length === 0) this.byTag.delete(tag);
  }
}

/** The entry's place for a tag it is listed under: the tag's first occurrence in its tags. */
function placeOf<T>(e: Entry<T>, tag: string): number {
  const j = e.tags.indexOf(tag);
  if (j < 0) throw new Error(`tag index out of step: ${tag} is not among the entry's tags`);
  return j;
}
