// ICMP errors: building them as a router must (RFC 1812 4.3.2, RFC 4443 2.4) and reading the datagram an
// error carries (for NAT and conntrack to relate it to its flow). DESIGN: Virtual topology, Router.
import type { Ip4, Ip6, IpAddr, Mac } from './addr.js';
import { isMulticastMac } from './addr.js';
import { ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, ICMP6_PACKET_TOO_BIG, ICMP6_PARAM_PROB, IPV4_MIN_MTU, IPV6_MIN_MTU, ND_REDIRECT } from './constants.js';
import { decodeFrame } from './decode.js';
import { encodeFrame } from './encode.js';
import { type DecodeError, DecodeLayer, DecodeReason, decodeError, isDecodeError } from './errors.js';
import { ethernetHeaderLength } from './ethernet.js';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from './flow-match.js';
import { ICMP_HEADER_LEN, isIcmp4Echo, isIcmpError } from './icmp.js';
import { ICMP6_HEADER_LEN, isIcmp6Echo } from './icmp6.js';
import { IP4_MIN_HEADER_LEN, isIp4MulticastOrBroadcast, isIp4UnicastSource } from './ipv4.js';
import { IP6_HEADER_LEN, isIp6Multicast } from './ipv6.js';
import { FrameLayout, InnerLayout, parseInnerLayout, parseLayout } from './layout.js';
import { EMPTY_BYTES, readIp6Addr, u16, u32 } from './wire.js';

/** TTL / hop limit of the messages the router originates. */
export const ORIGINATED_TTL = 64;
/** RFC 1812 4.3.2.5: precedence 6 (internetwork control) for ICMP errors. */
export const ICMP_ERROR_TOS = 0xc0;

/** The flow an ICMP error is about, read from the datagram it embeds (that datagram's own direction). */
export interface IcmpErrorInner {
  readonly ipSrc: IpAddr;
  readonly ipDst: IpAddr;
  readonly proto: number;
  /** TCP/UDP ports; ICMP type and code (as in FlowMatch L4Src/L4Dst); 0 for a non-first fragment. */
  readonly l4Src: number;
  readonly l4Dst: number;
  /** Echo identifier of an embedded echo request/reply, else 0. */
  readonly icmpId: number;
}

const OUTER = new FrameLayout();
const INNER = new InnerLayout();

export function parseIcmpErrorInner(frame: Uint8Array): IcmpErrorInner | DecodeError {
  if (!parseLayout(frame, OUTER)) {
    const d = decodeFrame(frame, { verifyChecksums: false });
    return isDecodeError(d) ? d : decodeError(DecodeLayer.IcmpInner, DecodeReason.Truncated, 0);
  }
  const err = parseInnerLayout(frame, OUTER, INNER);
  if (err) return err;
  const s = INNER.l3;
  const v6 = INNER.ipVersion === 6;
  const ipSrc: IpAddr = v6 ? readIp6Addr(frame, s + 8) : u32(frame, s + 12);
  const ipDst: IpAddr = v6 ? readIp6Addr(frame, s + 24) : u32(frame, s + 16);
  const proto = INNER.proto;
  const o = INNER.l4;
  let l4Src = 0;
  let l4Dst = 0;
  let icmpId = 0;
  if (o >= 0) {
    if (proto === IPPROTO_TCP || proto === IPPROTO_UDP) {
      l4Src = u16(frame, o);
      l4Dst = u16(frame, o + 2);
    } else if ((proto === IPPROTO_ICMP && !v6) || (proto === IPPROTO_ICMPV6 && v6)) {
      l4Src = frame[o];
      l4Dst = frame[o + 1];
      if (v6 ? isIcmp6Echo(frame[o]) : isIcmp4Echo(frame[o])) icmpId = u16(frame, o + 4);
    }
  }
  return { ipSrc, ipDst, proto, l4Src, l4Dst, icmpId };
}

function buildError(reason: DecodeReason, offset: number): DecodeError {
  return decodeError(DecodeLayer.Build, reason, offset);
}

/**
 * An ICMPv4 error about `original` (a whole frame), sent to its source from `srcIp`. It embeds the
 * original IP header and as much data as keeps the error within 576 bytes (RFC 1812 4.3.2.3); `mtu`
 * is the next-hop MTU of a fragmentation-needed error (RFC 1191). Refused, as RFC 1812 4.3.2.7 requires,
 * for an ICMP error, a non-first fragment, a multicast/broadcast destination or link-layer destination,
 * and a source that does not name one host.
 */
export function buildIcmp4Error(
  original: Uint8Array, type: number, code: number, srcIp: Ip4, srcMac: Mac, dstMac: Mac, mtu?: number,
): Uint8Array | DecodeError {
  const d = decodeFrame(original, { verifyChecksums: false });
  if (isDecodeError(d)) return d;
  if (!d.ip4) return buildError(DecodeReason.NotIp, 12);
  const ip = d.ip4;
  const l3 = ethernetHeaderLength(d.vlans.length);
  if (ip.fragOffset !== 0) return buildError(DecodeReason.NonFirstFragment, l3 + 6);
  if (d.l4?.kind === 'icmp4' && isIcmpError(d.l4.type, false)) return buildError(DecodeReason.AboutIcmpError, l3 + ip.headerLength);
  if (isIp4MulticastOrBroadcast(ip.dst) || isMulticastMac(d.eth.dst)) return buildError(DecodeReason.MulticastDestination, l3 + 16);
  if (!isIp4UnicastSource(ip.src)) return buildError(DecodeReason.BadSource, l3 + 12);
  const room = IPV4_MIN_MTU - IP4_MIN_HEADER_LEN - ICMP_HEADER_LEN;
  const data = original.subarray(l3, l3 + Math.min(ip.totalLength, room));
  const rest = type === ICMP_DEST_UNREACH && code === ICMP_FRAG_NEEDED && mtu !== undefined ? mtu & 0xffff : 0;
  return encodeFrame({
    eth: { dst: dstMac, src: srcMac, etherType: ETHERTYPE_IPV4 },
    ip4: {
      tos: ICMP_ERROR_TOS, id: 0, df: false, mf: false, fragOffset: 0, ttl: ORIGINATED_TTL, proto: IPPROTO_ICMP,
      src: srcIp, dst: ip.src, options: EMPTY_BYTES,
    },
    l4: { kind: 'icmp4', type: type & 0xff, code: code & 0xff, rest, data },
  });
}

/**
 * An ICMPv6 error about `original`, to its source from `srcIp`, embedding as much of the original packet
 * as fits in the minimum MTU of 1280 (RFC 4443 2.4(c)); `mtu` fills a packet-too-big message. Refused as
 * RFC 4443 2.4(e) requires: about an ICMPv6 error or a redirect, to a multicast address or link-layer
 * multicast/broadcast (except packet too big and parameter problem code 2), from an unspecified or
 * multicast source.
 */
export function buildIcmp6Error(
  original: Uint8Array, type: number, code: number, srcIp: Ip6, srcMac: Mac, dstMac: Mac, mtu?: number,
): Uint8Array | DecodeError {
  const d = decodeFrame(original, { verifyChecksums: false });
  if (isDecodeError(d)) return d;
  if (!d.ip6) return buildError(DecodeReason.NotIp, 12);
  const ip = d.ip6;
  const l3 = ethernetHeaderLength(d.vlans.length);
  if (d.l4?.kind === 'icmp6' && (isIcmpError(d.l4.type, true) || d.l4.type === ND_REDIRECT)) {
    return buildError(DecodeReason.AboutIcmpError, l3 + IP6_HEADER_LEN);
  }
  const multicastAllowed = type === ICMP6_PACKET_TOO_BIG || (type === ICMP6_PARAM_PROB && code === 2);
  if (!multicastAllowed && (isIp6Multicast(ip.dst) || isMulticastMac(d.eth.dst))) {
    return buildError(DecodeReason.MulticastDestination, l3 + 24);
  }
  if (ip.src === 0n || isIp6Multicast(ip.src)) return buildError(DecodeReason.BadSource, l3 + 8);
  const room = IPV6_MIN_MTU - IP6_HEADER_LEN - ICMP6_HEADER_LEN;
  const data = original.subarray(l3, l3 + Math.min(IP6_HEADER_LEN + ip.payloadLength, room));
  const rest = type === ICMP6_PACKET_TOO_BIG && mtu !== undefined ? mtu >>> 0 : 0;
  return encodeFrame({
    eth: { dst: dstMac, src: srcMac, etherType: ETHERTYPE_IPV6 },
    ip6: { tc: 0, flowLabel: 0, hopLimit: ORIGINATED_TTL, src: srcIp, dst: ip.src, extHeaders: [], proto: IPPROTO_ICMPV6 },
    l4: { kind: 'icmp6', type: type & 0xff, code: code & 0xff, rest, data },
  });
}
