// ICMPv4 (RFC 792): echo, and errors carrying the original datagram (RFC 1812 4.3.2.3); next-hop MTU (RFC 1191).
import { ICMP_DEST_UNREACH, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_PARAMETERPROB, ICMP_REDIRECT, ICMP_SOURCE_QUENCH, ICMP_TIME_EXCEEDED, ICMP6_ECHO_REQUEST } from './constants.js';
import { type ChecksumContext, type ChecksumStatus, checksumVerifies, internetChecksum } from './checksum.js';
import { type DecodeError, DecodeLayer, DecodeReason, decodeError } from './errors.js';
import { put16, put32, u16, u32 } from './wire.js';

export const ICMP_HEADER_LEN = 8;

export interface Icmp4Fields {
  readonly kind: 'icmp4';
  readonly type: number;
  readonly code: number;
  /** The second 32-bit word: echo identifier << 16 | sequence, next-hop MTU (low 16 bits), pointer, or unused. */
  readonly rest: number;
  /** The echo data, or the original datagram an error carries. */
  readonly data: Uint8Array;
  /** Written as is when given; computed otherwise. */
  readonly checksum?: number;
}

export interface Icmp4Message extends Icmp4Fields {
  readonly checksum: number;
  readonly checksumStatus: ChecksumStatus;
}

/** ICMPv4 has no pseudo-header: any number in `ck` means verify. */
export function decodeIcmp4(b: Uint8Array, off: number, end: number, ck: ChecksumContext): Icmp4Message | DecodeError {
  if (end - off < ICMP_HEADER_LEN) return decodeError(DecodeLayer.Icmp, DecodeReason.Truncated, off);
  return {
    kind: 'icmp4',
    type: b[off],
    code: b[off + 1],
    checksum: u16(b, off + 2),
    rest: u32(b, off + 4),
    data: b.subarray(off + ICMP_HEADER_LEN, end),
    checksumStatus: typeof ck !== 'number' ? ck : checksumVerifies(b, off, end) ? 'ok' : 'bad',
  };
}

export function icmp4Length(m: Icmp4Fields): number {
  return ICMP_HEADER_LEN + m.data.length;
}

export function writeIcmp4(b: Uint8Array, off: number, m: Icmp4Fields): number {
  const end = off + ICMP_HEADER_LEN + m.data.length;
  b[off] = m.type;
  b[off + 1] = m.code;
  put16(b, off + 2, 0);
  put32(b, off + 4, m.rest);
  b.set(m.data, off + ICMP_HEADER_LEN);
  put16(b, off + 2, m.checksum ?? internetChecksum(b, off, end));
  return end;
}

export function encodeIcmp4(m: Icmp4Fields): Uint8Array {
  const b = new Uint8Array(icmp4Length(m));
  writeIcmp4(b, 0, m);
  return b;
}

export function isIcmp4Echo(type: number): boolean {
  return type === ICMP_ECHO_REQUEST || type === ICMP_ECHO_REPLY;
}

/** The `rest` word of an echo message (ICMPv4 or ICMPv6). */
export function echoRest(id: number, seq: number): number {
  return ((id & 0xffff) * 0x10000 + (seq & 0xffff)) >>> 0;
}

export function echoId(rest: number): number {
  return rest >>> 16;
}

export function echoSeq(rest: number): number {
  return rest & 0xffff;
}

/**
 * Whether an ICMP type is an error that carries the offending datagram (what NAT and conntrack
 * relate to an existing flow): ICMPv4 unreachable, source quench, redirect, time exceeded, parameter
 * problem; every ICMPv6 type below 128 (RFC 4443 2.1).
 */
export function isIcmpError(type: number, v6: boolean): boolean {
  if (v6) return type < ICMP6_ECHO_REQUEST;
  return (
    type === ICMP_DEST_UNREACH ||
    type === ICMP_SOURCE_QUENCH ||
    type === ICMP_REDIRECT ||
    type === ICMP_TIME_EXCEEDED ||
    type === ICMP_PARAMETERPROB
  );
}
