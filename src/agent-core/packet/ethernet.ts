// Ethernet II and 802.1Q / 802.1ad VLAN tags (IEEE 802.3, 802.1Q): decode, encode, push and pop.
// At most two tags are parsed (the FlowMatch holds VlanId and InnerVlanId); a third TPID is the ethertype.
import type { Mac } from './addr.js';
import { ETHERTYPE_QINQ, ETHERTYPE_VLAN } from './flow-match.js';
import { type DecodeError, DecodeLayer, DecodeReason, decodeError } from './errors.js';
import { put16, readMac, u16, writeMac } from './wire.js';

export const ETH_HEADER_LEN = 14;
export const VLAN_TAG_LEN = 4;
export const MAX_VLAN_DEPTH = 2;
/** Minimum Ethernet frame without the FCS; shorter frames are padded by the sender. */
export const ETH_MIN_FRAME_LEN = 60;

export interface EthHeader {
  readonly dst: Mac;
  readonly src: Mac;
  /** The ethertype after any VLAN tags. */
  readonly etherType: number;
}

export interface VlanTag {
  /** ETHERTYPE_VLAN (C-tag) or ETHERTYPE_QINQ (S-tag). */
  readonly tpid: number;
  readonly pcp: number;
  readonly dei: boolean;
  readonly vid: number;
}

export interface EthernetDecoded {
  readonly eth: EthHeader;
  /** Outermost first. */
  readonly vlans: readonly VlanTag[];
  /** Offset of the first byte after the ethertype. */
  readonly payloadOffset: number;
}

export function isVlanTpid(t: number): boolean {
  return t === ETHERTYPE_VLAN || t === ETHERTYPE_QINQ;
}

export function ethernetHeaderLength(vlanCount: number): number {
  return ETH_HEADER_LEN + VLAN_TAG_LEN * vlanCount;
}

export function decodeEthernet(frame: Uint8Array): EthernetDecoded | DecodeError {
  if (frame.length < ETH_HEADER_LEN) return decodeError(DecodeLayer.Ethernet, DecodeReason.Truncated, 0);
  let off = 12;
  let type = u16(frame, off);
  const vlans: VlanTag[] = [];
  while (vlans.length < MAX_VLAN_DEPTH && isVlanTpid(type)) {
    // The tag's TCI and the ethertype that follows it.
    if (frame.length < off + 6) return decodeError(DecodeLayer.Vlan, DecodeReason.Truncated, off);
    const tci = u16(frame, off + 2);
    vlans.push({ tpid: type, pcp: tci >>> 13, dei: (tci & 0x1000) !== 0, vid: tci & 0xfff });
    off += VLAN_TAG_LEN;
    type = u16(frame, off);
  }
  return { eth: { dst: readMac(frame, 0), src: readMac(frame, 6), etherType: type }, vlans, payloadOffset: off + 2 };
}

/** Writes the MACs, tags and ethertype at `off`; returns the offset after them. */
export function writeEthernet(b: Uint8Array, off: number, eth: EthHeader, vlans: readonly VlanTag[]): number {
  writeMac(b, off, eth.dst);
  writeMac(b, off + 6, eth.src);
  let o = off + 12;
  for (const t of vlans) {
    put16(b, o, t.tpid);
    put16(b, o + 2, ((t.pcp & 7) << 13) | (t.dei ? 0x1000 : 0) | (t.vid & 0xfff));
    o += VLAN_TAG_LEN;
  }
  put16(b, o, eth.etherType);
  return o + 2;
}

export function encodeEthernet(eth: EthHeader, vlans: readonly VlanTag[], payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(ethernetHeaderLength(vlans.length) + payload.length);
  b.set(payload, writeEthernet(b, 0, eth, vlans));
  return b;
}

/** Number of VLAN tags the decoders see (0 to MAX_VLAN_DEPTH); 0 for a frame too short to say. */
export function vlanDepth(frame: Uint8Array): number {
  let n = 0;
  let off = 12;
  while (n < MAX_VLAN_DEPTH && frame.length >= off + 6 && isVlanTpid(u16(frame, off))) {
    n++;
    off += VLAN_TAG_LEN;
  }
  return n;
}

/**
 * A copy of the frame with a new outermost tag. The TPID is ETHERTYPE_VLAN on an untagged frame and
 * ETHERTYPE_QINQ (an 802.1ad S-tag) over an existing tag.
 */
export function frameWithVlan(frame: Uint8Array, vid: number, pcp = 0): Uint8Array | DecodeError {
  if (frame.length < ETH_HEADER_LEN) return decodeError(DecodeLayer.Ethernet, DecodeReason.Truncated, 0);
  const out = new Uint8Array(frame.length + VLAN_TAG_LEN);
  out.set(frame.subarray(0, 12), 0);
  put16(out, 12, isVlanTpid(u16(frame, 12)) ? ETHERTYPE_QINQ : ETHERTYPE_VLAN);
  put16(out, 14, ((pcp & 7) << 13) | (vid & 0xfff));
  out.set(frame.subarray(12), 16);
  return out;
}

/** A copy of the frame without its outermost tag. */
export function frameWithoutVlan(frame: Uint8Array): Uint8Array | DecodeError {
  if (frame.length < ETH_HEADER_LEN) return decodeError(DecodeLayer.Ethernet, DecodeReason.Truncated, 0);
  if (!isVlanTpid(u16(frame, 12)) || frame.length < 18) return decodeError(DecodeLayer.Vlan, DecodeReason.NoVlan, 12);
  const out = new Uint8Array(frame.length - VLAN_TAG_LEN);
  out.set(frame.subarray(0, 12), 0);
  out.set(frame.subarray(16), 12);
  return out;
}
