// Hand-made valid frames for the packet tests (each built by encodeFrame or a builder, never by hand bytes).
import {
  type Icmp4Fields, type Ip6ExtHeader, type L4Fields, type NdOption, type TcpFields, type UdpFields, type VlanTag, EMPTY_BYTES, ETHERTYPE_IPV4, ETHERTYPE_IPV6,
  IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, ND_NEIGHBOR_SOLICIT, TCP_ACK, TCP_SYN, echoRest, encodeFrame,
  encodeNdBody, parseIp4, parseIp6,
} from '../../../src/agent-core/packet/index.js';

export const MAC_A = 0x020000000001;
export const MAC_B = 0x020000000002;
export const IP_A = parseIp4('10.0.0.1')!;
export const IP_B = parseIp4('192.168.1.20')!;
export const IP6_A = parseIp6('2001:db8::1')!;
export const IP6_B = parseIp6('2001:db8:1::20')!;

export interface Ip4Opts {
  readonly vlans?: readonly VlanTag[];
  readonly mf?: boolean;
  readonly fragOffset?: number;
  readonly ttl?: number;
  readonly tos?: number;
  readonly options?: Uint8Array;
  readonly src?: number;
  readonly dst?: number;
  readonly ethDst?: number;
}

export function ip4Frame(proto: number, l4: L4Fields, o: Ip4Opts = {}): Uint8Array {
  return encodeFrame({
    eth: { dst: o.ethDst ?? MAC_B, src: MAC_A, etherType: ETHERTYPE_IPV4 },
    vlans: o.vlans ?? [],
    ip4: {
      tos: o.tos ?? 0, id: 0x1234, df: false, mf: o.mf ?? false, fragOffset: o.fragOffset ?? 0, ttl: o.ttl ?? 64, proto,
      src: o.src ?? IP_A, dst: o.dst ?? IP_B, options: o.options ?? EMPTY_BYTES,
    },
    l4,
  });
}

export const tcp = (payload = new Uint8Array([1, 2, 3, 4, 5])): TcpFields => ({
  kind: 'tcp', srcPort: 40000, dstPort: 443, seq: 1000, ack: 2000, flags: TCP_SYN | TCP_ACK, window: 65535, urgent: 0,
  options: new Uint8Array([2, 4, 5, 0xb4]), payload,
});
export const udp = (payload = new Uint8Array([7, 7, 7])): UdpFields => ({ kind: 'udp', srcPort: 5353, dstPort: 53, payload });
export const echo4 = (id = 0x4242, seq = 7, type = 8): Icmp4Fields => ({
  kind: 'icmp4', type, code: 0, rest: echoRest(id, seq), data: new Uint8Array([0xde, 0xad, 0xbe, 0xef]),
});

export const tcp4Frame = (o: Ip4Opts = {}): Uint8Array => ip4Frame(IPPROTO_TCP, tcp(), o);
export const udp4Frame = (o: Ip4Opts = {}): Uint8Array => ip4Frame(IPPROTO_UDP, udp(), o);
export const echo4Frame = (o: Ip4Opts = {}): Uint8Array => ip4Frame(IPPROTO_ICMP, echo4(), o);

export interface Ip6Opts {
  readonly vlans?: readonly VlanTag[];
  readonly ext?: readonly Ip6ExtHeader[];
  readonly hopLimit?: number;
  readonly tc?: number;
  readonly src?: bigint;
  readonly dst?: bigint;
  readonly ethDst?: number;
}

export function ip6Frame(proto: number, l4: L4Fields, o: Ip6Opts = {}): Uint8Array {
  return encodeFrame({
    eth: { dst: o.ethDst ?? MAC_B, src: MAC_A, etherType: ETHERTYPE_IPV6 },
    vlans: o.vlans ?? [],
    ip6: {
      tc: o.tc ?? 0, flowLabel: 0x12345, hopLimit: o.hopLimit ?? 64, src: o.src ?? IP6_A, dst: o.dst ?? IP6_B,
      extHeaders: o.ext ?? [], proto,
    },
    l4,
  });
}

export const tcp6Frame = (o: Ip6Opts = {}): Uint8Array => ip6Frame(IPPROTO_TCP, tcp(), o);
export const udp6Frame = (o: Ip6Opts = {}): Uint8Array => ip6Frame(IPPROTO_UDP, udp(), o);
export const echo6Frame = (o: Ip6Opts = {}, type = 128): Uint8Array =>
  ip6Frame(IPPROTO_ICMPV6, { kind: 'icmp6', type, code: 0, rest: echoRest(0x5151, 3), data: new Uint8Array([1, 2, 3]) }, o);

export function nsFrame(target: bigint, options: readonly NdOption[], o: Ip6Opts = {}): Uint8Array {
  return ip6Frame(
    IPPROTO_ICMPV6,
    { kind: 'icmp6', type: ND_NEIGHBOR_SOLICIT, code: 0, rest: 0, data: encodeNdBody(target, options) },
    { hopLimit: 255, ...o },
  );
}

export const hopByHop = (n = 6): Ip6ExtHeader => ({ kind: 'options', type: 0, data: new Uint8Array(n) });
export const dstOpts = (n = 6): Ip6ExtHeader => ({ kind: 'options', type: 60, data: new Uint8Array(n) });
export const fragHdr = (fragOffset: number, more: boolean): Ip6ExtHeader => ({ kind: 'fragment', fragOffset, more, id: 0xabcdef });

/** A copy with `f` applied (for corrupting one field of a valid frame). */
export function patched(frame: Uint8Array, f: (b: Uint8Array) => void): Uint8Array {
  const b = frame.slice();
  f(b);
  return b;
}

export function hex(s: string): Uint8Array {
  return new Uint8Array((s.replace(/\s+/g, '').match(/../g) ?? []).map((h) => parseInt(h, 16)));
}
