// The virtual router (DESIGN: Virtual topology, Router): pre-routing chain, local delivery, longest
// prefix route with ECMP by connection hash, TTL and MTU checks with ICMP errors (RFC 1812 5.2.3,
// 4.3.2.7; RFC 4443), post-routing chain, next-hop MAC from the ARP/ND cache, header rewrites.
import { formatIp, isMulticastMac, type Ip4, type Ip6, type IpAddr } from '../packet/addr.js';
import { ND_NEIGHBOR_ADVERT, ND_NEIGHBOR_SOLICIT } from '../packet/constants.js';
import {
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  Field,
  IPPROTO_ICMPV6,
  type FlowMatch,
  type HeaderModification,
} from '../packet/flow-match.js';
import { FrameLayout, buildArpRequest, buildNdSolicit, parseLayout } from '../packet/index.js';
import { portCidrs, portMac, portMtu } from '../topology/parsed.js';
import { routeGateway, routingTableFor } from '../topology/routing-table.js';
import type { Id, Port, Router } from '../topology/types.js';
import { IcmpErrorKind, portSourceAddress, sendIcmpError } from './icmp-errors.js';
import type { Walker } from './ports.js';
import { answerLocal, handleArp, handleNd } from './router-local.js';
import { flowHash, readFlowTuple } from './state-keys.js';
import { arpTag, deviceTag, routeTag } from './tags.js';

const DEC_TTL: HeaderModification = Object.freeze({ kind: 'decTtl' });
const EMPTY_PORTS: readonly Port[] = Object.freeze([]);

export function processRouter(w: Walker, inPort: Port, depth: number): void {
  const ctx = w.ctx;
  const router = w.topo.router(inPort.deviceId);
  if (router === undefined) return w.missing('router', inPort.deviceId);
  ctx.tag(deviceTag(router.id));
  if (!router.adminStateUp) return w.drop(`router ${router.id} is down`);
  const inMac = portMac(inPort);
  if (inMac === undefined) return w.drop(`router port ${inPort.id} has no MAC`, true);
  const m = ctx.match;

  const dstMac = m.get(Field.EthDst);
  const et = m.get(Field.EthType);
  if (et === ETHERTYPE_ARP) return handleArp(w, router, inPort, inMac, dstMac);
  if (et !== ETHERTYPE_IPV4 && et !== ETHERTYPE_IPV6) return w.drop(`router ${router.id}: not IP (ethertype ${et})`);
  const v6 = et === ETHERTYPE_IPV6;
  if (v6 && (dstMac === inMac || isMulticastMac(dstMac)) && m.get(Field.IpProto) === IPPROTO_ICMPV6) {
    const type = m.get(Field.L4Src);
    if (type === ND_NEIGHBOR_SOLICIT || type === ND_NEIGHBOR_ADVERT) return handleNd(w, router, inPort, inMac, type);
  }
  // Routers forward unicast addressed to them only; IP multicast routing is out of scope.
  if (dstMac !== inMac) return w.drop(`router ${router.id}: frame not addressed to port ${inPort.id}`);

  const ports = routerPorts(w, router.id);
  const routes = w.topo.routes(router.id);
  if (routes === undefined) w.missing('routes', router.id);
  if (ports === undefined || routes === undefined) return;

  if (!w.chain(router.preRoutingChainId, router.id, inPort)) return;

  // After pre-routing: reverse SNAT may have turned a reply to a router address into a forward.
  const dst = m.getIp(Field.IpDst);
  if (localAddresses(ports).has(dst)) return answerLocal(w, router, inPort, inMac, v6, dst);

  const table = routingTableFor(router.id, routes, ports);
  const group = table.lookup(dst, table.hasSrcRoutes ? m.getIp(Field.IpSrc) : undefined);
  ctx.tag(routeTag(router.id));
  if (group.length === 0) return sendIcmpError(w, inPort, IcmpErrorKind.NoRoute, `router ${router.id}: no route to ${formatIp(dst)}`);
  const route = group.length === 1 ? group[0] : group[ecmpIndex(m, group.length)];
  if (ctx.tracing) ctx.trace.push(`router ${router.id}: ${formatIp(dst)} matches route ${route.id} (${route.dst}, ${route.nextHop})`);
  if (route.nextHop === 'blackhole') return w.drop(`router ${router.id}: blackhole route ${route.id}`);
  if (route.nextHop === 'reject') return sendIcmpError(w, inPort, IcmpErrorKind.RejectRoute, `router ${router.id}: reject route ${route.id}`);
  if (route.egressPortId === undefined) return w.drop(`router ${router.id}: route ${route.id} has no egress port`, true);
  const outPort = w.topo.port(route.egressPortId);
  if (outPort === undefined) return w.missing('port', route.egressPortId);

  if (ttlExpires(w, m)) return sendIcmpError(w, inPort, IcmpErrorKind.TimeExceeded, `router ${router.id}: TTL expired in transit`);
  // Length and DF are not part of the match: the flow carries the MTU as a bound (maxIpLength), and
  // the fast path sends a longer packet that may not be fragmented back here. Both sides measure it
  // with FrameLayout.unfragmentableLength, so they agree. Fragmentation is out of scope: an IPv4
  // packet without DF goes on whole (its length is 0 here) and the link may drop it.
  const mtu = portMtu(outPort);
  if (mtu < ctx.maxIpLength) ctx.maxIpLength = mtu;
  const length = unfragmentableLength(ctx.input.frame);
  if (length > mtu) {
    return sendIcmpError(w, inPort, IcmpErrorKind.TooBig, `router ${router.id}: ${length} bytes exceed MTU ${mtu} of port ${outPort.id}`, mtu);
  }

  ctx.outPortId = outPort.id;
  if (!w.chain(router.postRoutingChainId, router.id, inPort)) return;

  const outMac = portMac(outPort);
  if (outMac === undefined) return w.drop(`router port ${outPort.id} has no MAC`, true);
  const nextHop = routeGateway(route) ?? m.getIp(Field.IpDst);
  const nextHopMac = ctx.views.arp.lookup(router.id, nextHop);
  ctx.tag(arpTag(router.id, nextHop));
  if (nextHopMac === undefined) return requestNeighbour(w, router, outPort, outMac, nextHop);

  ctx.modify({ kind: 'setField', field: Field.EthSrc, value: outMac });
  ctx.modify({ kind: 'setField', field: Field.EthDst, value: nextHopMac });
  ctx.modify(DEC_TTL);
  w.ttlDecrements++;
  if (ctx.tracing) ctx.trace.push(`router ${router.id}: next hop ${formatIp(nextHop)} via port ${outPort.id}`);
  w.leavePort(outPort.id, depth, inPort);
}

/**
 * Whether forwarding would take the TTL / hop limit to 0. The match holds the TTL exactly for every
 * value that can expire on a walk (IP_TTL_CLAMP), and decTtl leaves the match alone, so the TTL
 * here is the match's less the decrements of earlier routers on this path: a flow then decides
 * alike for every packet it matches.
 */
function ttlExpires(w: Walker, m: FlowMatch): boolean {
  return m.get(Field.IpTtl) - w.ttlDecrements <= 1;
}

/** Scratch for unfragmentableLength: simulations run one at a time. */
const LAYOUT = new FrameLayout();

/** The frame's IP length when it may not be fragmented (IPv6, IPv4 with DF), else 0 (RFC 791, RFC 8200 5). */
function unfragmentableLength(frame: Uint8Array): number {
  return parseLayout(frame, LAYOUT) ? LAYOUT.unfragmentableLength(frame) : 0;
}

/** ECMP member by connection hash over the 5-tuple: stable per connection, the same on every host. */
function ecmpIndex(m: FlowMatch, n: number): number {
  const t = readFlowTuple(m);
  return t === undefined ? 0 : flowHash(t) % n;
}

/** ARP / ND cache miss: ask out of the egress port and wait for the answer (NotYet). */
function requestNeighbour(w: Walker, router: Router, outPort: Port, outMac: number, nextHop: IpAddr): void {
  const src = portSourceAddress(outPort, nextHop);
  if (src === undefined) {
    return w.drop(`router ${router.id}: port ${outPort.id} has no address to resolve ${formatIp(nextHop)} from`, true);
  }
  const ctx = w.ctx;
  if (ctx.tracing) ctx.trace.push(`not yet: router ${router.id} resolving ${formatIp(nextHop)} out of port ${outPort.id}`);
  ctx.notYet({ kind: 'arp', routerId: router.id, ip: nextHop });
  const frame = typeof nextHop === 'bigint' ? buildNdSolicit(outMac, src as Ip6, nextHop) : buildArpRequest(outMac, src as Ip4, nextHop);
  w.generate(outPort.id, frame);
}

// ---- per-router memos ------------------------------------------------------------------------------

const portsMemo = new WeakMap<readonly Id[], readonly Port[]>();

/**
 * The router's port objects, the same array while none changed (so the routing table and the local
 * addresses can be memoized on it). Undefined when the router or a port is not loaded (recorded).
 */
function routerPorts(w: Walker, routerId: Id): readonly Port[] | undefined {
  const ids = w.topo.portsOf(routerId);
  if (ids === undefined) {
    w.missing('router', routerId);
    return undefined;
  }
  const cached = portsMemo.get(ids);
  let fresh: Port[] | undefined;
  let complete = true;
  for (let i = 0; i < ids.length; i++) {
    const p = w.topo.port(ids[i]);
    if (p === undefined) {
      w.missing('port', ids[i]);
      complete = false;
      continue;
    }
    if (fresh === undefined && cached !== undefined && cached[i] === p) continue;
    fresh ??= cached === undefined ? [] : cached.slice(0, i);
    fresh.push(p);
  }
  if (!complete) return undefined;
  if (fresh === undefined) return cached ?? EMPTY_PORTS;
  portsMemo.set(ids, fresh);
  return fresh;
}

const localMemo = new WeakMap<readonly Port[], ReadonlySet<IpAddr>>();

/** Every address of the router's ports (IPv4 numbers and IPv6 bigints never collide in a Set). */
function localAddresses(ports: readonly Port[]): ReadonlySet<IpAddr> {
  let s = localMemo.get(ports);
  if (s === undefined) {
    const set = new Set<IpAddr>();
    for (const p of ports) for (const c of portCidrs(p)) set.add(c.addr);
    s = set;
    localMemo.set(ports, s);
  }
  return s;
}
