// Deadlines of flows, earliest first: an indexed binary min-heap, so expiry costs O(log n) per
// flow that is due instead of a scan of the table (DESIGN: Flows — expiry).

/** What the heap needs of an item: its key and a slot to remember its position (-1 = absent). */
export interface HeapItem {
  deadline: number;
  heapPos: number;
}

export class ExpiryHeap<T extends HeapItem> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T, deadline: number): void {
    item.deadline = deadline;
    item.heapPos = this.items.length;
    this.items.push(item);
    this.siftUp(item.heapPos);
  }

  remove(item: T): boolean {
    const pos = item.heapPos;
    if (pos < 0 || this.items[pos] !== item) return false;
    const last = this.items.pop() as T;
    item.heapPos = -1;
    if (last !== item) {
      this.items[pos] = last;
      last.heapPos = pos;
      this.siftDown(pos);
      this.siftUp(last.heapPos);
    }
    return true;
  }

  /** Moves an item already in the heap to a new deadline (earlier or later). */
  update(item: T, deadline: number): void {
    if (item.heapPos < 0 || this.items[item.heapPos] !== item) return;
    const older = item.deadline;
    item.deadline = deadline;
    if (deadline < older) this.siftUp(item.heapPos);
    else this.siftDown(item.heapPos);
  }

  private siftUp(pos: number): void {
    const items = this.items;
    const item = items[pos];
    while (pos > 0) {
      const parent = (pos - 1) >> 1;
      const p = items[parent];
      if (p.deadline <= item.deadline) break;
      items[pos] = p;
      p.heapPos = pos;
      pos = parent;
    }
    items[pos] = item;
    item.heapPos = pos;
  }

  private siftDown(pos: number): void {
    const items = this.items;
    const n = items.length;
    const item = items[pos];
    for (;;) {
      const l = 2 * pos + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && items[r].deadline < items[l].deadline ? r : l;
      if (items[c].deadline >= item.deadline) break;
      items[pos] = items[c];
      items[pos].heapPos = pos;
      pos = c;
    }
    items[pos] = item;
    item.heapPos = pos;
  }
}
