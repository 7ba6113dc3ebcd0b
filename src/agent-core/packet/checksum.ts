// The Internet checksum (RFC 1071), the TCP/UDP/ICMPv6 pseudo-headers (RFC 793, RFC 768, RFC 8200 8.1)
// and incremental update after a rewrite (RFC 1624, eqn. 3).
import type { Ip4, Ip6 } from './addr.js';

/**
 * What a decoder found about a checksum: 'absent' = UDP checksum 0 (none sent);
 * 'unverifiable' = a fragment, whose checksum covers bytes not present; 'unchecked' = not asked to verify.
 */
export type ChecksumStatus = 'ok' | 'bad' | 'absent' | 'unverifiable' | 'unchecked';

/**
 * How an L4 decoder should treat its checksum: a number = verify, with this pseudo-header address
 * sum (0 for ICMPv4, which has none); otherwise the status to report without verifying.
 */
export type ChecksumContext = number | 'unverifiable' | 'unchecked';

/** Adds bytes [start, end) as big-endian 16-bit words to `sum` (an odd last byte is padded with 0); not folded. */
export function sumWords(b: Uint8Array, start: number, end: number, sum = 0): number {
  let i = start;
  const last = end - 1;
  for (; i < last; i += 2) sum += (b[i] << 8) | b[i + 1];
  if (i < end) sum += b[i] << 8;
  return sum;
}

/** Folds a sum of 16-bit words into 16 bits with end-around carry. */
export function foldSum(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/** The checksum field value for data whose words (checksum field as 0) add up to `sum`. */
export function checksumFromSum(sum: number): number {
  return ~foldSum(sum) & 0xffff;
}

export function internetChecksum(b: Uint8Array, start: number, end: number, initial = 0): number {
  return checksumFromSum(sumWords(b, start, end, initial));
}

/** Data carrying its checksum verifies when all its words fold to 0xffff. */
export function checksumVerifies(b: Uint8Array, start: number, end: number, initial = 0): boolean {
  return foldSum(sumWords(b, start, end, initial)) === 0xffff;
}

/** Pseudo-header address part for IPv4 (RFC 793 3.1): source and destination words. */
export function pseudoSum4(src: Ip4, dst: Ip4): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff);
}

/** Pseudo-header address part for IPv6 (RFC 8200 8.1), with the final destination. */
export function pseudoSum6(src: Ip6, dst: Ip6): number {
  let s = 0;
  for (let i = 0; i < 8; i++) {
    const shift = BigInt(i * 16);
    s += Number((src >> shift) & 0xffffn) + Number((dst >> shift) & 0xffffn);
  }
  return s;
}

/** The whole pseudo-header sum for an upper-layer protocol and length, given the address sum. */
export function pseudoHeaderSum(addrSum: number, proto: number, length: number): number {
  return addrSum + proto + Math.floor(length / 0x10000) + (length % 0x10000);
}

/**
 * RFC 1624 eqn. 3: the checksum after one covered 16-bit word changed from `oldWord` to `newWord`.
 * A zero sum is taken as 0xffff (negative zero) so the result equals a full recomputation.
 */
export function updateChecksum(check: number, oldWord: number, newWord: number): number {
  let s = (~check & 0xffff) + (~oldWord & 0xffff) + newWord;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  if (s === 0) s = 0xffff;
  return ~s & 0xffff;
}
