// ICMPv6 (RFC 4443) and neighbour discovery solicitation/advertisement with their source and target
// link-layer address options (RFC 4861 4.3, 4.4, 4.6.1).
import type { Ip6, Mac } from './addr.js';
import { ICMP6_ECHO_REPLY, ICMP6_ECHO_REQUEST, ND_NEIGHBOR_ADVERT, ND_NEIGHBOR_SOLICIT, ND_OPT_SOURCE_LINKADDR, ND_OPT_TARGET_LINKADDR } from './constants.js';
import { IPPROTO_ICMPV6 } from './flow-match.js';
import { type ChecksumContext, type ChecksumStatus, internetChecksum, pseudoHeaderSum } from './checksum.js';
import { type DecodeError, DecodeLayer, DecodeReason, decodeError, isDecodeError } from './errors.js';
import { l4ChecksumStatus } from './tcp-udp.js';
import { put16, put32, readIp6Addr, readMac, u16, u32, writeIp6Addr, writeMac } from './wire.js';

export const ICMP6_HEADER_LEN = 8;
/** ICMPv6 header + reserved/flags + target address. */
export const ND_NS_NA_MIN_LEN = 24;
export const ND_NA_FLAG_ROUTER = 0x80000000;
export const ND_NA_FLAG_SOLICITED = 0x40000000;
export const ND_NA_FLAG_OVERRIDE = 0x20000000;

export interface Icmp6Fields {
  readonly kind: 'icmp6';
  readonly type: number;
  readonly code: number;
  /** The second 32-bit word: echo id << 16 | seq, MTU (packet too big), pointer, NA flags, or reserved. */
  readonly rest: number;
  /** Everything after the first 8 bytes: echo data, the original packet of an error, an ND target and options. */
  readonly data: Uint8Array;
  /** Written as is when given; computed otherwise. */
  readonly checksum?: number;
}

/** One ND option; `data` is the option after its type and length bytes (length * 8 - 2 bytes). */
export interface NdOption {
  readonly type: number;
  readonly data: Uint8Array;
}

export interface NdMessage {
  readonly target: Ip6;
  /** NA flags (false in a solicitation). */
  readonly router: boolean;
  readonly solicited: boolean;
  readonly override: boolean;
  /** The Ethernet address of a source link-layer option (an 8-byte option), if present. */
  readonly sourceLinkAddr?: Mac;
  readonly targetLinkAddr?: Mac;
  readonly options: readonly NdOption[];
}

export interface Icmp6Message extends Icmp6Fields {
  readonly checksum: number;
  readonly checksumStatus: ChecksumStatus;
  /** Decoded from `data` for neighbour solicitations and advertisements. */
  readonly nd?: NdMessage;
}

export function isNdNsNa(type: number): boolean {
  return type === ND_NEIGHBOR_SOLICIT || type === ND_NEIGHBOR_ADVERT;
}

export function isIcmp6Echo(type: number): boolean {
  return type === ICMP6_ECHO_REQUEST || type === ICMP6_ECHO_REPLY;
}

export function decodeIcmp6(b: Uint8Array, off: number, end: number, ck: ChecksumContext): Icmp6Message | DecodeError {
  if (end - off < ICMP6_HEADER_LEN) return decodeError(DecodeLayer.Icmp6, DecodeReason.Truncated, off);
  const type = b[off];
  const rest = u32(b, off + 4);
  let nd: NdMessage | undefined;
  if (isNdNsNa(type)) {
    const r = decodeNd(b, off, end, type, rest);
    if (isDecodeError(r)) return r;
    nd = r;
  }
  const m: Icmp6Message = {
    kind: 'icmp6',
    type,
    code: b[off + 1],
    checksum: u16(b, off + 2),
    rest,
    data: b.subarray(off + ICMP6_HEADER_LEN, end),
    checksumStatus: l4ChecksumStatus(b, off, end, ck, IPPROTO_ICMPV6),
  };
  return nd === undefined ? m : { ...m, nd };
}

/** Decodes the target and options of the NS/NA starting at b[off] (the ICMPv6 header). */
export function decodeNd(b: Uint8Array, off: number, end: number, type: number, rest: number): NdMessage | DecodeError {
  if (end - off < ND_NS_NA_MIN_LEN) return decodeError(DecodeLayer.Nd, DecodeReason.Truncated, off);
  const options: NdOption[] = [];
  let sll: Mac | undefined;
  let tll: Mac | undefined;
  for (let p = off + ND_NS_NA_MIN_LEN; p < end; ) {
    if (end - p < 2 || b[p + 1] === 0 || b[p + 1] * 8 > end - p) return decodeError(DecodeLayer.Nd, DecodeReason.BadOption, p);
    const len = b[p + 1] * 8;
    const ot = b[p];
    // Only the 8-byte (Ethernet) form is an address we can use; others are carried but not read.
    if (len === 8 && (ot === ND_OPT_SOURCE_LINKADDR || ot === ND_OPT_TARGET_LINKADDR)) {
      if ((ot === ND_OPT_SOURCE_LINKADDR ? sll : tll) !== undefined) {
        return decodeError(DecodeLayer.Nd, DecodeReason.DuplicateOption, p);
      }
      if (ot === ND_OPT_SOURCE_LINKADDR) sll = readMac(b, p + 2);
      else tll = readMac(b, p + 2);
    }
    options.push({ type: ot, data: b.subarray(p + 2, p + len) });
    p += len;
  }
  const na = type === ND_NEIGHBOR_ADVERT;
  const m: NdMessage = {
    target: readIp6Addr(b, off + 8),
    router: na && (rest & ND_NA_FLAG_ROUTER) !== 0,
    solicited: na && (rest & ND_NA_FLAG_SOLICITED) !== 0,
    override: na && (rest & ND_NA_FLAG_OVERRIDE) !== 0,
    options,
  };
  return {
    ...m,
    ...(sll === undefined ? {} : { sourceLinkAddr: sll }),
    ...(tll === undefined ? {} : { targetLinkAddr: tll }),
  };
}

export function ndLinkAddrOption(type: number, mac: Mac): NdOption {
  const data = new Uint8Array(6);
  writeMac(data, 0, mac);
  return { type, data };
}

/** The `data` of an NS/NA: target address then options, each padded to a multiple of 8 bytes. */
export function encodeNdBody(target: Ip6, options: readonly NdOption[]): Uint8Array {
  let n = 16;
  for (const o of options) n += Math.ceil((o.data.length + 2) / 8) * 8;
  const b = new Uint8Array(n);
  writeIp6Addr(b, 0, target);
  let p = 16;
  for (const o of options) {
    const len = Math.ceil((o.data.length + 2) / 8) * 8;
    b[p] = o.type;
    b[p + 1] = len / 8;
    b.set(o.data, p + 2);
    p += len;
  }
  return b;
}

export function ndAdvertFlags(f: { readonly router: boolean; readonly solicited: boolean; readonly override: boolean }): number {
  return ((f.router ? ND_NA_FLAG_ROUTER : 0) | (f.solicited ? ND_NA_FLAG_SOLICITED : 0) | (f.override ? ND_NA_FLAG_OVERRIDE : 0)) >>> 0;
}

export function icmp6Length(m: Icmp6Fields): number {
  return ICMP6_HEADER_LEN + m.data.length;
}

/** Writes the message; the checksum is computed with the pseudo-header address sum unless given. */
export function writeIcmp6(b: Uint8Array, off: number, m: Icmp6Fields, pseudoAddrSum: number): number {
  const end = off + ICMP6_HEADER_LEN + m.data.length;
  b[off] = m.type;
  b[off + 1] = m.code;
  put16(b, off + 2, 0);
  put32(b, off + 4, m.rest);
  b.set(m.data, off + ICMP6_HEADER_LEN);
  put16(b, off + 2, m.checksum ?? internetChecksum(b, off, end, pseudoHeaderSum(pseudoAddrSum, IPPROTO_ICMPV6, end - off)));
  return end;
}

export function encodeIcmp6(m: Icmp6Fields, pseudoAddrSum: number): Uint8Array {
  const b = new Uint8Array(icmp6Length(m));
  writeIcmp6(b, 0, m, pseudoAddrSum);
  return b;
}
