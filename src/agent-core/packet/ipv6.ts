// IPv6 fixed header and the extension-header walk to the upper-layer header (RFC 8200 4; AH, RFC 4302):
// hop-by-hop, routing, fragment, destination options and AH are walked; ESP and No Next Header end it.
import type { Ip6 } from './addr.js';
import { IPPROTO_AH, IPPROTO_DSTOPTS, IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_ROUTING } from './constants.js';
import { FRAG_FIRST, FRAG_LATER, FRAG_NONE } from './flow-match.js';
import { type DecodeError, DecodeLayer, DecodeReason, decodeError } from './errors.js';
import { put16, put32, readIp6Addr, u16, u32, writeIp6Addr } from './wire.js';

export const IP6_HEADER_LEN = 40;
export const IP6_FRAG_HEADER_LEN = 8;

/** Hop-by-hop, routing, destination options or AH: `data` is everything after Next Header and Length. */
export interface Ip6OptionsHeader {
  readonly kind: 'options';
  readonly type: number;
  readonly data: Uint8Array;
}

export interface Ip6FragmentHeader {
  readonly kind: 'fragment';
  /** In 8-byte units. */
  readonly fragOffset: number;
  readonly more: boolean;
  readonly id: number;
}

export type Ip6ExtHeader = Ip6OptionsHeader | Ip6FragmentHeader;

export interface Ip6Fields {
  readonly tc: number;
  readonly flowLabel: number;
  readonly hopLimit: number;
  readonly src: Ip6;
  readonly dst: Ip6;
  /** In wire order; each one's Next Header is the type of the one after it, the last one's is `proto`. */
  readonly extHeaders: readonly Ip6ExtHeader[];
  /** The upper-layer protocol where the walk ended (ESP, No Next Header, or after a non-first fragment header). */
  readonly proto: number;
}

export interface Ip6Header extends Ip6Fields {
  readonly payloadLength: number;
  /** FRAG_NONE (also for an atomic fragment, RFC 6946), FRAG_FIRST or FRAG_LATER. */
  readonly frag: number;
}

export interface Ip6Decoded {
  readonly header: Ip6Header;
  /** Start of the upper-layer header (or of the fragment's data). */
  readonly payloadOffset: number;
  readonly payloadEnd: number;
  /** Offset of the address the upper-layer pseudo-header uses as destination (RFC 8200 8.1). */
  readonly pseudoDstOffset: number;
}

export function isIp6ExtHeader(nh: number): boolean {
  return (
    nh === IPPROTO_HOPOPTS || nh === IPPROTO_ROUTING || nh === IPPROTO_FRAGMENT || nh === IPPROTO_DSTOPTS || nh === IPPROTO_AH
  );
}

/** Length in bytes of an options-style extension header from its length byte (AH counts 4-byte units, RFC 4302). */
export function ip6OptionsHeaderLength(type: number, lengthByte: number): number {
  return type === IPPROTO_AH ? (lengthByte + 2) * 4 : (lengthByte + 1) * 8;
}

/**
 * The final destination a routing header at `p` (of `len` bytes) names while segments are left:
 * the last address of type 0 / type 2 (RFC 6275) and Segment List[0] of an SRH (RFC 8754). -1 = none.
 */
export function routingFinalDstOffset(b: Uint8Array, p: number, len: number): number {
  if (b[p + 3] === 0) return -1;
  const type = b[p + 2];
  const n = (len - 8) >> 4;
  if (n < 1) return -1;
  if (type === 0 || type === 2) return p + 8 + 16 * (n - 1);
  if (type === 4) return p + 8;
  return -1;
}

/** Decodes the IPv6 header at b[off] and walks its extension headers within the payload length. */
export function decodeIp6(b: Uint8Array, off: number, end: number): Ip6Decoded | DecodeError {
  if (end - off < IP6_HEADER_LEN) return decodeError(DecodeLayer.Ipv6, DecodeReason.Truncated, off);
  if (b[off] >> 4 !== 6) return decodeError(DecodeLayer.Ipv6, DecodeReason.BadVersion, off);
  const plen = u16(b, off + 4);
  if (plen > end - off - IP6_HEADER_LEN) return decodeError(DecodeLayer.Ipv6, DecodeReason.BadLength, off + 4);
  const dEnd = off + IP6_HEADER_LEN + plen;
  const ext: Ip6ExtHeader[] = [];
  let nh = b[off + 6];
  let p = off + IP6_HEADER_LEN;
  let pseudoDst = off + 24;
  let frag = FRAG_NONE;
  while (isIp6ExtHeader(nh)) {
    if (nh === IPPROTO_FRAGMENT) {
      if (dEnd - p < IP6_FRAG_HEADER_LEN) return decodeError(DecodeLayer.Ipv6, DecodeReason.Truncated, p);
      const fw = u16(b, p + 2);
      const fh: Ip6FragmentHeader = { kind: 'fragment', fragOffset: fw >>> 3, more: (fw & 1) === 1, id: u32(b, p + 4) };
      ext.push(fh);
      nh = b[p];
      p += IP6_FRAG_HEADER_LEN;
      // A non-first fragment's data is not the next header: stop here.
      if (fh.fragOffset !== 0) {
        frag = FRAG_LATER;
        break;
      }
      if (fh.more) frag = FRAG_FIRST;
      continue;
    }
    if (dEnd - p < 2) return decodeError(DecodeLayer.Ipv6, DecodeReason.Truncated, p);
    const len = ip6OptionsHeaderLength(nh, b[p + 1]);
    if (len > dEnd - p) return decodeError(DecodeLayer.Ipv6, DecodeReason.Truncated, p);
    if (nh === IPPROTO_ROUTING) {
      const fd = routingFinalDstOffset(b, p, len);
      if (fd >= 0) pseudoDst = fd;
    }
    ext.push({ kind: 'options', type: nh, data: b.subarray(p + 2, p + len) });
    nh = b[p];
    p += len;
  }
  const w0 = u32(b, off);
  const header: Ip6Header = {
    tc: (w0 >>> 20) & 0xff,
    flowLabel: w0 & 0xfffff,
    hopLimit: b[off + 7],
    src: readIp6Addr(b, off + 8),
    dst: readIp6Addr(b, off + 24),
    extHeaders: ext,
    proto: nh,
    payloadLength: plen,
    frag,
  };
  return { header, payloadOffset: p, payloadEnd: dEnd, pseudoDstOffset: pseudoDst };
}

function extHeaderType(h: Ip6ExtHeader): number {
  return h.kind === 'fragment' ? IPPROTO_FRAGMENT : h.type;
}

function optionsHeaderLength(h: Ip6OptionsHeader): number {
  // At least 8 bytes, padded up to the header's unit (8 bytes, 4 for AH) with Pad1 options (0).
  const unit = h.type === IPPROTO_AH ? 4 : 8;
  return Math.max(8, Math.ceil((h.data.length + 2) / unit) * unit);
}

export function ip6ExtLength(h: Ip6Fields): number {
  let n = 0;
  for (const e of h.extHeaders) n += e.kind === 'fragment' ? IP6_FRAG_HEADER_LEN : optionsHeaderLength(e);
  return n;
}

export interface Ip6Written {
  /** Offset of the upper-layer header. */
  readonly payloadOffset: number;
  readonly pseudoDstOffset: number;
}

/** Writes the fixed and extension headers for `upperLength` bytes of upper-layer data. */
export function writeIp6(b: Uint8Array, off: number, h: Ip6Fields, upperLength: number): Ip6Written {
  const extLen = ip6ExtLength(h);
  put32(b, off, ((6 << 28) | ((h.tc & 0xff) << 20) | (h.flowLabel & 0xfffff)) >>> 0);
  put16(b, off + 4, extLen + upperLength);
  b[off + 6] = h.extHeaders.length > 0 ? extHeaderType(h.extHeaders[0]) : h.proto;
  b[off + 7] = h.hopLimit;
  writeIp6Addr(b, off + 8, h.src);
  writeIp6Addr(b, off + 24, h.dst);
  let p = off + IP6_HEADER_LEN;
  let pseudoDst = off + 24;
  for (let i = 0; i < h.extHeaders.length; i++) {
    const e = h.extHeaders[i];
    b[p] = i + 1 < h.extHeaders.length ? extHeaderType(h.extHeaders[i + 1]) : h.proto;
    if (e.kind === 'fragment') {
      b[p + 1] = 0;
      put16(b, p + 2, ((e.fragOffset & 0x1fff) << 3) | (e.more ? 1 : 0));
      put32(b, p + 4, e.id);
      p += IP6_FRAG_HEADER_LEN;
      continue;
    }
    const len = optionsHeaderLength(e);
    b[p + 1] = e.type === IPPROTO_AH ? len / 4 - 2 : len / 8 - 1;
    b.fill(0, p + 2, p + len);
    b.set(e.data, p + 2);
    if (e.type === IPPROTO_ROUTING) {
      const fd = routingFinalDstOffset(b, p, len);
      if (fd >= 0) pseudoDst = fd;
    }
    p += len;
  }
  return { payloadOffset: p, pseudoDstOffset: pseudoDst };
}

export function encodeIp6(h: Ip6Fields, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(IP6_HEADER_LEN + ip6ExtLength(h) + payload.length);
  b.set(payload, writeIp6(b, 0, h, payload.length).payloadOffset);
  return b;
}

export function isIp6Multicast(a: Ip6): boolean {
  return a >> 120n === 0xffn;
}

/** The solicited-node multicast address for `a` (RFC 4291 2.7.1): ff02::1:ffXX:XXXX. */
export function solicitedNodeAddress(a: Ip6): Ip6 {
  return 0xff0200000000000000000001ff000000n | (a & 0xffffffn);
}

/** The Ethernet multicast MAC for an IPv6 multicast address (RFC 2464 7): 33:33 and its low 32 bits. */
export function ip6MulticastMac(a: Ip6): number {
  return 0x333300000000 + Number(a & 0xffffffffn);
}
