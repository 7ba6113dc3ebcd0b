// Route import: watches gobgpd's best paths (all equal-cost ones with multipath) and peer states,
// turns them into learned routes of the provider router through the LearnedRouteTable, and writes
// the changes to the store in coalesced batches (one write in flight, the next one collecting).
// Withdraws a peer's routes when its session leaves Established, learning of it on a second,
// peer-only watch before the per-path withdrawals arrive (SessionLossTracker). DESIGN: BGP (import).
//
// Coalescing: the store spreads routes over batch znodes by hash, so a write of a few hundred new
// routes rewrites nearly every batch. While a table streams in, writing per event would rewrite the
// whole table dozens of times (and a 512 MB ZooKeeper ran out of heap doing so), and every agent
// would re-read it each time. Changes are written once the events pause for `quietMs`; while they
// keep coming, writes are spaced by `maxDelayMs` and at least `writeSpacing` times the last write's
// duration, so that writing (and ZooKeeper's and every reader's share of it) takes a bounded part
// of the time whatever the table size: a 100k table loads in a handful of writes.
import type { Logger } from 'pino';
import { storeLogger, type LearnedRoute } from '../agent-core/store/index.js';
import type { ApiPeer } from './gobgp-api-types.js';
import type { GobgpClient, GobgpWatchEvent, Watch } from './gobgp-client.js';
import { LearnedRouteTable, newDelta, routeKeyOf, type ImportDelta, type ImportPeer, type LimitCrossing, type PeerImportCounts } from './learned-route-table.js';
import { SessionLossTracker } from './session-loss-tracker.js';

/**
 * Where learned routes go: the store's LearnedRoutesWriter of this gateway and the provider router.
 * update() must take the changes into its desired state even when the write fails: the importer
 * retries a failed write with an empty update.
 */
export interface LearnedRoutesSink {
  update(changes: { readonly add?: Iterable<LearnedRoute>; readonly remove?: Iterable<LearnedRoute> }): Promise<void>;
}

export interface RouteImporterOptions {
  readonly sink: LearnedRoutesSink;
  readonly logger?: Logger;
  /** Wait before retrying a failed store write or re-opening a failed watch; default 1 s. */
  readonly retryMs?: number;
  /** gobgpd reports a peer's state (every change, and all peers when a watch starts). */
  readonly onPeerState?: (peer: ApiPeer) => void;
  /** Write once the changes pause this long; default 50 ms. */
  readonly quietMs?: number;
  /** While they keep coming, write when the oldest unwritten change is this old; default 500 ms. */
  readonly maxDelayMs?: number;
  /** ... and this many times the last write's duration has passed since it; default 3. */
  readonly writeSpacing?: number;
}

const WATCH_REQUEST = { peer: {}, table: { filters: [{ type: 'BEST' as const, init: true }] } };
const PEER_WATCH_REQUEST = { peer: {} };

export class RouteImporter {
  private readonly log: Logger;
  private readonly table = new LearnedRouteTable();
  private readonly pendingAdd = new Map<string, LearnedRoute>();
  private readonly pendingRemove = new Map<string, LearnedRoute>();
  private readonly retryMs: number;
  private readonly quietMs: number;
  private readonly maxDelayMs: number;
  private readonly writeSpacing: number;
  /** Bumped by every queued change: the coalescing wait watches it. */
  private changes = 0;
  private lastWriteMs = 0;
  /** A session or gobgpd went down: write its withdrawals without waiting. */
  private urgent = false;
  /** Store writes done (for the status and benchmarks). */
  writes = 0;
  private client: GobgpClient | undefined;
  private watch: Watch | undefined;
  private peerWatch: Watch | undefined;
  private readonly losses = new SessionLossTracker();
  private awaitingSnapshot = false;
  private flushLoop: Promise<void> | undefined;
  private writeFailed = false;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Paths seen in events (for the log and benchmarks). */
  pathsSeen = 0;

  constructor(private readonly options: RouteImporterOptions) {
    this.log = storeLogger(options.logger, 'bgp-import');
    this.retryMs = options.retryMs ?? 1000;
    this.quietMs = options.quietMs ?? 50;
    this.maxDelayMs = options.maxDelayMs ?? 500;
    this.writeSpacing = options.writeSpacing ?? 3;
  }

  /** Peers whose routes are imported, with their uplink ports and limits. */
  setPeers(peers: readonly ImportPeer[]): void {
    const delta = newDelta();
    this.table.setPeers(peers, delta);
    this.queue(delta);
  }

  /** Follows this gobgpd's best paths and peer states (and, on a second stream, peer states alone). */
  attach(client: GobgpClient): void {
    this.detach();
    this.client = client;
    this.awaitingSnapshot = true;
    this.losses.reset();
    const onClose = (error: unknown): void => {
      if (this.client !== client || this.closed || this.retryTimer !== undefined) return;
      this.log.warn({ err: error }, `watching gobgpd stopped; re-watching in ${this.retryMs} ms`);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        if (this.client === client && !this.closed) this.attach(client);
      }, this.retryMs);
    };
    this.watch = client.watchEvent(WATCH_REQUEST, { onEvent: (ev) => this.onEvent(ev), onClose });
    this.peerWatch = client.watchEvent(PEER_WATCH_REQUEST, { onEvent: (ev) => this.onEarlyPeerEvent(ev), onClose });
  }

  detach(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.watch?.cancel();
    this.peerWatch?.cancel();
    this.watch = undefined;
    this.peerWatch = undefined;
    this.client = undefined;
  }

  /** gobgpd died or stopped: every session is gone, so is every learned route. */
  withdrawAll(): void {
    const delta = newDelta();
    this.table.clear(delta);
    this.urgent ||= delta.remove.length > 0;
    this.queue(delta);
  }

  /** The peer's session is down: its routes would blackhole traffic, so they go at once. */
  withdrawPeer(address: string): void {
    const delta = newDelta();
    this.table.dropPeer(address, delta);
    this.urgent ||= delta.remove.length > 0;
    this.queue(delta);
  }

  countsOf(address: string): PeerImportCounts | undefined {
    return this.table.countsOf(address);
  }

  get prefixCount(): number {
    return this.table.prefixCount;
  }

  /** Resolves once every change seen so far is written to the store. */
  async whenWritten(): Promise<void> {
    while (this.flushLoop !== undefined) await this.flushLoop;
  }

  /** Stops watching; pending writes still finish (await whenWritten()). */
  close(): void {
    this.detach();
    this.closed = true;
  }

  // --- internals ---

  /** The peer-only stream: a lost session is withdrawn before its per-path withdrawals arrive. */
  private onEarlyPeerEvent(ev: GobgpWatchEvent): void {
    if (ev.kind !== 'peer' || ev.peer === null) return;
    const address = ev.peer.state?.neighbor_address ?? '';
    if (address === '' || !this.losses.onEarly(address, ev.peer.state?.session_state === 'ESTABLISHED')) return;
    this.log.info({ peer: address }, `peer ${address} lost its session: withdrawing its routes`);
    this.withdrawPeer(address);
  }

  private onEvent(ev: GobgpWatchEvent): void {
    if (ev.kind === 'peer') {
      const peer = ev.peer;
      if (peer === null) return;
      const state = peer.state?.session_state;
      const address = peer.state?.neighbor_address ?? peer.conf?.neighbor_address ?? '';
      if (address !== '') this.losses.onInOrder(address, state === 'ESTABLISHED');
      if (state !== 'ESTABLISHED' && address !== '') this.withdrawPeer(address);
      if (ev.type === 'STATE') this.log.info({ peer: address, state, admin: peer.state?.admin_state }, `peer ${address} is ${state}`);
      this.options.onPeerState?.(peer);
      return;
    }
    if (ev.kind !== 'table') return;
    // Paths of a session already known lost (peer-only stream) are stale: skip them.
    const paths = this.losses.anySuppressed ? ev.paths.filter((p) => !this.losses.isSuppressed(p.peer)) : ev.paths;
    this.pathsSeen += paths.length + ev.skipped;
    const delta = newDelta();
    this.table.applyPaths(paths, delta);
    if (this.awaitingSnapshot) {
      // The first table event of a watch is the whole table (init: true).
      this.awaitingSnapshot = false;
      this.table.retainOnly(new Set(paths.map((p) => p.prefix)), delta);
    }
    this.queue(delta);
  }

  private queue(delta: ImportDelta): void {
    for (const c of delta.crossed) this.logCrossing(c);
    // Within one delta a route's removal precedes its re-addition.
    for (const r of delta.remove) {
      const k = routeKeyOf(r);
      this.pendingAdd.delete(k);
      this.pendingRemove.set(k, r);
    }
    for (const r of delta.add) {
      const k = routeKeyOf(r);
      this.pendingRemove.delete(k);
      this.pendingAdd.set(k, r);
    }
    this.changes++;
    if (this.pendingAdd.size + this.pendingRemove.size > 0 && this.flushLoop === undefined) {
      this.flushLoop = this.flush().finally(() => {
        this.flushLoop = undefined;
      });
    }
  }

  private async flush(): Promise<void> {
    while (this.pendingAdd.size + this.pendingRemove.size > 0 || this.writeFailed) {
      await this.coalesce();
      const add = [...this.pendingAdd.values()];
      const remove = [...this.pendingRemove.values()];
      this.pendingAdd.clear();
      this.pendingRemove.clear();
      try {
        // The writer takes the changes into its desired set before writing: a retry needs no replay.
        const t0 = Date.now();
        await this.options.sink.update({ add, remove });
        this.lastWriteMs = Date.now() - t0;
        this.writes++;
        this.writeFailed = false;
        this.log.debug({ add: add.length, remove: remove.length, ms: this.lastWriteMs }, 'learned routes written');
      } catch (err) {
        this.writeFailed = true;
        if (this.closed) {
          this.log.error({ err }, 'writing learned routes failed after the importer closed; giving up');
          return;
        }
        this.log.warn({ err }, `writing learned routes failed; retrying in ${this.retryMs} ms`);
        await new Promise((r) => setTimeout(r, this.retryMs));
      }
    }
  }

  /**
   * Waits until the changes pause for quietMs (and at least one last write's duration passed), or
   * while they keep coming, until maxDelayMs and writeSpacing × the last write's duration passed.
   */
  private async coalesce(): Promise<void> {
    const start = Date.now();
    const streamingGap = Math.max(this.maxDelayMs, this.writeSpacing * this.lastWriteMs);
    for (;;) {
      if (this.urgent) {
        this.urgent = false;
        return;
      }
      const seen = this.changes;
      await new Promise((r) => setTimeout(r, this.quietMs));
      const waited = Date.now() - start;
      if ((this.changes === seen && waited >= this.lastWriteMs) || waited >= streamingGap) return;
    }
  }

  private logCrossing(c: LimitCrossing): void {
    const what = c.action === 'drop' ? 'further prefixes are not imported' : 'all prefixes are still imported';
    this.log.warn({ peer: c.peer, family: c.family, limit: c.limit, action: c.action }, `peer ${c.peer} sent more than ${c.limit} ${c.family} prefixes; ${what}`);
  }
}

