// ARP for Ethernet/IPv4 (RFC 826): the 28-byte packet after the ethertype.
import type { Ip4, Mac } from './addr.js';
import { ARP_HTYPE_ETHERNET } from './constants.js';
import { ETHERTYPE_IPV4 } from './flow-match.js';
import { type DecodeError, DecodeLayer, DecodeReason, decodeError } from './errors.js';
import { put16, put32, readMac, u16, u32, writeMac } from './wire.js';

export const ARP_LEN = 28;

export interface ArpPacket {
  /** ARP_OP_REQUEST or ARP_OP_REPLY (other values are carried as they are). */
  readonly op: number;
  readonly sha: Mac;
  readonly spa: Ip4;
  readonly tha: Mac;
  readonly tpa: Ip4;
}

/** Decodes the ARP packet in b[off, end); only Ethernet hardware and IPv4 protocol addresses. */
export function decodeArp(b: Uint8Array, off: number, end: number): ArpPacket | DecodeError {
  if (end - off < ARP_LEN) return decodeError(DecodeLayer.Arp, DecodeReason.Truncated, off);
  if (u16(b, off) !== ARP_HTYPE_ETHERNET || u16(b, off + 2) !== ETHERTYPE_IPV4 || b[off + 4] !== 6 || b[off + 5] !== 4) {
    return decodeError(DecodeLayer.Arp, DecodeReason.Unsupported, off);
  }
  return {
    op: u16(b, off + 6),
    sha: readMac(b, off + 8),
    spa: u32(b, off + 14),
    tha: readMac(b, off + 18),
    tpa: u32(b, off + 24),
  };
}

export function writeArp(b: Uint8Array, off: number, a: ArpPacket): number {
  put16(b, off, ARP_HTYPE_ETHERNET);
  put16(b, off + 2, ETHERTYPE_IPV4);
  b[off + 4] = 6;
  b[off + 5] = 4;
  put16(b, off + 6, a.op);
  writeMac(b, off + 8, a.sha);
  put32(b, off + 14, a.spa);
  writeMac(b, off + 18, a.tha);
  put32(b, off + 24, a.tpa);
  return off + ARP_LEN;
}

export function encodeArp(a: ArpPacket): Uint8Array {
  const b = new Uint8Array(ARP_LEN);
  writeArp(b, 0, a);
  return b;
}
