// TCP (RFC 9293) and UDP (RFC 768) headers with their pseudo-header checksums; TCP options as a list.
import { IPPROTO_TCP, IPPROTO_UDP } from './flow-match.js';
import { type ChecksumContext, type ChecksumStatus, checksumVerifies, internetChecksum, pseudoHeaderSum } from './checksum.js';
import { type DecodeError, DecodeLayer, DecodeReason, decodeError } from './errors.js';
import { put16, put32, u16, u32 } from './wire.js';

export const TCP_MIN_HEADER_LEN = 20;
export const TCP_MAX_HEADER_LEN = 60;
export const UDP_HEADER_LEN = 8;

export const TCP_FIN = 0x001;
export const TCP_SYN = 0x002;
export const TCP_RST = 0x004;
export const TCP_PSH = 0x008;
export const TCP_ACK = 0x010;
export const TCP_URG = 0x020;
export const TCP_ECE = 0x040;
export const TCP_CWR = 0x080;
/** The 12 bits after the data offset: the flags above, AE/NS (0x100) and the reserved bits. */
export const TCP_FLAGS_MASK = 0xfff;

export const TCPOPT_EOL = 0;
export const TCPOPT_NOP = 1;
export const TCPOPT_MSS = 2;

export interface TcpFields {
  readonly kind: 'tcp';
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly ack: number;
  readonly flags: number;
  readonly window: number;
  readonly urgent: number;
  /** Option bytes as on the wire (at most 40; padded to a multiple of 4 with EOL when encoded). */
  readonly options: Uint8Array;
  readonly payload: Uint8Array;
  /** Written as is when given; computed otherwise. */
  readonly checksum?: number;
}

export interface TcpSegment extends TcpFields {
  readonly headerLength: number;
  readonly checksum: number;
  readonly checksumStatus: ChecksumStatus;
}

export interface UdpFields {
  readonly kind: 'udp';
  readonly srcPort: number;
  readonly dstPort: number;
  readonly payload: Uint8Array;
  /** Written as is when given (a first fragment's length covers the whole datagram); else 8 + payload. */
  readonly length?: number;
  /** Written as is when given; computed otherwise (0 is sent as 0xffff, RFC 768). */
  readonly checksum?: number;
}

export interface UdpDatagram extends UdpFields {
  readonly length: number;
  readonly checksum: number;
  readonly checksumStatus: ChecksumStatus;
}

/** The status of the checksum over b[start, end) with the pseudo-header of `proto` (when `ck` asks to verify). */
export function l4ChecksumStatus(b: Uint8Array, start: number, end: number, ck: ChecksumContext, proto: number): ChecksumStatus {
  if (typeof ck !== 'number') return ck;
  return checksumVerifies(b, start, end, pseudoHeaderSum(ck, proto, end - start)) ? 'ok' : 'bad';
}

/** Decodes the TCP segment in b[off, end); `ck` carries the pseudo-header address sum to verify with. */
export function decodeTcp(b: Uint8Array, off: number, end: number, ck: ChecksumContext): TcpSegment | DecodeError {
  if (end - off < TCP_MIN_HEADER_LEN) return decodeError(DecodeLayer.Tcp, DecodeReason.Truncated, off);
  const w6 = u16(b, off + 12);
  const hl = (w6 >>> 12) * 4;
  if (hl < TCP_MIN_HEADER_LEN) return decodeError(DecodeLayer.Tcp, DecodeReason.BadHeaderLength, off + 12);
  if (hl > end - off) return decodeError(DecodeLayer.Tcp, DecodeReason.Truncated, off + 12);
  return {
    kind: 'tcp',
    srcPort: u16(b, off),
    dstPort: u16(b, off + 2),
    seq: u32(b, off + 4),
    ack: u32(b, off + 8),
    flags: w6 & TCP_FLAGS_MASK,
    window: u16(b, off + 14),
    checksum: u16(b, off + 16),
    urgent: u16(b, off + 18),
    options: b.subarray(off + TCP_MIN_HEADER_LEN, off + hl),
    payload: b.subarray(off + hl, end),
    headerLength: hl,
    checksumStatus: l4ChecksumStatus(b, off, end, ck, IPPROTO_TCP),
  };
}

export function tcpLength(t: TcpFields): number {
  return TCP_MIN_HEADER_LEN + ((Math.min(t.options.length, 40) + 3) & ~3) + t.payload.length;
}

/** Writes the segment; the checksum is computed from `pseudoAddrSum` unless the fields carry one. */
export function writeTcp(b: Uint8Array, off: number, t: TcpFields, pseudoAddrSum: number): number {
  const hl = TCP_MIN_HEADER_LEN + ((Math.min(t.options.length, 40) + 3) & ~3);
  put16(b, off, t.srcPort);
  put16(b, off + 2, t.dstPort);
  put32(b, off + 4, t.seq);
  put32(b, off + 8, t.ack);
  put16(b, off + 12, ((hl / 4) << 12) | (t.flags & TCP_FLAGS_MASK));
  put16(b, off + 14, t.window);
  put16(b, off + 16, 0);
  put16(b, off + 18, t.urgent);
  b.fill(0, off + TCP_MIN_HEADER_LEN, off + hl);
  b.set(t.options.subarray(0, hl - TCP_MIN_HEADER_LEN), off + TCP_MIN_HEADER_LEN);
  b.set(t.payload, off + hl);
  const end = off + hl + t.payload.length;
  put16(b, off + 16, t.checksum ?? internetChecksum(b, off, end, pseudoHeaderSum(pseudoAddrSum, IPPROTO_TCP, end - off)));
  return end;
}

export function encodeTcp(t: TcpFields, pseudoAddrSum: number): Uint8Array {
  const b = new Uint8Array(tcpLength(t));
  writeTcp(b, 0, t, pseudoAddrSum);
  return b;
}

/**
 * Decodes the UDP datagram in b[off, end). Unless `fragmented`, the length field must fit the bytes
 * present and bounds the payload; in a first fragment it covers the whole datagram and is not checked.
 */
export function decodeUdp(
  b: Uint8Array,
  off: number,
  end: number,
  ck: ChecksumContext,
  fragmented: boolean,
): UdpDatagram | DecodeError {
  if (end - off < UDP_HEADER_LEN) return decodeError(DecodeLayer.Udp, DecodeReason.Truncated, off);
  const length = u16(b, off + 4);
  let pEnd = end;
  if (!fragmented) {
    if (length < UDP_HEADER_LEN || length > end - off) return decodeError(DecodeLayer.Udp, DecodeReason.BadLength, off + 4);
    pEnd = off + length;
  }
  const checksum = u16(b, off + 6);
  return {
    kind: 'udp',
    srcPort: u16(b, off),
    dstPort: u16(b, off + 2),
    length,
    checksum,
    payload: b.subarray(off + UDP_HEADER_LEN, pEnd),
    checksumStatus: checksum === 0 ? 'absent' : l4ChecksumStatus(b, off, pEnd, ck, IPPROTO_UDP),
  };
}

export function udpLength(u: UdpFields): number {
  return UDP_HEADER_LEN + u.payload.length;
}

export function writeUdp(b: Uint8Array, off: number, u: UdpFields, pseudoAddrSum: number): number {
  const end = off + UDP_HEADER_LEN + u.payload.length;
  put16(b, off, u.srcPort);
  put16(b, off + 2, u.dstPort);
  put16(b, off + 4, u.length ?? end - off);
  put16(b, off + 6, 0);
  b.set(u.payload, off + UDP_HEADER_LEN);
  let ck = u.checksum;
  if (ck === undefined) {
    ck = internetChecksum(b, off, end, pseudoHeaderSum(pseudoAddrSum, IPPROTO_UDP, end - off));
    if (ck === 0) ck = 0xffff;
  }
  put16(b, off + 6, ck);
  return end;
}

export function encodeUdp(u: UdpFields, pseudoAddrSum: number): Uint8Array {
  const b = new Uint8Array(udpLength(u));
  writeUdp(b, 0, u, pseudoAddrSum);
  return b;
}

/** One TCP option; NOP has empty data. */
export interface TcpOption {
  readonly kind: number;
  readonly data: Uint8Array;
}

/** Splits TCP option bytes into options, stopping at EOL (RFC 9293 3.2). */
export function decodeTcpOptions(b: Uint8Array): TcpOption[] | DecodeError {
  const out: TcpOption[] = [];
  let p = 0;
  while (p < b.length) {
    const kind = b[p];
    if (kind === TCPOPT_EOL) break;
    if (kind === TCPOPT_NOP) {
      out.push({ kind, data: b.subarray(p + 1, p + 1) });
      p++;
      continue;
    }
    if (b.length - p < 2) return decodeError(DecodeLayer.Tcp, DecodeReason.BadOption, p);
    const len = b[p + 1];
    if (len < 2 || len > b.length - p) return decodeError(DecodeLayer.Tcp, DecodeReason.BadOption, p);
    out.push({ kind, data: b.subarray(p + 2, p + len) });
    p += len;
  }
  return out;
}

/** Option bytes for a TcpFields.options, padded with EOL to a multiple of 4. */
export function encodeTcpOptions(opts: readonly TcpOption[]): Uint8Array {
  let n = 0;
  for (const o of opts) n += o.kind === TCPOPT_NOP || o.kind === TCPOPT_EOL ? 1 : 2 + o.data.length;
  const b = new Uint8Array((n + 3) & ~3);
  let p = 0;
  for (const o of opts) {
    b[p] = o.kind;
    if (o.kind === TCPOPT_NOP || o.kind === TCPOPT_EOL) {
      p++;
      continue;
    }
    b[p + 1] = 2 + o.data.length;
    b.set(o.data, p + 2);
    p += 2 + o.data.length;
  }
  return b;
}
