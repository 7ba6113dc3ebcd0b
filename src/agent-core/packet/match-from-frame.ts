// The FlowMatch of a received frame (DESIGN: The packet's way, steps 2 and 4): flowMatchFromFrame for
// the slow path, from the structured decoder, and extractFlowKey for the fast path, from a FrameLayout
// with no allocation. Two independent readings of the same rules; tests hold them equal.
import { isIp6, type IpAddr } from './addr.js';
import type { DecodeError } from './errors.js';
import { isDecodeError } from './errors.js';
import {
  ETHERTYPE_ARP, FIELD_OFFSET, Field, FlowMatch, IP_TTL_CLAMP, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, KEY_WORDS,
  VLAN_NONE,
} from './flow-match.js';
import { decodeFrame } from './decode.js';
import type { DecodedFrame } from './frame.js';
import { echoId, isIcmp4Echo } from './icmp.js';
import { isIcmp6Echo, isNdNsNa } from './icmp6.js';
import { FrameLayout, parseLayout } from './layout.js';
import { readMac, u16, u32 } from './wire.js';

const O_IN_PORT = FIELD_OFFSET[Field.InPort];
const O_TUNNEL = FIELD_OFFSET[Field.TunnelKey];
const O_ETH_SRC = FIELD_OFFSET[Field.EthSrc];
const O_ETH_DST = FIELD_OFFSET[Field.EthDst];
const O_ETH_TYPE = FIELD_OFFSET[Field.EthType];
const O_VLAN = FIELD_OFFSET[Field.VlanId];
const O_INNER_VLAN = FIELD_OFFSET[Field.InnerVlanId];
const O_PROTO = FIELD_OFFSET[Field.IpProto];
const O_TOS = FIELD_OFFSET[Field.IpTos];
const O_TTL = FIELD_OFFSET[Field.IpTtl];
const O_FRAG = FIELD_OFFSET[Field.IpFrag];
const O_IP_SRC = FIELD_OFFSET[Field.IpSrc];
const O_IP_DST = FIELD_OFFSET[Field.IpDst];
const O_L4_SRC = FIELD_OFFSET[Field.L4Src];
const O_L4_DST = FIELD_OFFSET[Field.L4Dst];
const O_ICMP_ID = FIELD_OFFSET[Field.IcmpId];
const O_TCP_FLAGS = FIELD_OFFSET[Field.TcpFlags];
const O_ARP_SHA = FIELD_OFFSET[Field.ArpSha];
const O_ARP_THA = FIELD_OFFSET[Field.ArpTha];
const O_ND_TARGET = FIELD_OFFSET[Field.NdTarget];

/** TTL / hop limit as the key holds it: exact below IP_TTL_CLAMP, IP_TTL_CLAMP for that or more. */
export function clampTtl(ttl: number): number {
  return ttl < IP_TTL_CLAMP ? ttl : IP_TTL_CLAMP;
}

/** The key of a frame as a fresh FlowMatch, or why the frame is malformed. */
export function flowMatchFromFrame(frame: Uint8Array, inPort: number, tunnelKey = 0): FlowMatch | DecodeError {
  const d = decodeFrame(frame, { verifyChecksums: false });
  if (isDecodeError(d)) return d;
  return new FlowMatch(flowKeyFromDecoded(d, inPort, tunnelKey));
}

function putIp(key: Float64Array, off: number, a: IpAddr): void {
  if (isIp6(a)) {
    key[off] = Number((a >> 96n) & 0xffffffffn);
    key[off + 1] = Number((a >> 64n) & 0xffffffffn);
    key[off + 2] = Number((a >> 32n) & 0xffffffffn);
    key[off + 3] = Number(a & 0xffffffffn);
  } else {
    key[off] = a;
  }
}

/** The key words of a decoded frame (the FlowMatch semantics of flow-match.ts). */
export function flowKeyFromDecoded(d: DecodedFrame, inPort: number, tunnelKey: number): Float64Array {
  const key = new Float64Array(KEY_WORDS);
  key[O_IN_PORT] = inPort;
  key[O_TUNNEL] = tunnelKey;
  key[O_ETH_SRC] = d.eth.src;
  key[O_ETH_DST] = d.eth.dst;
  key[O_ETH_TYPE] = d.eth.etherType;
  key[O_VLAN] = d.vlans.length > 0 ? d.vlans[0].vid : VLAN_NONE;
  key[O_INNER_VLAN] = d.vlans.length > 1 ? d.vlans[1].vid : VLAN_NONE;
  if (d.arp) {
    // ARP fills the IP fields as Open vSwitch does: opcode, sender and target addresses.
    key[O_PROTO] = d.arp.op;
    key[O_IP_SRC] = d.arp.spa;
    key[O_IP_DST] = d.arp.tpa;
    key[O_ARP_SHA] = d.arp.sha;
    key[O_ARP_THA] = d.arp.tha;
    return key;
  }
  const ip = d.ip4 ?? d.ip6;
  if (!ip) return key;
  key[O_PROTO] = ip.proto;
  key[O_FRAG] = ip.frag;
  putIp(key, O_IP_SRC, ip.src);
  putIp(key, O_IP_DST, ip.dst);
  if (d.ip4) {
    key[O_TOS] = d.ip4.tos;
    key[O_TTL] = clampTtl(d.ip4.ttl);
  } else if (d.ip6) {
    key[O_TOS] = d.ip6.tc;
    key[O_TTL] = clampTtl(d.ip6.hopLimit);
  }
  const l4 = d.l4;
  if (!l4) return key;
  switch (l4.kind) {
    case 'tcp':
      key[O_TCP_FLAGS] = l4.flags;
      key[O_L4_SRC] = l4.srcPort;
      key[O_L4_DST] = l4.dstPort;
      break;
    case 'udp':
      key[O_L4_SRC] = l4.srcPort;
      key[O_L4_DST] = l4.dstPort;
      break;
    case 'icmp4':
      key[O_L4_SRC] = l4.type;
      key[O_L4_DST] = l4.code;
      if (isIcmp4Echo(l4.type)) key[O_ICMP_ID] = echoId(l4.rest);
      break;
    case 'icmp6':
      key[O_L4_SRC] = l4.type;
      key[O_L4_DST] = l4.code;
      if (isIcmp6Echo(l4.type)) key[O_ICMP_ID] = echoId(l4.rest);
      if (l4.nd) {
        putIp(key, O_ND_TARGET, l4.nd.target);
        key[O_ARP_SHA] = l4.nd.sourceLinkAddr ?? 0;
        key[O_ARP_THA] = l4.nd.targetLinkAddr ?? 0;
      }
      break;
    case 'raw':
      break;
  }
  return key;
}

const LAYOUT = new FrameLayout();

function putIp6Words(out: Float64Array, off: number, b: Uint8Array, at: number): void {
  out[off] = u32(b, at);
  out[off + 1] = u32(b, at + 4);
  out[off + 2] = u32(b, at + 8);
  out[off + 3] = u32(b, at + 12);
}

/**
 * The fast path's key extraction: writes the frame's key into `out` (KEY_WORDS long) without
 * allocating. Returns false for a malformed frame (where flowMatchFromFrame returns a DecodeError).
 * `layout`, when given, is left describing the frame (the datapath's rewrites reuse it).
 */
export function extractFlowKey(frame: Uint8Array, inPort: number, tunnelKey: number, out: Float64Array, layout: FrameLayout = LAYOUT): boolean {
  out.fill(0);
  out[O_IN_PORT] = inPort;
  out[O_TUNNEL] = tunnelKey;
  out[O_VLAN] = VLAN_NONE;
  out[O_INNER_VLAN] = VLAN_NONE;
  const L = layout;
  if (!parseLayout(frame, L)) return false;
  const b = frame;
  out[O_ETH_DST] = readMac(b, 0);
  out[O_ETH_SRC] = readMac(b, 6);
  out[O_ETH_TYPE] = L.etherType;
  if (L.vlan0 >= 0) out[O_VLAN] = u16(b, L.vlan0 + 2) & 0xfff;
  if (L.vlan1 >= 0) out[O_INNER_VLAN] = u16(b, L.vlan1 + 2) & 0xfff;
  const l3 = L.l3;
  if (L.etherType === ETHERTYPE_ARP) {
    out[O_PROTO] = u16(b, l3 + 6);
    out[O_ARP_SHA] = readMac(b, l3 + 8);
    out[O_IP_SRC] = u32(b, l3 + 14);
    out[O_ARP_THA] = readMac(b, l3 + 18);
    out[O_IP_DST] = u32(b, l3 + 24);
    return true;
  }
  if (L.ipVersion === 0) return true;
  out[O_PROTO] = L.proto;
  out[O_FRAG] = L.frag;
  if (L.ipVersion === 4) {
    out[O_TOS] = b[l3 + 1];
    out[O_TTL] = clampTtl(b[l3 + 8]);
    out[O_IP_SRC] = u32(b, l3 + 12);
    out[O_IP_DST] = u32(b, l3 + 16);
  } else {
    out[O_TOS] = (u16(b, l3) >>> 4) & 0xff;
    out[O_TTL] = clampTtl(b[l3 + 7]);
    putIp6Words(out, O_IP_SRC, b, l3 + 8);
    putIp6Words(out, O_IP_DST, b, l3 + 24);
  }
  const o = L.l4;
  if (o < 0) return true;
  const proto = L.proto;
  if (proto === IPPROTO_TCP) {
    out[O_L4_SRC] = u16(b, o);
    out[O_L4_DST] = u16(b, o + 2);
    out[O_TCP_FLAGS] = u16(b, o + 12) & 0xfff;
  } else if (proto === IPPROTO_UDP) {
    out[O_L4_SRC] = u16(b, o);
    out[O_L4_DST] = u16(b, o + 2);
  } else if (proto === IPPROTO_ICMP && L.ipVersion === 4) {
    out[O_L4_SRC] = b[o];
    out[O_L4_DST] = b[o + 1];
    if (isIcmp4Echo(b[o])) out[O_ICMP_ID] = u16(b, o + 4);
  } else if (proto === IPPROTO_ICMPV6 && L.ipVersion === 6) {
    const type = b[o];
    out[O_L4_SRC] = type;
    out[O_L4_DST] = b[o + 1];
    if (isIcmp6Echo(type)) out[O_ICMP_ID] = u16(b, o + 4);
    if (isNdNsNa(type)) {
      putIp6Words(out, O_ND_TARGET, b, o + 8);
      if (L.ndSll >= 0) out[O_ARP_SHA] = readMac(b, L.ndSll);
      if (L.ndTll >= 0) out[O_ARP_THA] = readMac(b, L.ndTll);
    }
  }
  return true;
}
