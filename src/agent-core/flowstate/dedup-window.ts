// Bounded memory of the (sender, session, sequence number) triples already imported, so that a
// retransmission whose ACK was lost is acknowledged again but not imported twice (DESIGN: Flow state).

interface SenderWindow {
  readonly seen: Set<number>;
  /** The same numbers in arrival order, a ring: the oldest is forgotten when the window is full. */
  readonly ring: number[];
  next: number;
}

export class DedupWindow {
  /** Windows by "<sender>\0<epoch>", least recently used first (Map order). */
  private readonly windows = new Map<string, SenderWindow>();

  constructor(
    private readonly perSender = 1024,
    private readonly maxSenders = 1024,
  ) {}

  /**
   * Records the message and says whether it was already recorded. A number pushed out of the window
   * counts as new again: importing the same state twice only refreshes it.
   */
  checkAndRecord(sender: string, epoch: number, seq: number): boolean {
    const key = `${sender}\0${epoch}`;
    let w = this.windows.get(key);
    if (w !== undefined) {
      this.windows.delete(key);
      this.windows.set(key, w);
      if (w.seen.has(seq)) return true;
    } else {
      if (this.windows.size >= this.maxSenders) {
        const oldest = this.windows.keys().next();
        if (oldest.done !== true) this.windows.delete(oldest.value);
      }
      w = { seen: new Set(), ring: [], next: 0 };
      this.windows.set(key, w);
    }
    if (w.ring.length < this.perSender) {
      w.ring.push(seq);
    } else {
      w.seen.delete(w.ring[w.next]);
      w.ring[w.next] = seq;
      w.next = (w.next + 1) % this.perSender;
    }
    w.seen.add(seq);
    return false;
  }

  get senders(): number {
    return this.windows.size;
  }
}
