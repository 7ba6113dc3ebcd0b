// GRE header codec (RFC 2784, key and sequence fields of RFC 2890) carrying Ethernet frames
// (Transparent Ethernet Bridging, 0x6558) with the 24-bit tunnel key in the key field (DESIGN:
// Tunnels). Pure: no I/O, errors as values; it could move to packet/ as it stands.
import { checksumVerifies, internetChecksum } from '../packet/checksum.js';
import { decodeIp4 } from '../packet/ipv4.js';
import { isDecodeError } from '../packet/errors.js';
import { IPPROTO_GRE } from '../packet/constants.js';
import { put16, put32, u16, u32 } from '../packet/wire.js';
import { TUNNEL_KEY_MAX, TUNNEL_MIN_INNER_FRAME } from './tunnel-port.js';

/** EtherType for Transparent Ethernet Bridging: the GRE payload is a whole Ethernet frame. */
export const ETH_P_TEB = 0x6558;
/** Checksum present (RFC 2784 2.1). */
export const GRE_FLAG_C = 0x8000;
/** Routing present (RFC 1701): a receiver of RFC 2784 must discard it. */
export const GRE_FLAG_R = 0x4000;
/** Key present (RFC 2890 2.1). */
export const GRE_FLAG_K = 0x2000;
/** Sequence number present (RFC 2890 2.1). */
export const GRE_FLAG_S = 0x1000;
/** Strict source route and the top recursion bit (RFC 1701): with R, bits 1-5 of RFC 2784 2.3 less K and S. */
export const GRE_FLAGS_DISCARD = GRE_FLAG_R | 0x0800 | 0x0400;
export const GRE_VERSION_MASK = 0x0007;
export const GRE_BASE_HEADER_LEN = 4;

export interface GreDecoded {
  /** The tunnel key (the GRE key, which Tollgate keeps within 24 bits). */
  readonly key: number;
  /** Whether the checksum was present (it was verified if so). */
  readonly checksummed: boolean;
  readonly sequence: number | undefined;
  /** The inner Ethernet frame (a view into the input). */
  readonly inner: Uint8Array;
}

export type GreDropReason =
  | 'truncated'
  | 'bad-version'
  | 'bad-flags'
  | 'bad-protocol'
  | 'no-key'
  | 'bad-key'
  | 'bad-checksum'
  | 'short-inner'
  | 'bad-ip-header'
  | 'not-gre';

export interface GreDecodeError {
  readonly kind: 'greDecodeError';
  readonly reason: GreDropReason;
  readonly offset: number;
}

function greError(reason: GreDropReason, offset: number): GreDecodeError {
  return { kind: 'greDecodeError', reason, offset };
}

export function isGreDecodeError<T extends object>(x: T | GreDecodeError): x is GreDecodeError {
  return (x as GreDecodeError).kind === 'greDecodeError';
}

export function greHeaderLength(checksum: boolean): number {
  return GRE_BASE_HEADER_LEN + (checksum ? 4 : 0) + 4;
}

/**
 * Writes a GRE header with the key (and the checksum when asked) at b[off]; the payload must already
 * be at b[off + greHeaderLength(checksum), end). Returns the payload offset.
 */
export function writeGreHeader(b: Uint8Array, off: number, end: number, key: number, checksum: boolean): number {
  put16(b, off, GRE_FLAG_K | (checksum ? GRE_FLAG_C : 0));
  put16(b, off + 2, ETH_P_TEB);
  let at = off + GRE_BASE_HEADER_LEN;
  const checksumAt = at;
  if (checksum) {
    put32(b, at, 0); // checksum and Reserved1 as zero while summing
    at += 4;
  }
  put32(b, at, key & TUNNEL_KEY_MAX);
  at += 4;
  if (checksum) put16(b, checksumAt, internetChecksum(b, off, end));
  return at;
}

/** The GRE packet (header + inner frame) carrying `inner` with tunnel key `key`. */
export function encodeGre(key: number, inner: Uint8Array, checksum = false): Uint8Array {
  const hl = greHeaderLength(checksum);
  const b = new Uint8Array(hl + inner.length);
  b.set(inner, hl);
  writeGreHeader(b, 0, b.length, key, checksum);
  return b;
}

/**
 * Decodes a GRE packet in b[off, end): version 0, no RFC 1701 routing bits, Ethernet payload, key
 * present and within 24 bits, checksum verified when present, inner frame at least an Ethernet header.
 */
export function decodeGre(b: Uint8Array, off = 0, end = b.length): GreDecoded | GreDecodeError {
  if (end - off < GRE_BASE_HEADER_LEN) return greError('truncated', off);
  const flags = u16(b, off);
  // RFC 2784 2.3/2.5: a non-zero version, or bits an RFC 1701 sender uses, mean discard.
  if ((flags & GRE_VERSION_MASK) !== 0) return greError('bad-version', off);
  if ((flags & GRE_FLAGS_DISCARD) !== 0) return greError('bad-flags', off);
  if (u16(b, off + 2) !== ETH_P_TEB) return greError('bad-protocol', off + 2);
  const hasC = (flags & GRE_FLAG_C) !== 0;
  const hasK = (flags & GRE_FLAG_K) !== 0;
  const hasS = (flags & GRE_FLAG_S) !== 0;
  if (!hasK) return greError('no-key', off);
  const hl = GRE_BASE_HEADER_LEN + (hasC ? 4 : 0) + 4 + (hasS ? 4 : 0);
  if (end - off < hl) return greError('truncated', off);
  let at = off + GRE_BASE_HEADER_LEN + (hasC ? 4 : 0);
  const key = u32(b, at);
  if (key > TUNNEL_KEY_MAX) return greError('bad-key', at);
  at += 4;
  const sequence = hasS ? u32(b, at) : undefined;
  if (hasC && !checksumVerifies(b, off, end)) return greError('bad-checksum', off + GRE_BASE_HEADER_LEN);
  if (end - (off + hl) < TUNNEL_MIN_INNER_FRAME) return greError('short-inner', off + hl);
  return { key, checksummed: hasC, sequence, inner: b.subarray(off + hl, end) };
}

export interface Ip4Payload {
  /** Destination address of the outer IPv4 header (a 32-bit number). */
  readonly dst: number;
  /** The IPv4 payload (the GRE packet) is b[start, end). */
  readonly start: number;
  readonly end: number;
}

/**
 * Where the GRE packet starts in a datagram as an IPv4 raw socket receives it: after the outer
 * IPv4 header, whose IHL says how long it is (options included). The kernel has verified that
 * header and reassembled fragments; this only refuses what cannot be walked.
 */
export function stripIp4Header(b: Uint8Array): Ip4Payload | GreDecodeError {
  const ip = decodeIp4(b, 0, b.length, false);
  if (isDecodeError(ip)) return greError('bad-ip-header', ip.offset);
  if (ip.header.proto !== IPPROTO_GRE) return greError('not-gre', 9);
  return { dst: ip.header.dst, start: ip.payloadOffset, end: ip.payloadEnd };
}
