// The importer's model of what gobgpd's best paths mean for the store: per prefix the set of best
// (or equal-cost) paths from configured peers, the learned routes they make (egress = the peer's
// uplink port, gateway = the peer), per peer and family counts for maximum prefixes, and the route
// additions and withdrawals each change causes. Pure. DESIGN: BGP (import); Store (learned routes).
import type { LearnedRoute } from '../agent-core/store/index.js';
import type { Id } from '../agent-core/topology/index.js';
import { isLocalPath, type WatchedPath } from './api-paths.js';
import { canonicalAddress, type BgpFamily, type BgpMaxPrefixes, type MaxPrefixAction } from './config.js';

/** What the importer needs to know of a configured peer. */
export interface ImportPeer {
  readonly address: string;
  readonly uplinkPortId: Id;
  /** Gateway = the path's BGP next hop instead of the peer's address (multihop peers). */
  readonly useNextHop: boolean;
  readonly maxPrefixes?: BgpMaxPrefixes;
}

export interface LimitCrossing {
  readonly peer: string;
  readonly family: BgpFamily;
  readonly limit: number;
  readonly action: MaxPrefixAction;
}

export interface ImportDelta {
  readonly add: LearnedRoute[];
  readonly remove: LearnedRoute[];
  /** Peers whose best paths of one family went past their limit with this change ('drop', 'warn'). */
  readonly crossed: LimitCrossing[];
}

export interface PeerImportCounts {
  /** Prefixes imported into the store. */
  readonly imported: number;
  /** Best paths held back by a 'drop' limit. */
  readonly held: number;
}

interface Entry {
  readonly peerKey: string;
  readonly family: BgpFamily;
  /** The path's latest BGP next hop, kept for re-importing under changed settings. */
  nextHop: string | undefined;
  readonly route: LearnedRoute;
  /** The store's identity of the route: dst|gateway|port. Two peers may yield the same one. */
  readonly routeKey: string;
  accepted: boolean;
}

interface PeerState {
  readonly key: string;
  readonly config: ImportPeer;
  readonly isV6: boolean;
  readonly accepted: Record<BgpFamily, number>;
  readonly held: Record<BgpFamily, Set<string>>;
  readonly warned: Record<BgpFamily, boolean>;
}

const NO_ENTRIES: readonly Entry[] = Object.freeze([]);
const FAMILIES: readonly BgpFamily[] = ['ipv4', 'ipv6'];

export function newDelta(): ImportDelta {
  return { add: [], remove: [], crossed: [] };
}

export class LearnedRouteTable {
  private readonly peers = new Map<string, PeerState>();
  /** Prefix → its current best (or equal-cost) entries. Entries with equal route keys share a prefix. */
  private readonly byPrefix = new Map<string, readonly Entry[]>();
  /** gobgpd's spelling of a peer address → our key (null: not a configured peer). */
  private readonly peerKeys = new Map<string, string | null>();
  /** Peers whose accepted count fell while they hold paths back. */
  private readonly roomMade = new Set<string>();
  /** Paths skipped: from peers not configured, or without a usable next hop. */
  skippedUnknownPeer = 0;
  skippedNoNextHop = 0;

  constructor(peers: readonly ImportPeer[] = []) {
    this.setPeers(peers, newDelta());
  }

  get prefixCount(): number {
    return this.byPrefix.size;
  }

  countsOf(address: string): PeerImportCounts | undefined {
    const s = this.peers.get(canonicalAddress(address));
    if (s === undefined) return undefined;
    return { imported: s.accepted.ipv4 + s.accepted.ipv6, held: s.held.ipv4.size + s.held.ipv6.size };
  }

  /**
   * One watch event's paths. For each prefix in it, its paths are the prefix's complete new best set
   * (one best, or every equal-cost path with multipath); a withdrawal alone empties it.
   */
  applyPaths(paths: readonly WatchedPath[], delta: ImportDelta): void {
    let i = 0;
    while (i < paths.length) {
      // An event lists a prefix's paths together; a prefix seen again later in it is a new set.
      const prefix = (paths[i] as WatchedPath).prefix;
      let j = i + 1;
      while (j < paths.length && (paths[j] as WatchedPath).prefix === prefix) j++;
      this.replacePrefix(prefix, paths, i, j, delta);
      i = j;
    }
    this.promoteHeld(delta);
  }

  /** A complete table (a watch's initial event): prefixes not in it lost their best path meanwhile. */
  retainOnly(prefixes: ReadonlySet<string>, delta: ImportDelta): void {
    for (const [prefix, entries] of [...this.byPrefix]) if (!prefixes.has(prefix)) this.replaceEntries(prefix, entries, NO_ENTRIES, delta);
    this.promoteHeld(delta);
  }

  /** The peer's session went down or it was removed: withdraw everything it gave. */
  dropPeer(address: string, delta: ImportDelta): void {
    const s = this.peers.get(canonicalAddress(address));
    if (s === undefined) return;
    this.dropPeerEntries(s.key, delta);
    this.promoteHeld(delta);
  }

  /** gobgpd is gone: withdraw everything. */
  clear(delta: ImportDelta): void {
    for (const [prefix, entries] of [...this.byPrefix]) this.replaceEntries(prefix, entries, NO_ENTRIES, delta);
    for (const s of this.peers.values()) for (const f of FAMILIES) s.warned[f] = false;
    this.roomMade.clear();
  }

  /** New peer settings: removed peers are dropped, peers whose import settings changed are re-imported. */
  setPeers(peers: readonly ImportPeer[], delta: ImportDelta): void {
    const next = new Map<string, ImportPeer>();
    for (const p of peers) next.set(canonicalAddress(p.address), p);
    this.peerKeys.clear();
    for (const [key, s] of [...this.peers]) {
      const want = next.get(key);
      if (want !== undefined && sameImport(want, s.config)) continue;
      // Re-import its paths under the new settings (gone peers: none).
      const kept: [string, Entry][] = [];
      for (const [prefix, entries] of this.byPrefix) for (const e of entries) if (e.peerKey === key) kept.push([prefix, e]);
      this.dropPeerEntries(key, delta);
      this.peers.delete(key);
      if (want === undefined) continue;
      const fresh = this.addPeerState(key, want);
      for (const [prefix, e] of kept) {
        const route = this.routeFor(fresh, e.family, prefix, e.nextHop);
        if (route === undefined) continue;
        const entry = newEntry(fresh, e.family, e.nextHop, route);
        const siblings = [...(this.byPrefix.get(prefix) ?? NO_ENTRIES), entry];
        this.byPrefix.set(prefix, siblings);
        this.admit(prefix, entry, siblings, delta);
      }
    }
    for (const [key, p] of next) if (!this.peers.has(key)) this.addPeerState(key, p);
    this.promoteHeld(delta);
  }

  // --- internals ---

  /** paths[from, to) are the prefix's new best set. */
  private replacePrefix(prefix: string, paths: readonly WatchedPath[], from: number, to: number, delta: ImportDelta): void {
    const old = this.byPrefix.get(prefix) ?? NO_ENTRIES;
    let fresh: Entry[] | undefined;
    for (let i = from; i < to; i++) {
      const p = paths[i] as WatchedPath;
      if (p.withdraw || isLocalPath(p)) continue;
      const s = this.peerState(p.peer);
      if (s === undefined) {
        this.skippedUnknownPeer++;
        continue;
      }
      const route = this.routeFor(s, p.family, prefix, p.nextHop);
      if (route === undefined) {
        this.skippedNoNextHop++;
        continue;
      }
      const routeKey = routeKeyOf(route);
      let same: Entry | undefined;
      for (const e of old) if (e.routeKey === routeKey && e.peerKey === s.key) same = e;
      if (same !== undefined) same.nextHop = p.nextHop;
      (fresh ??= []).push(same ?? { peerKey: s.key, family: p.family, nextHop: p.nextHop, route, routeKey, accepted: false });
    }
    this.replaceEntries(prefix, old, fresh ?? NO_ENTRIES, delta);
  }

  /** Makes `next` the prefix's entries: retires those of `old` not in it, admits the new ones. */
  private replaceEntries(prefix: string, old: readonly Entry[], next: readonly Entry[], delta: ImportDelta): void {
    if (next.length === 0) this.byPrefix.delete(prefix);
    else this.byPrefix.set(prefix, next);
    for (const e of old) if (!next.includes(e)) this.retire(prefix, e, old, next, delta);
    for (const e of next) if (!old.includes(e)) this.admit(prefix, e, next, delta);
  }

  /** A new entry: imported (its route added unless a sibling already gives it), or held back by a 'drop' limit. */
  private admit(prefix: string, e: Entry, siblings: readonly Entry[], delta: ImportDelta): void {
    const s = this.peers.get(e.peerKey) as PeerState;
    const limit = s.config.maxPrefixes;
    if (limit !== undefined && limit.action !== 'restart' && !s.warned[e.family] && s.accepted[e.family] + s.held[e.family].size + 1 > limit.limit) {
      s.warned[e.family] = true;
      delta.crossed.push({ peer: s.config.address, family: e.family, limit: limit.limit, action: limit.action });
    }
    if (limit?.action === 'drop' && s.accepted[e.family] >= limit.limit) {
      s.held[e.family].add(prefix);
      return;
    }
    this.accept(s, e, siblings, delta);
  }

  private accept(s: PeerState, e: Entry, siblings: readonly Entry[], delta: ImportDelta): void {
    e.accepted = true;
    s.accepted[e.family]++;
    if (!sharedRoute(e, siblings)) delta.add.push(e.route);
  }

  /** An entry leaves: its route goes unless an entry still there gives the same route. */
  private retire(prefix: string, e: Entry, old: readonly Entry[], next: readonly Entry[], delta: ImportDelta): void {
    const s = this.peers.get(e.peerKey);
    if (e.accepted) {
      e.accepted = false;
      if (!sharedRoute(e, old) && !sharedRoute(e, next)) delta.remove.push(e.route);
      if (s !== undefined) {
        s.accepted[e.family]--;
        if (s.held[e.family].size > 0) this.roomMade.add(e.peerKey);
      }
    } else s?.held[e.family].delete(prefix);
    const limit = s?.config.maxPrefixes;
    if (s !== undefined && limit !== undefined && s.accepted[e.family] + s.held[e.family].size <= limit.limit) s.warned[e.family] = false;
  }

  /** Held-back paths take the places that withdrawals freed. */
  private promoteHeld(delta: ImportDelta): void {
    if (this.roomMade.size === 0) return;
    for (const key of this.roomMade) {
      const s = this.peers.get(key);
      if (s === undefined) continue;
      const limit = s.config.maxPrefixes?.limit ?? Infinity;
      for (const f of FAMILIES) {
        for (const prefix of s.held[f]) {
          if (s.accepted[f] >= limit) break;
          s.held[f].delete(prefix);
          const entries = this.byPrefix.get(prefix) ?? NO_ENTRIES;
          const e = entries.find((x) => x.peerKey === key && !x.accepted);
          if (e !== undefined) this.accept(s, e, entries, delta);
        }
      }
    }
    this.roomMade.clear();
  }

  private dropPeerEntries(key: string, delta: ImportDelta): void {
    for (const [prefix, entries] of [...this.byPrefix]) {
      if (!entries.some((e) => e.peerKey === key)) continue;
      this.replaceEntries(
        prefix,
        entries,
        entries.filter((e) => e.peerKey !== key),
        delta,
      );
    }
    const s = this.peers.get(key);
    if (s !== undefined) for (const f of FAMILIES) s.warned[f] = false;
  }

  private routeFor(s: PeerState, family: BgpFamily, prefix: string, nextHop: string | undefined): LearnedRoute | undefined {
    const gateway = gatewayFor(s, family, nextHop);
    return gateway === undefined ? undefined : { dst: prefix, egressPortId: s.config.uplinkPortId, gateway };
  }

  private peerState(reported: string): PeerState | undefined {
    let key = this.peerKeys.get(reported);
    if (key === undefined) {
      const k = canonicalAddress(reported);
      key = this.peers.has(k) ? k : null;
      this.peerKeys.set(reported, key);
    }
    return key === null ? undefined : this.peers.get(key);
  }

  private addPeerState(key: string, config: ImportPeer): PeerState {
    const s: PeerState = {
      key,
      config,
      isV6: config.address.includes(':'),
      accepted: { ipv4: 0, ipv6: 0 },
      held: { ipv4: new Set(), ipv6: new Set() },
      warned: { ipv4: false, ipv6: false },
    };
    this.peers.set(key, s);
    this.peerKeys.clear();
    return s;
  }
}

function newEntry(s: PeerState, family: BgpFamily, nextHop: string | undefined, route: LearnedRoute): Entry {
  return { peerKey: s.key, family, nextHop, route, routeKey: routeKeyOf(route), accepted: false };
}

/** A learned route's identity in the store (as the store's writer keys it): dst|gateway|port. */
export function routeKeyOf(r: LearnedRoute): string {
  return `${r.dst}|${r.gateway ?? ''}|${r.egressPortId}`;
}

/** Another accepted entry among `entries` gives the same route. */
function sharedRoute(e: Entry, entries: readonly Entry[]): boolean {
  for (const x of entries) if (x !== e && x.accepted && x.routeKey === e.routeKey) return true;
  return false;
}

/**
 * The learned route's gateway: the peer itself when it is on the uplink's link and of the route's
 * family; otherwise the path's BGP next hop (multihop peers, IPv6 routes over an IPv4 session).
 */
function gatewayFor(s: PeerState, family: BgpFamily, hop: string | undefined): string | undefined {
  if (!s.config.useNextHop && s.isV6 === (family === 'ipv6')) return s.config.address;
  if (hop === undefined || hop === '' || hop === '0.0.0.0' || hop === '::') return undefined;
  if (hop.includes(':') !== (family === 'ipv6')) return undefined;
  return hop;
}

function sameImport(a: ImportPeer, b: ImportPeer): boolean {
  return (
    a.address === b.address &&
    a.uplinkPortId === b.uplinkPortId &&
    a.useNextHop === b.useNextHop &&
    a.maxPrefixes?.limit === b.maxPrefixes?.limit &&
    a.maxPrefixes?.action === b.maxPrefixes?.action
  );
}
