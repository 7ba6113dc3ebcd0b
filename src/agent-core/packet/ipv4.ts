// IPv4 header (RFC 791): options, fragments (MF, offset), header checksum (RFC 1071).
import type { Ip4 } from './addr.js';
import { type ChecksumStatus, checksumVerifies, internetChecksum } from './checksum.js';
import { FRAG_FIRST, FRAG_LATER, FRAG_NONE } from './flow-match.js';
import { type DecodeError, DecodeLayer, DecodeReason, decodeError } from './errors.js';
import { EMPTY_BYTES, put16, put32, u16, u32 } from './wire.js';

export const IP4_MIN_HEADER_LEN = 20;
export const IP4_MAX_HEADER_LEN = 60;
export const IP4_FLAG_DF = 0x4000;
export const IP4_FLAG_MF = 0x2000;
export const IP4_FRAG_OFFSET_MASK = 0x1fff;

/** What an encoder needs; lengths are computed. */
export interface Ip4Fields {
  readonly tos: number;
  readonly id: number;
  readonly df: boolean;
  readonly mf: boolean;
  /** In 8-byte units. */
  readonly fragOffset: number;
  readonly ttl: number;
  readonly proto: number;
  readonly src: Ip4;
  readonly dst: Ip4;
  /** Option bytes as on the wire (at most 40; an encoder drops any more and pads to a multiple of 4 with EOL). */
  readonly options: Uint8Array;
  /** Written as is when given; computed otherwise. */
  readonly checksum?: number;
}

export interface Ip4Header extends Ip4Fields {
  readonly headerLength: number;
  readonly totalLength: number;
  readonly checksum: number;
  readonly checksumStatus: ChecksumStatus;
  /** FRAG_NONE, FRAG_FIRST or FRAG_LATER. */
  readonly frag: number;
}

export interface Ip4Decoded {
  readonly header: Ip4Header;
  readonly payloadOffset: number;
  /** End of the datagram by its total length; bytes after it are link-layer padding. */
  readonly payloadEnd: number;
}

export function fragKind4(mf: boolean, fragOffset: number): number {
  if (fragOffset !== 0) return FRAG_LATER;
  return mf ? FRAG_FIRST : FRAG_NONE;
}

/** Decodes the IPv4 header at b[off], with b[off, end) available. */
export function decodeIp4(b: Uint8Array, off: number, end: number, verify = true): Ip4Decoded | DecodeError {
  if (end - off < IP4_MIN_HEADER_LEN) return decodeError(DecodeLayer.Ipv4, DecodeReason.Truncated, off);
  if (b[off] >> 4 !== 4) return decodeError(DecodeLayer.Ipv4, DecodeReason.BadVersion, off);
  const hl = (b[off] & 0xf) * 4;
  if (hl < IP4_MIN_HEADER_LEN) return decodeError(DecodeLayer.Ipv4, DecodeReason.BadHeaderLength, off);
  const total = u16(b, off + 2);
  // Covers an IHL past the datagram too: hl > total or total > available.
  if (total < hl || total > end - off) return decodeError(DecodeLayer.Ipv4, DecodeReason.BadLength, off + 2);
  const fw = u16(b, off + 6);
  const mf = (fw & IP4_FLAG_MF) !== 0;
  const fragOffset = fw & IP4_FRAG_OFFSET_MASK;
  const header: Ip4Header = {
    tos: b[off + 1],
    id: u16(b, off + 4),
    df: (fw & IP4_FLAG_DF) !== 0,
    mf,
    fragOffset,
    ttl: b[off + 8],
    proto: b[off + 9],
    src: u32(b, off + 12),
    dst: u32(b, off + 16),
    options: hl > IP4_MIN_HEADER_LEN ? b.subarray(off + IP4_MIN_HEADER_LEN, off + hl) : EMPTY_BYTES,
    checksum: u16(b, off + 10),
    checksumStatus: !verify ? 'unchecked' : checksumVerifies(b, off, off + hl) ? 'ok' : 'bad',
    headerLength: hl,
    totalLength: total,
    frag: fragKind4(mf, fragOffset),
  };
  return { header, payloadOffset: off + hl, payloadEnd: off + total };
}

export function ip4HeaderLength(h: Ip4Fields): number {
  return IP4_MIN_HEADER_LEN + ((Math.min(h.options.length, IP4_MAX_HEADER_LEN - IP4_MIN_HEADER_LEN) + 3) & ~3);
}

/** Writes the header for a payload of `payloadLength` bytes; returns the payload offset. */
export function writeIp4(b: Uint8Array, off: number, h: Ip4Fields, payloadLength: number): number {
  const hl = ip4HeaderLength(h);
  b[off] = 0x40 | (hl >> 2);
  b[off + 1] = h.tos;
  put16(b, off + 2, hl + payloadLength);
  put16(b, off + 4, h.id);
  put16(b, off + 6, (h.df ? IP4_FLAG_DF : 0) | (h.mf ? IP4_FLAG_MF : 0) | (h.fragOffset & IP4_FRAG_OFFSET_MASK));
  b[off + 8] = h.ttl;
  b[off + 9] = h.proto;
  put16(b, off + 10, 0);
  put32(b, off + 12, h.src);
  put32(b, off + 16, h.dst);
  b.fill(0, off + IP4_MIN_HEADER_LEN, off + hl);
  b.set(h.options.subarray(0, hl - IP4_MIN_HEADER_LEN), off + IP4_MIN_HEADER_LEN);
  put16(b, off + 10, h.checksum ?? internetChecksum(b, off, off + hl));
  return off + hl;
}

export function encodeIp4(h: Ip4Fields, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(ip4HeaderLength(h) + payload.length);
  b.set(payload, writeIp4(b, 0, h, payload.length));
  return b;
}

/** Whether an IPv4 address can name one host as a source (not 0/8, 127/8, multicast, class E, broadcast). */
export function isIp4UnicastSource(a: Ip4): boolean {
  const top = a >>> 24;
  return top !== 0 && top !== 127 && top < 224;
}

export function isIp4MulticastOrBroadcast(a: Ip4): boolean {
  return a >>> 28 === 0xe || a >>> 0 === 0xffffffff;
}
