// Flow-state keys for conntrack and NAT, built from the packet's 5-tuple alone (DESIGN: Flow state,
// "the key must always be derivable from the packet"), plus the connection hash used for NAT choices.
import {
  ETHERTYPE_IPV4, ETHERTYPE_IPV6, Field, type FlowMatch, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP,
  type IpAddr, isIcmpError, isIp6,
} from '../packet/index.js';
import type { Id } from '../topology/types.js';
import { isEchoType } from './icmp-inner.js';

/**
 * How the transport "ports" of a tuple were obtained: TCP/UDP ports; an ICMP echo id (used as both
 * ports, so a request and its reply have mirrored tuples); an ICMP error (ports 0, the embedded
 * datagram carries the real tuple); anything else (ports 0).
 */
export type L4Kind = 'ports' | 'echo' | 'icmpError' | 'other';

/** The connection identity of a packet at one point of its walk (after rewrites made so far). */
export interface FlowTuple {
  readonly v6: boolean;
  readonly proto: number;
  readonly src: IpAddr;
  readonly sport: number;
  readonly dst: IpAddr;
  readonly dport: number;
  readonly l4: L4Kind;
}

export function isIcmpProto(proto: number, v6: boolean): boolean {
  return v6 ? proto === IPPROTO_ICMPV6 : proto === IPPROTO_ICMP;
}

/**
 * Reads the 5-tuple through the match (marking exactly the fields it depends on as seen).
 * `undefined` for non-IP packets (ARP and other ethertypes have no connection).
 */
export function readFlowTuple(m: FlowMatch): FlowTuple | undefined {
  const et = m.get(Field.EthType);
  if (et !== ETHERTYPE_IPV4 && et !== ETHERTYPE_IPV6) return undefined;
  const v6 = et === ETHERTYPE_IPV6;
  const proto = m.get(Field.IpProto);
  const src = m.getIp(Field.IpSrc);
  const dst = m.getIp(Field.IpDst);
  if (proto === IPPROTO_TCP || proto === IPPROTO_UDP) {
    return { v6, proto, src, sport: m.get(Field.L4Src), dst, dport: m.get(Field.L4Dst), l4: 'ports' };
  }
  if (isIcmpProto(proto, v6)) {
    const type = m.get(Field.L4Src);
    if (isEchoType(type, v6)) {
      const id = m.get(Field.IcmpId);
      return { v6, proto, src, sport: id, dst, dport: id, l4: 'echo' };
    }
    return { v6, proto, src, sport: 0, dst, dport: 0, l4: isIcmpError(type, v6) ? 'icmpError' : 'other' };
  }
  return { v6, proto, src, sport: 0, dst, dport: 0, l4: 'other' };
}

/** Whether the packet is an ICMP/ICMPv6 error, reading EthType, IpProto and (for ICMP) the type. */
export function readIsIcmpError(m: FlowMatch): boolean {
  const et = m.get(Field.EthType);
  if (et !== ETHERTYPE_IPV4 && et !== ETHERTYPE_IPV6) return false;
  const v6 = et === ETHERTYPE_IPV6;
  if (!isIcmpProto(m.get(Field.IpProto), v6)) return false;
  return isIcmpError(m.get(Field.L4Src), v6);
}

/** The tuple of a reply to `t`: addresses and ports swapped. */
export function reverseTuple(t: FlowTuple): FlowTuple {
  return { v6: t.v6, proto: t.proto, src: t.dst, sport: t.dport, dst: t.src, dport: t.sport, l4: t.l4 };
}

/** An address as it appears in a key: IPv4 in decimal, IPv6 as "x" + hex (never confused, no ':'). */
export function ipKeyText(a: IpAddr): string {
  return isIp6(a) ? `x${a.toString(16)}` : `${a}`;
}

function tupleText(t: FlowTuple): string {
  return `${t.proto}:${ipKeyText(t.src)}:${t.sport}:${ipKeyText(t.dst)}:${t.dport}`;
}

/**
 * Conntrack key: "<deviceId>:<proto>:<src>:<sport>:<dst>:<dport>" for the tuple as seen at the
 * device doing the tracking (ICMP echo: the id in both port places). Flows tag it as "ct:<key>".
 */
export function conntrackKey(deviceId: Id, t: FlowTuple): string {
  return `${deviceId}:${tupleText(t)}`;
}

/**
 * NAT key kinds. fwd-*: the tuple of a packet of the connection's first direction before the
 * translation; rev-*: the tuple of a reply as it arrives at the device (after the peer answered the
 * translated packet). Values (NatBinding): fwd = the translated address/port; rev = the original.
 */
export type NatKeyKind = 'fwd-snat' | 'rev-snat' | 'fwd-dnat' | 'rev-dnat';

/** NAT key: "<kind>:<deviceId>:<proto>:<src>:<sport>:<dst>:<dport>". Flows tag it as "nat:<key>". */
export function natKey(kind: NatKeyKind, deviceId: Id, t: FlowTuple): string {
  return `${kind}:${deviceId}:${tupleText(t)}`;
}

/** The flow tag of a conntrack key: flows that decided on it (either direction) carry it. */
export function ctTag(key: string): string {
  return `ct:${key}`;
}

/** The flow tag of a NAT key: flows that created, used, or looked up and missed the binding. */
export function natTag(key: string): string {
  return `nat:${key}`;
}

function mix(h: number, v: number): number {
  h = Math.imul(h ^ (v >>> 0), 0x01000193);
  return (h ^ (h >>> 15)) >>> 0;
}

function mixIp(h: number, a: IpAddr): number {
  if (!isIp6(a)) return mix(h, a);
  const w = new Float64Array(4);
  w[0] = Number((a >> 96n) & 0xffffffffn);
  w[1] = Number((a >> 64n) & 0xffffffffn);
  w[2] = Number((a >> 32n) & 0xffffffffn);
  w[3] = Number(a & 0xffffffffn);
  for (let i = 0; i < 4; i++) h = mix(h, w[i]);
  return h;
}

/**
 * Connection hash (FNV-1a style mixing over the tuple): the same on every host for one connection,
 * so NAT target choices and ECMP picks agree wherever the flow is simulated.
 */
export function flowHash(t: FlowTuple): number {
  let h = 0x811c9dc5;
  h = mix(h, t.proto);
  h = mixIp(h, t.src);
  h = mix(h, t.sport);
  h = mixIp(h, t.dst);
  h = mix(h, t.dport);
  return h;
}

/** Second independent draw from one hash (e.g. a port after an address was chosen from `h`). */
export function rehash(h: number): number {
  return mix(mix(0x9e3779b9, h), h >>> 16);
}
