// Early notice of lost sessions. gobgpd tells a watcher of a session's end only after the watcher
// has been sent a withdrawal for every path of that peer, one event per path (100k events for a
// full table, seconds behind). A second, peer-only watch hears of it as soon as gobgpd has dropped
// the routes; this tracker compares the Established→down transitions seen on both streams so that
// the importer can withdraw at once and ignore that peer's stale paths still queued on the table
// stream until the table stream reaches the same transition. Pure. DESIGN: BGP (import).

interface StreamView {
  established: boolean;
  downs: number;
}

export class SessionLossTracker {
  private readonly early = new Map<string, StreamView>();
  private readonly inOrder = new Map<string, StreamView>();
  private suppressedCount = 0;

  /** A state seen on the peer-only stream; true when it is a session loss the table stream has not reached yet. */
  onEarly(address: string, established: boolean): boolean {
    const lost = transition(this.early, address, established);
    if (!lost) return false;
    this.recount();
    return this.isSuppressed(address);
  }

  /** A state seen on the table stream (in order with the paths). */
  onInOrder(address: string, established: boolean): void {
    transition(this.inOrder, address, established);
    this.recount();
  }

  /** Paths of this peer on the table stream predate a loss already acted on. */
  isSuppressed(address: string): boolean {
    return (this.early.get(address)?.downs ?? 0) > (this.inOrder.get(address)?.downs ?? 0);
  }

  get anySuppressed(): boolean {
    return this.suppressedCount > 0;
  }

  /** New watches: both streams start over. */
  reset(): void {
    this.early.clear();
    this.inOrder.clear();
    this.suppressedCount = 0;
  }

  private recount(): void {
    let n = 0;
    for (const address of this.early.keys()) if (this.isSuppressed(address)) n++;
    this.suppressedCount = n;
  }
}

/** Records a state; true when it ends an Established session. */
function transition(views: Map<string, StreamView>, address: string, established: boolean): boolean {
  const v = views.get(address);
  if (v === undefined) {
    views.set(address, { established, downs: 0 });
    return false;
  }
  const lost = v.established && !established;
  if (lost) v.downs++;
  v.established = established;
  return lost;
}
