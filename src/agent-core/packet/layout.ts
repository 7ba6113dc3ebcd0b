// FrameLayout: where each header of a frame starts, found without allocating, for the per-packet fast
// path (extractFlowKey, applyModifications). Its validity rules are decodeFrame's; tests hold the two equal.
import { ARP_HTYPE_ETHERNET, IPPROTO_AH, IPPROTO_DSTOPTS, IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_ROUTING, ND_OPT_SOURCE_LINKADDR, ND_OPT_TARGET_LINKADDR } from './constants.js';
import { type DecodeError, DecodeLayer, DecodeReason, decodeError } from './errors.js';
import {
  ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN, FRAG_FIRST, FRAG_LATER, FRAG_NONE,
  IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP,
} from './flow-match.js';
import { isIcmpError } from './icmp.js';
import { isNdNsNa } from './icmp6.js';
import { routingFinalDstOffset } from './ipv6.js';
import { u16 } from './wire.js';

export class FrameLayout {
  vlanCount = 0;
  /** Offsets of the outer and inner tag (at its TPID), -1 when absent. */
  vlan0 = -1;
  vlan1 = -1;
  etherType = 0;
  /** Start of the ARP packet / IP header (or of the payload for another ethertype). */
  l3 = 0;
  /** End of the ARP packet / IP datagram (by its length field); later bytes are padding. */
  l3End = 0;
  /** 4, 6, or 0 when not IP. */
  ipVersion = 0;
  /** IP protocol after any IPv6 extension headers. */
  proto = 0;
  frag = FRAG_NONE;
  /** Start of the upper-layer header; -1 for a non-first fragment. */
  l4 = -1;
  /** IPv6: the address the pseudo-header uses as destination. */
  pseudoDst = -1;
  /** ND: offsets of the MAC in the 8-byte source / target link-layer options, -1 when absent. */
  ndSll = -1;
  ndTll = -1;

  /**
   * What an MTU check compares: the IP datagram's length by its header (IPv4 total length, IPv6
   * 40 + payload length) when routers may not fragment it (IPv6, or IPv4 with DF); 0 otherwise
   * (not IP, or IPv4 without DF, which goes on whole). `b` is the frame this layout was parsed from.
   */
  unfragmentableLength(b: Uint8Array): number {
    if (this.ipVersion === 6) return this.l3End - this.l3;
    if (this.ipVersion === 4 && (b[this.l3 + 6] & IP4_FLAG_DF) !== 0) return this.l3End - this.l3;
    return 0;
  }
}

/** IPv4 "don't fragment", in the flags byte (RFC 791). */
const IP4_FLAG_DF = 0x40;

function isTpid(t: number): boolean {
  return t === ETHERTYPE_VLAN || t === ETHERTYPE_QINQ;
}

/** Fills `L` from the frame; false when the frame is malformed (decodeFrame returns a DecodeError). */
export function parseLayout(b: Uint8Array, L: FrameLayout): boolean {
  L.vlanCount = 0;
  L.vlan0 = -1;
  L.vlan1 = -1;
  L.ipVersion = 0;
  L.proto = 0;
  L.frag = FRAG_NONE;
  L.l4 = -1;
  L.pseudoDst = -1;
  L.ndSll = -1;
  L.ndTll = -1;
  const len = b.length;
  if (len < 14) return false;
  let off = 12;
  let type = u16(b, off);
  while (L.vlanCount < 2 && isTpid(type)) {
    if (len < off + 6) return false;
    if (L.vlanCount === 0) L.vlan0 = off;
    else L.vlan1 = off;
    L.vlanCount++;
    off += 4;
    type = u16(b, off);
  }
  off += 2;
  L.etherType = type;
  L.l3 = off;
  L.l3End = len;
  if (type === ETHERTYPE_ARP) {
    if (len - off < 28) return false;
    if (u16(b, off) !== ARP_HTYPE_ETHERNET || u16(b, off + 2) !== ETHERTYPE_IPV4 || b[off + 4] !== 6 || b[off + 5] !== 4) return false;
    L.l3End = off + 28;
    return true;
  }
  if (type === ETHERTYPE_IPV4) return parseIp4(b, off, len, L);
  if (type === ETHERTYPE_IPV6) return parseIp6(b, off, len, L);
  return true;
}

function parseIp4(b: Uint8Array, off: number, end: number, L: FrameLayout): boolean {
  if (end - off < 20 || b[off] >> 4 !== 4) return false;
  const hl = (b[off] & 0xf) * 4;
  const total = u16(b, off + 2);
  if (hl < 20 || total < hl || total > end - off) return false;
  L.ipVersion = 4;
  L.l3End = off + total;
  L.proto = b[off + 9];
  const fw = u16(b, off + 6);
  if ((fw & 0x1fff) !== 0) {
    L.frag = FRAG_LATER;
    return true;
  }
  if ((fw & 0x2000) !== 0) L.frag = FRAG_FIRST;
  L.l4 = off + hl;
  return parseUpper(b, L.l4, L.l3End, L);
}

function parseIp6(b: Uint8Array, off: number, end: number, L: FrameLayout): boolean {
  if (end - off < 40 || b[off] >> 4 !== 6) return false;
  const plen = u16(b, off + 4);
  if (plen > end - off - 40) return false;
  L.ipVersion = 6;
  const dEnd = off + 40 + plen;
  L.l3End = dEnd;
  L.pseudoDst = off + 24;
  let nh = b[off + 6];
  let p = off + 40;
  for (;;) {
    if (nh === IPPROTO_HOPOPTS || nh === IPPROTO_ROUTING || nh === IPPROTO_DSTOPTS || nh === IPPROTO_AH) {
      if (dEnd - p < 2) return false;
      const hl = nh === IPPROTO_AH ? (b[p + 1] + 2) * 4 : (b[p + 1] + 1) * 8;
      if (hl > dEnd - p) return false;
      if (nh === IPPROTO_ROUTING) {
        const fd = routingFinalDstOffset(b, p, hl);
        if (fd >= 0) L.pseudoDst = fd;
      }
      nh = b[p];
      p += hl;
    } else if (nh === IPPROTO_FRAGMENT) {
      if (dEnd - p < 8) return false;
      const fw = u16(b, p + 2);
      nh = b[p];
      p += 8;
      if (fw >>> 3 !== 0) {
        L.frag = FRAG_LATER;
        L.proto = nh;
        return true;
      }
      if ((fw & 1) !== 0) L.frag = FRAG_FIRST;
    } else {
      break;
    }
  }
  L.proto = nh;
  L.l4 = p;
  return parseUpper(b, p, dEnd, L);
}

function parseUpper(b: Uint8Array, o: number, end: number, L: FrameLayout): boolean {
  const avail = end - o;
  switch (L.proto) {
    case IPPROTO_TCP: {
      if (avail < 20) return false;
      const hl = (b[o + 12] >> 4) * 4;
      return hl >= 20 && hl <= avail;
    }
    case IPPROTO_UDP: {
      if (avail < 8) return false;
      if (L.frag !== FRAG_NONE) return true;
      const ulen = u16(b, o + 4);
      return ulen >= 8 && ulen <= avail;
    }
    case IPPROTO_ICMP:
      return L.ipVersion !== 4 || avail >= 8;
    case IPPROTO_ICMPV6:
      if (L.ipVersion !== 6) return true;
      if (avail < 8) return false;
      return isNdNsNa(b[o]) ? parseNdOptions(b, o, end, L) : true;
    default:
      return true;
  }
}

function parseNdOptions(b: Uint8Array, o: number, end: number, L: FrameLayout): boolean {
  if (end - o < 24) return false;
  for (let p = o + 24; p < end; ) {
    if (end - p < 2) return false;
    const len = b[p + 1] * 8;
    if (len === 0 || len > end - p) return false;
    if (len === 8) {
      if (b[p] === ND_OPT_SOURCE_LINKADDR) {
        if (L.ndSll >= 0) return false;
        L.ndSll = p + 2;
      } else if (b[p] === ND_OPT_TARGET_LINKADDR) {
        if (L.ndTll >= 0) return false;
        L.ndTll = p + 2;
      }
    }
    p += len;
  }
  return true;
}

/** Offsets of the datagram embedded in an ICMP/ICMPv6 error (RFC 792, RFC 4443 2.1). */
export class InnerLayout {
  l3 = -1;
  ipVersion = 0;
  proto = 0;
  /** Start of the embedded upper-layer header (at least 8 bytes of it present); -1 for a non-first fragment. */
  l4 = -1;
  /** End of the ICMP message, which bounds the embedded datagram. */
  end = 0;
  /** IPv6: the address the embedded datagram's pseudo-header uses as destination. */
  pseudoDst = -1;
}

/**
 * Fills `IL` for the ICMP error whose outer layout is `L`. The embedded datagram is usually cut short,
 * so its length fields are not checked; its IP header (and IPv6 extension headers) and the first 8
 * bytes of a TCP/UDP/ICMP header must be present.
 */
export function parseInnerLayout(b: Uint8Array, L: FrameLayout, IL: InnerLayout): DecodeError | undefined {
  const icmpProto = L.ipVersion === 6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
  if (L.ipVersion === 0 || L.l4 < 0 || L.proto !== icmpProto || !isIcmpError(b[L.l4], L.ipVersion === 6)) {
    return decodeError(DecodeLayer.IcmpInner, DecodeReason.NotIcmpError, L.l4 < 0 ? L.l3 : L.l4);
  }
  const s = L.l4 + 8;
  const end = L.l3End;
  IL.l3 = s;
  IL.end = end;
  IL.ipVersion = L.ipVersion;
  IL.l4 = -1;
  IL.pseudoDst = -1;
  let p: number;
  if (L.ipVersion === 4) {
    if (end - s < 20) return decodeError(DecodeLayer.IcmpInner, DecodeReason.Truncated, s);
    if (b[s] >> 4 !== 4) return decodeError(DecodeLayer.IcmpInner, DecodeReason.BadVersion, s);
    const hl = (b[s] & 0xf) * 4;
    if (hl < 20) return decodeError(DecodeLayer.IcmpInner, DecodeReason.BadHeaderLength, s);
    if (hl > end - s) return decodeError(DecodeLayer.IcmpInner, DecodeReason.Truncated, s);
    IL.proto = b[s + 9];
    if ((u16(b, s + 6) & 0x1fff) !== 0) return undefined;
    p = s + hl;
  } else {
    if (end - s < 40) return decodeError(DecodeLayer.IcmpInner, DecodeReason.Truncated, s);
    if (b[s] >> 4 !== 6) return decodeError(DecodeLayer.IcmpInner, DecodeReason.BadVersion, s);
    IL.pseudoDst = s + 24;
    let nh = b[s + 6];
    p = s + 40;
    for (;;) {
      if (nh === IPPROTO_HOPOPTS || nh === IPPROTO_ROUTING || nh === IPPROTO_DSTOPTS || nh === IPPROTO_AH) {
        if (end - p < 2) return decodeError(DecodeLayer.IcmpInner, DecodeReason.Truncated, p);
        const hl = nh === IPPROTO_AH ? (b[p + 1] + 2) * 4 : (b[p + 1] + 1) * 8;
        if (hl > end - p) return decodeError(DecodeLayer.IcmpInner, DecodeReason.Truncated, p);
        if (nh === IPPROTO_ROUTING) {
          const fd = routingFinalDstOffset(b, p, hl);
          if (fd >= 0) IL.pseudoDst = fd;
        }
        nh = b[p];
        p += hl;
      } else if (nh === IPPROTO_FRAGMENT) {
        if (end - p < 8) return decodeError(DecodeLayer.IcmpInner, DecodeReason.Truncated, p);
        const fw = u16(b, p + 2);
        nh = b[p];
        p += 8;
        if (fw >>> 3 !== 0) {
          IL.proto = nh;
          return undefined;
        }
      } else {
        break;
      }
    }
    IL.proto = nh;
  }
  const pr = IL.proto;
  if (pr === IPPROTO_TCP || pr === IPPROTO_UDP || pr === icmpProto) {
    if (end - p < 8) return decodeError(DecodeLayer.IcmpInner, DecodeReason.Truncated, p);
  }
  IL.l4 = p;
  return undefined;
}
