// FlowMatch: every header field a flow can match on, held as a fixed layout of numeric words,
// with a record of which fields the simulation read (the megaflow mask) and which it rewrote.
// DESIGN: Flows ("the simulator reads packet fields through a match that records which fields were seen").
import { type IpAddr, type Mac, ip6ToWords, wordsToIp6, isIp6 } from './addr.js';

/** Logical fields; each owns one or more words of the key. The numbers are bit positions in a mask. */
export const Field = {
  InPort: 0,
  TunnelKey: 1,
  EthSrc: 2,
  EthDst: 3,
  /** The ethertype after any VLAN tags (ETHERTYPE_IPV4, ETHERTYPE_ARP, ...). */
  EthType: 4,
  /** Outer 802.1Q VLAN id, or VLAN_NONE. */
  VlanId: 5,
  /** Second (inner) 802.1Q VLAN id of a stacked frame, or VLAN_NONE. */
  InnerVlanId: 6,
  /** IP protocol number; for ARP, the ARP opcode (as Open vSwitch does). */
  IpProto: 7,
  IpTos: 8,
  /**
   * TTL / hop limit clamped to IP_TTL_CLAMP (= that or more): exact for every value a router of
   * the walk could see expire, so that a flow decides expiry alike for every packet it matches.
   */
  IpTtl: 9,
  /** FRAG_NONE, FRAG_FIRST or FRAG_LATER. */
  IpFrag: 10,
  /** IPv4/IPv6 source; for ARP, the sender protocol address. */
  IpSrc: 11,
  /** IPv4/IPv6 destination; for ARP, the target protocol address. */
  IpDst: 12,
  /** TCP/UDP source port; ICMP/ICMPv6 type. */
  L4Src: 13,
  /** TCP/UDP destination port; ICMP/ICMPv6 code. */
  L4Dst: 14,
  /** ICMP/ICMPv6 echo identifier (the "port" of an echo flow for NAT and conntrack). */
  IcmpId: 15,
  TcpFlags: 16,
  /** ARP sender hardware address; IPv6 ND source link-layer address option. */
  ArpSha: 17,
  /** ARP target hardware address; IPv6 ND target link-layer address option. */
  ArpTha: 18,
  /** IPv6 neighbour discovery target address. */
  NdTarget: 19,
} as const;
export type Field = (typeof Field)[keyof typeof Field];
export const FIELD_COUNT = 20;
export const FIELD_NAMES: readonly string[] = Object.keys(Field);

/** Word offset and width of each field in a key. Addresses take 4 words (IPv4 uses the first only). */
export const FIELD_OFFSET: readonly number[] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 15, 19, 20, 21, 22, 23, 24, 25];
export const FIELD_WIDTH: readonly number[] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4, 4, 1, 1, 1, 1, 1, 1, 4];
export const KEY_WORDS = 29;

export const VLAN_NONE = 0x1000;
/**
 * The key's TTL class for "this many or more". The simulator's loop guard lets a walk enter at most
 * 12 devices, so at most 11 routers decrement before the last one judges the TTL: a packet with
 * TTL 13 or more never expires on a walk, and every lower value is kept exact (a unit test ties
 * this to MAX_DEVICES_TRAVERSED). Traceroute's low TTLs get flows of their own.
 */
export const IP_TTL_CLAMP = 13;

export const FRAG_NONE = 0;
export const FRAG_FIRST = 1;
export const FRAG_LATER = 2;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_QINQ = 0x88a8;
export const ETHERTYPE_IPV6 = 0x86dd;

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;

/** A mask: bit i set = Field i is matched exactly. */
export type FieldMask = number;

export function fieldBit(f: Field): FieldMask {
  return 1 << f;
}

/** A header rewrite recorded by the simulation, applied to the frame by packet/modify. */
export type HeaderModification =
  | { readonly kind: 'setField'; readonly field: Field; readonly value: number | bigint }
  | { readonly kind: 'decTtl' }
  | { readonly kind: 'pushVlan'; readonly vlanId: number }
  | { readonly kind: 'popVlan' }
  /** Rewrites a field of the IP header (and L4 ports / ICMP id) embedded in an ICMP error. */
  | { readonly kind: 'setInnerField'; readonly field: Field; readonly value: number | bigint };

/**
 * The packet's header fields as the simulation sees them. `orig` is the frame as it arrived;
 * `cur` reflects rewrites made so far. Reading a field that was not rewritten marks it seen:
 * the installed flow matches only seen fields of `orig`.
 */
export class FlowMatch {
  readonly orig: Float64Array;
  readonly cur: Float64Array;
  seen: FieldMask = fieldBit(Field.InPort);
  modified: FieldMask = 0;

  constructor(key: Float64Array) {
    this.orig = key;
    this.cur = key.slice();
  }

  static empty(): FlowMatch {
    const k = new Float64Array(KEY_WORDS);
    k[FIELD_OFFSET[Field.VlanId]] = VLAN_NONE;
    k[FIELD_OFFSET[Field.InnerVlanId]] = VLAN_NONE;
    return new FlowMatch(k);
  }

  /** Reads a one-word field and records the read. */
  get(f: Field): number {
    if ((this.modified & (1 << f)) === 0) this.seen |= 1 << f;
    return this.cur[FIELD_OFFSET[f]];
  }

  /** Reads a field without recording it (for logging, tracing and building generated packets). */
  peek(f: Field): number {
    return this.cur[FIELD_OFFSET[f]];
  }

  /** Rewrites a one-word field (the caller records the HeaderModification). */
  set(f: Field, v: number): void {
    this.modified |= 1 << f;
    this.cur[FIELD_OFFSET[f]] = v;
  }

  /** Reads an address field (IpSrc, IpDst, NdTarget) as IPv4 number or IPv6 bigint. */
  getIp(f: Field): IpAddr {
    const et = this.get(Field.EthType);
    if ((this.modified & (1 << f)) === 0) this.seen |= 1 << f;
    return this.readIp(f, et);
  }

  peekIp(f: Field): IpAddr {
    return this.readIp(f, this.peek(Field.EthType));
  }

  private readIp(f: Field, ethType: number): IpAddr {
    const off = FIELD_OFFSET[f];
    if (ethType === ETHERTYPE_IPV6) return wordsToIp6(this.cur, off);
    return this.cur[off];
  }

  setIp(f: Field, a: IpAddr): void {
    this.modified |= 1 << f;
    const off = FIELD_OFFSET[f];
    if (isIp6(a)) ip6ToWords(a, this.cur, off);
    else {
      this.cur[off] = a;
      this.cur[off + 1] = 0;
      this.cur[off + 2] = 0;
      this.cur[off + 3] = 0;
    }
  }

  get ethSrc(): Mac { return this.get(Field.EthSrc); }
  get ethDst(): Mac { return this.get(Field.EthDst); }
  get ethType(): number { return this.get(Field.EthType); }
  get vlanId(): number { return this.get(Field.VlanId); }
  get ipProto(): number { return this.get(Field.IpProto); }
  get ipSrc(): IpAddr { return this.getIp(Field.IpSrc); }
  get ipDst(): IpAddr { return this.getIp(Field.IpDst); }
  get l4Src(): number { return this.get(Field.L4Src); }
  get l4Dst(): number { return this.get(Field.L4Dst); }
  get isIp4(): boolean { return this.ethType === ETHERTYPE_IPV4; }
  get isIp6(): boolean { return this.ethType === ETHERTYPE_IPV6; }
  get isArp(): boolean { return this.ethType === ETHERTYPE_ARP; }

  /** A copy for a branch of the simulation (a flood to several ports, a generated packet). */
  fork(): FlowMatch {
    const m = new FlowMatch(this.orig);
    m.cur.set(this.cur);
    m.seen = this.seen;
    m.modified = this.modified;
    return m;
  }

  /** Folds a branch's reads back into this match (every branch's reads belong to the one flow). */
  absorbSeen(other: FlowMatch): void {
    this.seen |= other.seen;
  }
}

/** Writes a one-word field into a raw key (used by codecs and tests to build keys). */
export function setKeyField(key: Float64Array, f: Field, v: number): void {
  key[FIELD_OFFSET[f]] = v;
}

export function setKeyIp(key: Float64Array, f: Field, a: IpAddr): void {
  const off = FIELD_OFFSET[f];
  if (isIp6(a)) ip6ToWords(a, key, off);
  else key[off] = a;
}
