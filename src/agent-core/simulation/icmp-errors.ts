// ICMP and ICMPv6 errors a router sends back out of the port a packet entered on (RFC 792, RFC 1812
// 4.3.2.7, RFC 4443 2.4; DESIGN: Virtual topology, Router): when to send one, and with which type.
import { isMulticastMac, type Ip4, type Ip6, type IpAddr } from '../packet/addr.js';
import {
  ICMP6_DST_UNREACH,
  ICMP6_DST_UNREACH_ADDR,
  ICMP6_DST_UNREACH_ADMIN,
  ICMP6_DST_UNREACH_NOROUTE,
  ICMP6_PACKET_TOO_BIG,
  ICMP6_TIME_EXCEEDED,
  ICMP6_TIME_EXCEED_TRANSIT,
  ICMP_DEST_UNREACH,
  ICMP_EXC_TTL,
  ICMP_FRAG_NEEDED,
  ICMP_HOST_UNREACH,
  ICMP_NET_UNREACH,
  ICMP_PKT_FILTERED,
  ICMP_TIME_EXCEEDED,
} from '../packet/constants.js';
import {
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  FRAG_LATER,
  Field,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  type FlowMatch,
} from '../packet/flow-match.js';
import { buildIcmp4Error, buildIcmp6Error, isIcmpError } from '../packet/index.js';
import { portAddressOnLink, portCidrs, portMac } from '../topology/parsed.js';
import type { Port } from '../topology/types.js';
import type { Walker } from './ports.js';

export const IcmpErrorKind = {
  /** TTL / hop limit would reach 0 here. */
  TimeExceeded: 0,
  /** No route to the destination. */
  NoRoute: 1,
  /**
   * A route with nextHop 'reject'. Chosen: host unreachable (IPv4) and address unreachable (IPv6),
   * what Linux answers for its "unreachable" route type; policy refusals use Filtered instead.
   */
  RejectRoute: 2,
  /** A chain rejected the packet: communication administratively prohibited. */
  Filtered: 3,
  /** Larger than the egress MTU: fragmentation needed and DF set (IPv4), packet too big (IPv6). */
  TooBig: 4,
} as const;
export type IcmpErrorKind = (typeof IcmpErrorKind)[keyof typeof IcmpErrorKind];

/** [type, code] per kind, IPv4 then IPv6. */
const TYPE_CODE4: readonly (readonly [number, number])[] = [
  [ICMP_TIME_EXCEEDED, ICMP_EXC_TTL],
  [ICMP_DEST_UNREACH, ICMP_NET_UNREACH],
  [ICMP_DEST_UNREACH, ICMP_HOST_UNREACH],
  [ICMP_DEST_UNREACH, ICMP_PKT_FILTERED],
  [ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED],
];
const TYPE_CODE6: readonly (readonly [number, number])[] = [
  [ICMP6_TIME_EXCEEDED, ICMP6_TIME_EXCEED_TRANSIT],
  [ICMP6_DST_UNREACH, ICMP6_DST_UNREACH_NOROUTE],
  [ICMP6_DST_UNREACH, ICMP6_DST_UNREACH_ADDR],
  [ICMP6_DST_UNREACH, ICMP6_DST_UNREACH_ADMIN],
  [ICMP6_PACKET_TOO_BIG, 0],
];

const isIp4Special = (a: Ip4): boolean => a === 0 || a >>> 28 >= 0xe; // unspecified, multicast, class E, broadcast
const isIp6Multicast = (a: Ip6): boolean => a >> 120n === 0xffn;

/**
 * Why no error may be sent about this packet (RFC 1812 4.3.2.7, RFC 4443 2.4(e)), or undefined.
 * Reads with peek: an error path is never installed as a flow, so its reads need not widen one.
 */
function whyNoError(m: FlowMatch, kind: IcmpErrorKind): string | undefined {
  const et = m.peek(Field.EthType);
  if (et !== ETHERTYPE_IPV4 && et !== ETHERTYPE_IPV6) return 'not an IP packet';
  const v6 = et === ETHERTYPE_IPV6;
  if (isMulticastMac(m.peek(Field.EthSrc))) return 'link-layer source is multicast or broadcast';
  const src = m.peekIp(Field.IpSrc);
  const dst = m.peekIp(Field.IpDst);
  if (v6) {
    if (src === 0n || isIp6Multicast(src as Ip6)) return 'source is unspecified or multicast';
    if (isIp6Multicast(dst as Ip6) && kind !== IcmpErrorKind.TooBig) return 'destination is multicast';
  } else {
    if (isIp4Special(src as Ip4)) return 'source is not a unicast address';
    if ((dst as Ip4) >>> 28 >= 0xe) return 'destination is multicast or broadcast';
  }
  if (m.peek(Field.IpFrag) === FRAG_LATER) return 'not the first fragment';
  const proto = m.peek(Field.IpProto);
  if ((v6 ? proto === IPPROTO_ICMPV6 : proto === IPPROTO_ICMP) && isIcmpError(m.peek(Field.L4Src), v6)) return 'it is an ICMP error';
  return undefined;
}

/** The router port's address of the packet's family, preferring the subnet its source is on. */
export function portSourceAddress(port: Port, peer: IpAddr): IpAddr | undefined {
  const onLink = portAddressOnLink(port, peer);
  if (onLink !== undefined) return onLink;
  const v6 = typeof peer === 'bigint';
  return portCidrs(port).find((c) => (typeof c.addr === 'bigint') === v6)?.addr;
}

/**
 * Drops the packet as an error and, where allowed, emits the ICMP error out of `routerIn` to the
 * previous hop. The error quotes the packet as it entered this router: earlier hops' rewrites (MACs,
 * TTL) stay, this router's own NAT does not, so the sender recognises its datagram and no inside
 * address leaks out. Never installed as a flow: later packets of the same flow must each get their
 * own answer (or none).
 */
export function sendIcmpError(w: Walker, routerIn: Port, kind: IcmpErrorKind, reason: string, mtu?: number): void {
  const ctx = w.ctx;
  const m = ctx.match;
  ctx.installFlow = false;
  w.drop(reason, true);
  const why = whyNoError(m, kind);
  if (why !== undefined) {
    if (ctx.tracing) ctx.trace.push(`no ICMP error: ${why}`);
    return;
  }
  const v6 = m.peek(Field.EthType) === ETHERTYPE_IPV6;
  const src = portSourceAddress(routerIn, m.peekIp(Field.IpSrc));
  const srcMac = portMac(routerIn);
  const quoted = w.currentFrame(w.routerEntryActions);
  if (src === undefined || srcMac === undefined || quoted === undefined) {
    if (ctx.tracing) ctx.trace.push(`no ICMP error: port ${routerIn.id} has no ${v6 ? 'IPv6' : 'IPv4'} address or MAC, or the packet cannot be rebuilt`);
    return;
  }
  const dstMac = m.peek(Field.EthSrc);
  const [type, code] = (v6 ? TYPE_CODE6 : TYPE_CODE4)[kind];
  const frame = v6
    ? buildIcmp6Error(quoted, type, code, src as Ip6, srcMac, dstMac, mtu)
    : buildIcmp4Error(quoted, type, code, src as Ip4, srcMac, dstMac, mtu);
  if (w.generate(routerIn.id, frame) && ctx.tracing) ctx.trace.push(`ICMP error ${type}/${code} out of port ${routerIn.id}`);
}
