// Frames a virtual router or bridge originates (DESIGN: Virtual topology): ARP request/reply (RFC 826),
// echo replies (RFC 792, RFC 4443 4.2), neighbour solicitation/advertisement (RFC 4861 4.3, 4.4, 7.2).
// All untagged; the simulation pushes a VLAN where a port needs one.
import type { Ip4, Ip6, Mac } from './addr.js';
import { MAC_BROADCAST } from './addr.js';
import {
  ARP_OP_REPLY, ARP_OP_REQUEST, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP6_ECHO_REPLY, ICMP6_ECHO_REQUEST, ND_NEIGHBOR_ADVERT,
  ND_NEIGHBOR_SOLICIT, ND_OPT_SOURCE_LINKADDR, ND_OPT_TARGET_LINKADDR,
} from './constants.js';
import { decodeFrame } from './decode.js';
import { encodeFrame } from './encode.js';
import { type DecodeError, DecodeLayer, DecodeReason, decodeError, isDecodeError } from './errors.js';
import { ethernetHeaderLength } from './ethernet.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, FRAG_NONE, IPPROTO_ICMP, IPPROTO_ICMPV6 } from './flow-match.js';
import { encodeNdBody, ndAdvertFlags, ndLinkAddrOption } from './icmp6.js';
import { ip6MulticastMac, isIp6Multicast, solicitedNodeAddress } from './ipv6.js';
import { ORIGINATED_TTL } from './icmp-errors.js';
import { EMPTY_BYTES } from './wire.js';

/** RFC 4861 7.1: ND messages are sent, and must be received, with hop limit 255 (never forwarded). */
export const ND_HOP_LIMIT = 255;

export function buildArpRequest(srcMac: Mac, srcIp: Ip4, targetIp: Ip4): Uint8Array {
  return encodeFrame({
    eth: { dst: MAC_BROADCAST, src: srcMac, etherType: ETHERTYPE_ARP },
    arp: { op: ARP_OP_REQUEST, sha: srcMac, spa: srcIp, tha: 0, tpa: targetIp },
  });
}

export function buildArpReply(srcMac: Mac, srcIp: Ip4, dstMac: Mac, dstIp: Ip4): Uint8Array {
  return encodeFrame({
    eth: { dst: dstMac, src: srcMac, etherType: ETHERTYPE_ARP },
    arp: { op: ARP_OP_REPLY, sha: srcMac, spa: srcIp, tha: dstMac, tpa: dstIp },
  });
}

function buildError(reason: DecodeReason, offset: number): DecodeError {
  return decodeError(DecodeLayer.Build, reason, offset);
}

/** The reply to an ICMPv4 echo request: addresses swapped, identifier, sequence and data kept. */
export function buildIcmp4EchoReply(request: Uint8Array, srcMac: Mac, dstMac: Mac): Uint8Array | DecodeError {
  const d = decodeFrame(request, { verifyChecksums: false });
  if (isDecodeError(d)) return d;
  const l3 = ethernetHeaderLength(d.vlans.length);
  if (!d.ip4 || d.l4?.kind !== 'icmp4' || d.l4.type !== ICMP_ECHO_REQUEST) return buildError(DecodeReason.NotEchoRequest, l3);
  // The data of a fragmented request is only whole after reassembly, which is not done here.
  if (d.ip4.frag !== FRAG_NONE) return buildError(DecodeReason.Fragment, l3 + 6);
  return encodeFrame({
    eth: { dst: dstMac, src: srcMac, etherType: ETHERTYPE_IPV4 },
    ip4: {
      tos: d.ip4.tos, id: d.ip4.id, df: false, mf: false, fragOffset: 0, ttl: ORIGINATED_TTL, proto: IPPROTO_ICMP,
      src: d.ip4.dst, dst: d.ip4.src, options: EMPTY_BYTES,
    },
    l4: { kind: 'icmp4', type: ICMP_ECHO_REPLY, code: 0, rest: d.l4.rest, data: d.l4.data },
  });
}

/**
 * The reply to an ICMPv6 echo request. A request to a multicast address is refused: its reply needs
 * a unicast source (RFC 4443 4.2), which the request does not give.
 */
export function buildIcmp6EchoReply(request: Uint8Array, srcMac: Mac, dstMac: Mac): Uint8Array | DecodeError {
  const d = decodeFrame(request, { verifyChecksums: false });
  if (isDecodeError(d)) return d;
  const l3 = ethernetHeaderLength(d.vlans.length);
  if (!d.ip6 || d.l4?.kind !== 'icmp6' || d.l4.type !== ICMP6_ECHO_REQUEST) return buildError(DecodeReason.NotEchoRequest, l3);
  if (d.ip6.frag !== FRAG_NONE) return buildError(DecodeReason.Fragment, l3 + 40);
  if (isIp6Multicast(d.ip6.dst)) return buildError(DecodeReason.MulticastDestination, l3 + 24);
  return encodeFrame({
    eth: { dst: dstMac, src: srcMac, etherType: ETHERTYPE_IPV6 },
    ip6: { tc: d.ip6.tc, flowLabel: 0, hopLimit: ORIGINATED_TTL, src: d.ip6.dst, dst: d.ip6.src, extHeaders: [], proto: IPPROTO_ICMPV6 },
    l4: { kind: 'icmp6', type: ICMP6_ECHO_REPLY, code: 0, rest: d.l4.rest, data: d.l4.data },
  });
}

/**
 * A neighbour solicitation for `targetIp`, to its solicited-node multicast address and 33:33 MAC, with
 * the source link-layer option (left out when `srcIp` is unspecified, as in duplicate address detection).
 */
export function buildNdSolicit(srcMac: Mac, srcIp: Ip6, targetIp: Ip6): Uint8Array {
  const dst = solicitedNodeAddress(targetIp);
  const options = srcIp === 0n ? [] : [ndLinkAddrOption(ND_OPT_SOURCE_LINKADDR, srcMac)];
  return encodeFrame({
    eth: { dst: ip6MulticastMac(dst), src: srcMac, etherType: ETHERTYPE_IPV6 },
    ip6: { tc: 0, flowLabel: 0, hopLimit: ND_HOP_LIMIT, src: srcIp, dst, extHeaders: [], proto: IPPROTO_ICMPV6 },
    l4: { kind: 'icmp6', type: ND_NEIGHBOR_SOLICIT, code: 0, rest: 0, data: encodeNdBody(targetIp, options) },
  });
}

/** A neighbour advertisement for `targetIp` (also its source address) with the target link-layer option. */
export function buildNdAdvert(
  srcMac: Mac, targetIp: Ip6, dstMac: Mac, dstIp: Ip6,
  flags: { readonly router: boolean; readonly solicited: boolean; readonly override: boolean },
): Uint8Array {
  return encodeFrame({
    eth: { dst: dstMac, src: srcMac, etherType: ETHERTYPE_IPV6 },
    ip6: { tc: 0, flowLabel: 0, hopLimit: ND_HOP_LIMIT, src: targetIp, dst: dstIp, extHeaders: [], proto: IPPROTO_ICMPV6 },
    l4: {
      kind: 'icmp6', type: ND_NEIGHBOR_ADVERT, code: 0, rest: ndAdvertFlags(flags),
      data: encodeNdBody(targetIp, [ndLinkAddrOption(ND_OPT_TARGET_LINKADDR, srcMac)]),
    },
  });
}
