// Reference checksums for the packet tests: the textbook RFC 1071 loop over explicitly built byte
// arrays (pseudo-headers laid out byte by byte), sharing no code with packet/checksum.ts.
import {
  type DecodedFrame, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_ROUTING, IPPROTO_TCP, IPPROTO_UDP, decodeFrame, isDecodeError,
} from '../../../src/agent-core/packet/index.js';

export function refChecksum(data: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < data.length; i += 2) {
    sum += data[i] * 256 + (i + 1 < data.length ? data[i + 1] : 0);
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  return ~sum & 0xffff;
}

function be(n: number, width: number): number[] {
  const out: number[] = [];
  for (let i = width - 1; i >= 0; i--) out.push(Math.floor(n / 2 ** (8 * i)) % 256);
  return out;
}

function ip6Bytes(a: bigint): number[] {
  const out: number[] = [];
  for (let i = 15; i >= 0; i--) out.push(Number((a >> BigInt(8 * i)) & 0xffn));
  return out;
}

export function refPseudo4(src: number, dst: number, proto: number, len: number): number[] {
  return [...be(src, 4), ...be(dst, 4), 0, proto, ...be(len, 2)];
}

export function refPseudo6(src: bigint, dst: bigint, proto: number, len: number): number[] {
  return [...ip6Bytes(src), ...ip6Bytes(dst), ...be(len, 4), 0, 0, 0, proto];
}

/** The checksum of `segment` (its checksum field at `ckAt` taken as 0) after `pseudo`. */
export function refL4Checksum(pseudo: number[], segment: Uint8Array, ckAt: number): number {
  const seg = Array.from(segment);
  seg[ckAt] = 0;
  seg[ckAt + 1] = 0;
  return refChecksum([...pseudo, ...seg]);
}

/** The IPv6 destination the pseudo-header uses: the final one of a routing header with segments left. */
export function refFinalDst(d: DecodedFrame): bigint {
  let dst = d.ip6!.dst;
  for (const e of d.ip6!.extHeaders) {
    if (e.kind !== 'options' || e.type !== IPPROTO_ROUTING || e.data[1] === 0) continue;
    const rtype = e.data[0];
    const n = Math.floor((e.data.length - 6) / 16);
    if (n < 1) continue;
    const at = rtype === 4 ? 6 : rtype === 0 || rtype === 2 ? 6 + 16 * (n - 1) : -1;
    if (at < 0) continue;
    let a = 0n;
    for (let j = 0; j < 16; j++) a = (a << 8n) | BigInt(e.data[at + j]);
    dst = a;
  }
  return dst;
}

export interface ChecksumMismatch {
  readonly what: string;
  readonly stored: number;
  readonly expected: number;
}

function ckOffset(proto: number): number {
  return proto === IPPROTO_TCP ? 16 : proto === IPPROTO_UDP ? 6 : 2;
}

/** L4 segment bytes of a decoded frame: from the L4 header to the datagram end (UDP: to its length). */
function l4Bytes(frame: Uint8Array, d: DecodedFrame): Uint8Array {
  const ipStart = 14 + 4 * d.vlans.length;
  const ipEnd = frame.length - d.padding.length;
  const start = d.ip4 ? ipStart + d.ip4.headerLength : ipStart + 40 + extLen(d);
  const l4 = d.l4!;
  return frame.subarray(start, l4.kind === 'udp' ? start + l4.length : ipEnd);
}

function extLen(d: DecodedFrame): number {
  let n = 0;
  for (const e of d.ip6!.extHeaders) n += e.kind === 'fragment' ? 8 : e.data.length + 2;
  return n;
}

/**
 * Recomputes every checksum of the frame from scratch: IPv4 header, TCP/UDP/ICMP/ICMPv6, and for an
 * ICMP error the embedded IPv4 header and, when the embedded datagram is whole, its L4 checksum.
 * Fragments' L4 checksums and UDP checksum 0 are skipped.
 */
export function checksumMismatches(frame: Uint8Array, what = ''): ChecksumMismatch[] {
  const d = decodeFrame(frame, { verifyChecksums: false });
  if (isDecodeError(d)) throw new Error(`reference: frame does not decode: ${d.layer} ${d.reason}`);
  const out: ChecksumMismatch[] = [];
  const ipEnd = frame.length - d.padding.length;
  if (d.ip4) {
    const hdrStart = ipEnd - d.ip4.totalLength;
    const hdr = Array.from(frame.subarray(hdrStart, hdrStart + d.ip4.headerLength));
    const stored = hdr[10] * 256 + hdr[11];
    hdr[10] = 0;
    hdr[11] = 0;
    const expected = refChecksum(hdr);
    if (stored !== expected) out.push({ what: `${what}ipv4`, stored, expected });
  }
  const l4 = d.l4;
  const ip = d.ip4 ?? d.ip6;
  if (!l4 || !ip || l4.kind === 'raw' || ip.frag !== 0) return out;
  const seg = l4Bytes(frame, d);
  const proto = ip.proto;
  if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP && proto !== IPPROTO_ICMP && proto !== IPPROTO_ICMPV6) return out;
  const at = ckOffset(proto);
  const stored = seg[at] * 256 + seg[at + 1];
  if (proto === IPPROTO_UDP && stored === 0) return out;
  let pseudo: number[] = [];
  if (d.ip4 && proto !== IPPROTO_ICMP) pseudo = refPseudo4(d.ip4.src, d.ip4.dst, proto, seg.length);
  if (d.ip6) pseudo = refPseudo6(d.ip6.src, refFinalDst(d), proto, seg.length);
  let expected = refL4Checksum(pseudo, seg, at);
  if (proto === IPPROTO_UDP && expected === 0) expected = 0xffff;
  if (stored !== expected) out.push({ what: `${what}${l4.kind}`, stored, expected });
  if ((l4.kind === 'icmp4' || l4.kind === 'icmp6') && isErrorType(l4.type, l4.kind === 'icmp6')) {
    out.push(...innerMismatches(l4.data, l4.kind === 'icmp6', `${what}inner-`));
  }
  return out;
}

function isErrorType(type: number, v6: boolean): boolean {
  return v6 ? type < 128 : [3, 4, 5, 11, 12].includes(type);
}

function innerMismatches(data: Uint8Array, v6: boolean, what: string): ChecksumMismatch[] {
  // A whole embedded datagram is checked like a frame of its own; a cut-short one only by its IPv4 header.
  const fake = new Uint8Array(14 + data.length);
  fake[12] = v6 ? 0x86 : 0x08;
  fake[13] = v6 ? 0xdd : 0x00;
  fake.set(data, 14);
  const d = decodeFrame(fake, { verifyChecksums: false });
  if (!isDecodeError(d)) return checksumMismatches(fake, what);
  if (v6 || data.length < 20) return [];
  const hl = (data[0] & 0xf) * 4;
  if (hl < 20 || hl > data.length) return [];
  const hdr = Array.from(data.subarray(0, hl));
  const stored = hdr[10] * 256 + hdr[11];
  hdr[10] = 0;
  hdr[11] = 0;
  const expected = refChecksum(hdr);
  return stored === expected ? [] : [{ what: `${what}ipv4`, stored, expected }];
}

/** Plain data for deep equality: typed arrays become number arrays. */
export function plain(x: unknown): unknown {
  if (x instanceof Uint8Array) return Array.from(x);
  if (Array.isArray(x)) return x.map(plain);
  if (x !== null && typeof x === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) o[k] = plain(v);
    return o;
  }
  return x;
}

/** `actual` restricted to the keys present in `shape` (recursively), to compare a decode with its input. */
export function project(actual: unknown, shape: unknown): unknown {
  if (shape instanceof Uint8Array || actual instanceof Uint8Array) return plain(actual);
  if (Array.isArray(shape) && Array.isArray(actual)) return actual.map((a, i) => project(a, shape[i]));
  if (shape !== null && typeof shape === 'object' && actual !== null && typeof actual === 'object') {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(shape)) o[k] = project((actual as Record<string, unknown>)[k], (shape as Record<string, unknown>)[k]);
    return o;
  }
  return actual;
}
