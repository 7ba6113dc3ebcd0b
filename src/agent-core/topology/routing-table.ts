// A router's routing table (DESIGN: Virtual topology, Router): configured and learned routes plus
// connected routes from its ports' addresses; longest prefix, then source prefix, then weight; ECMP.
import { formatCidr, maskIp, type Cidr, type Ip4, type Ip6, type IpAddr } from '../packet/addr.js';
import { parsedRoute, portCidrs, type ParsedRoute } from './parsed.js';
import type { Id, Port, Route } from './types.js';

/**
 * Weight of connected routes: configured weights are 0 or more (validate-routes), so a subnet a
 * port sits on is always reached through that port, whatever else names the same prefix.
 */
export const CONNECTED_ROUTE_WEIGHT = -1;

const EMPTY: readonly Route[] = Object.freeze([]);

const MASK4: readonly number[] = Array.from({ length: 33 }, (_, len) => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0));
const MASK6: readonly bigint[] = Array.from({ length: 129 }, (_, len) =>
  len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(128 - len),
);

interface Entry {
  readonly route: Route;
  /** Source prefix length, -1 for "any source". */
  readonly srcLen: number;
  readonly src: Cidr | undefined;
  readonly weight: number;
}

/** All routes of one destination prefix, best first (longer source prefix, then lower weight). */
class Slot {
  readonly entries: Entry[] = [];
  /** The best group when no entry has a source prefix: returned as is, no allocation per lookup. */
  best: readonly Route[] = EMPTY;
  hasSrc = false;

  finish(): void {
    this.entries.sort((a, b) => b.srcLen - a.srcLen || a.weight - b.weight || (a.route.id < b.route.id ? -1 : a.route.id > b.route.id ? 1 : 0));
    this.hasSrc = this.entries.some((e) => e.src !== undefined);
    if (!this.hasSrc) this.best = Object.freeze(groupFrom(this.entries, 0, undefined));
  }

  select(src: IpAddr | undefined): readonly Route[] {
    if (!this.hasSrc) return this.best;
    for (let i = 0; i < this.entries.length; i++) {
      if (srcMatches(this.entries[i], src)) return groupFrom(this.entries, i, src);
    }
    return EMPTY;
  }
}

function srcMatches(e: Entry, src: IpAddr | undefined): boolean {
  if (e.src === undefined) return true;
  if (src === undefined || typeof src !== typeof e.src.addr) return false;
  return maskIp(src, e.src.len) === maskIp(e.src.addr, e.src.len);
}

/** The ECMP group starting at entries[first]: every following entry equally good and matching. */
function groupFrom(entries: readonly Entry[], first: number, src: IpAddr | undefined): Route[] {
  const head = entries[first];
  const out = [head.route];
  for (let i = first + 1; i < entries.length; i++) {
    const e = entries[i];
    if (e.srcLen !== head.srcLen || e.weight !== head.weight) break;
    if (srcMatches(e, src)) out.push(e.route);
  }
  return out;
}

/** Per prefix length, the slots keyed by network address; lengths kept longest first. */
class FamilyTable<K extends number | bigint> {
  private readonly byLen: (Map<K, Slot> | undefined)[];
  lengths: number[] = [];

  constructor(maxLen: number) {
    this.byLen = new Array<Map<K, Slot> | undefined>(maxLen + 1);
  }

  slot(len: number, net: K): Slot {
    let m = this.byLen[len];
    if (m === undefined) {
      m = new Map();
      this.byLen[len] = m;
    }
    let s = m.get(net);
    if (s === undefined) {
      s = new Slot();
      m.set(net, s);
    }
    return s;
  }

  finish(): void {
    this.lengths = [];
    for (let len = this.byLen.length - 1; len >= 0; len--) {
      const m = this.byLen[len];
      if (m === undefined) continue;
      this.lengths.push(len);
      for (const s of m.values()) s.finish();
    }
  }

  get(len: number, net: K): Slot | undefined {
    return (this.byLen[len] as Map<K, Slot>).get(net);
  }
}

/**
 * Longest-prefix match over per-length hash maps: a lookup costs one map probe per distinct prefix
 * length in use (at most 33 for IPv4, 129 for IPv6), and building is linear in the routes.
 */
export class RoutingTable {
  private readonly v4 = new FamilyTable<number>(32);
  private readonly v6 = new FamilyTable<bigint>(128);
  /** Whether some route has a source prefix: only then does a lookup need the packet's source. */
  readonly hasSrcRoutes: boolean;
  readonly size: number;
  /** Routes left out because their text does not parse (validation reports them). */
  readonly invalid: readonly Route[];

  constructor(routes: readonly Route[], ports: readonly Port[] = []) {
    const invalid: Route[] = [];
    let size = 0;
    let hasSrc = false;
    for (const route of routes) {
      const p = parsedRoute(route);
      if (p === undefined || (p.src !== undefined && typeof p.src.addr !== typeof p.dst.addr)) {
        invalid.push(route);
        continue;
      }
      this.add(route, p);
      size++;
      if (p.src !== undefined) hasSrc = true;
    }
    for (const port of ports) {
      for (const c of portCidrs(port)) {
        const dst = { addr: maskIp(c.addr, c.len), len: c.len };
        this.add(connectedRoute(port, dst), { dst });
        size++;
      }
    }
    this.v4.finish();
    this.v6.finish();
    this.hasSrcRoutes = hasSrc;
    this.size = size;
    this.invalid = invalid;
  }

  private add(route: Route, p: ParsedRoute): void {
    const entry: Entry = {
      route,
      srcLen: p.src === undefined ? -1 : p.src.len,
      src: p.src,
      weight: route.weight,
    };
    const a = p.dst.addr;
    if (typeof a === 'bigint') this.v6.slot(p.dst.len, (a & MASK6[p.dst.len]) as Ip6).entries.push(entry);
    else this.v4.slot(p.dst.len, ((a & MASK4[p.dst.len]) >>> 0) as Ip4).entries.push(entry);
  }

  /**
   * The best routes to `dst`: the longest matching destination prefix that has a route usable from
   * `src` (routes with a source prefix need `src`), the longest source prefix, then the lowest weight.
   * More than one route is an ECMP group (ordered by route id). Empty: no route.
   */
  lookup(dst: IpAddr, src?: IpAddr): readonly Route[] {
    if (typeof dst === 'bigint') {
      const t = this.v6;
      for (const len of t.lengths) {
        const s = t.get(len, dst & MASK6[len]);
        if (s === undefined) continue;
        const g = s.select(src);
        if (g.length > 0) return g;
      }
      return EMPTY;
    }
    const t = this.v4;
    for (const len of t.lengths) {
      const s = t.get(len, (dst & MASK4[len]) >>> 0);
      if (s === undefined) continue;
      const g = s.select(src);
      if (g.length > 0) return g;
    }
    return EMPTY;
  }
}

const CONNECTED_PREFIX = 'connected:';
const connectedRoutes = new WeakMap<Port, Map<string, Route>>();

/** The on-link route of one subnet of a router port (stable per port object, so flows can name it). */
function connectedRoute(port: Port, dst: Cidr): Route {
  let byPrefix = connectedRoutes.get(port);
  if (byPrefix === undefined) {
    byPrefix = new Map();
    connectedRoutes.set(port, byPrefix);
  }
  const text = formatCidr(dst);
  let r = byPrefix.get(text);
  if (r === undefined) {
    r = Object.freeze<Route>({
      type: 'route',
      id: `${CONNECTED_PREFIX}${port.id}:${text}`,
      routerId: port.deviceId,
      dst: text,
      nextHop: 'port',
      egressPortId: port.id,
      weight: CONNECTED_ROUTE_WEIGHT,
      origin: 'static',
    });
    byPrefix.set(text, r);
  }
  return r;
}

/** Whether a route was derived from a port address rather than configured or learned. */
export function isConnectedRoute(route: Route): boolean {
  return route.id.startsWith(CONNECTED_PREFIX);
}

/** The next-hop gateway of a route; undefined = the destination is on-link. */
export function routeGateway(route: Route): IpAddr | undefined {
  return parsedRoute(route)?.gateway;
}

interface Memo {
  readonly ports: readonly Port[];
  readonly table: RoutingTable;
}

const memo = new WeakMap<readonly Route[], Map<Id, Memo>>();

/**
 * The routing table of `routerId`, rebuilt only when its routes array or one of its port objects
 * changed (a TopologyView keeps both identical while unchanged).
 */
export function routingTableFor(routerId: Id, routes: readonly Route[], ports: readonly Port[]): RoutingTable {
  let byRouter = memo.get(routes);
  if (byRouter === undefined) {
    byRouter = new Map();
    memo.set(routes, byRouter);
  }
  const m = byRouter.get(routerId);
  if (m !== undefined && samePorts(m.ports, ports)) return m.table;
  const table = new RoutingTable(routes, ports);
  byRouter.set(routerId, { ports: ports.slice(), table });
  return table;
}

function samePorts(a: readonly Port[], b: readonly Port[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
