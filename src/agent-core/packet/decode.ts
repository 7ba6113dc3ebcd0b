// decodeFrame: a whole Ethernet frame into a DecodedFrame, or the DecodeError of the first bad header.
// Layers: ethernet.ts, arp.ts, ipv4.ts, ipv6.ts, tcp-udp.ts, icmp.ts, icmp6.ts (DESIGN: Layout, packet/).
import { ARP_LEN, decodeArp } from './arp.js';
import { type ChecksumContext, sumWords } from './checksum.js';
import { decodeEthernet } from './ethernet.js';
import { type DecodeError, DecodeLayer, DecodeReason, decodeError, isDecodeError } from './errors.js';
import {
  ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, FRAG_LATER, FRAG_NONE, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP,
} from './flow-match.js';
import type { DecodedFrame, L4 } from './frame.js';
import { decodeIcmp4 } from './icmp.js';
import { decodeIcmp6 } from './icmp6.js';
import { decodeIp4 } from './ipv4.js';
import { decodeIp6 } from './ipv6.js';
import { decodeTcp, decodeUdp } from './tcp-udp.js';
import { EMPTY_BYTES } from './wire.js';

export interface DecodeOptions {
  /** Verify the IPv4 header and L4 checksums (default true); when false their status is 'unchecked'. */
  readonly verifyChecksums?: boolean;
  /** Return a DecodeError (reason bad-checksum) for a bad checksum instead of only flagging it. */
  readonly rejectBadChecksums?: boolean;
}

/** Decodes the upper layer in b[off, end) by protocol; `frag` decides what can be decoded and verified. */
export function decodeUpper(
  b: Uint8Array, off: number, end: number, proto: number, v6: boolean, frag: number, ck: ChecksumContext,
): L4 | DecodeError {
  if (frag === FRAG_LATER) return { kind: 'raw', data: b.subarray(off, end) };
  // A first fragment's checksum covers the whole datagram.
  const c: ChecksumContext = frag !== FRAG_NONE && ck !== 'unchecked' ? 'unverifiable' : ck;
  if (proto === IPPROTO_TCP) return decodeTcp(b, off, end, c);
  if (proto === IPPROTO_UDP) return decodeUdp(b, off, end, c, frag !== FRAG_NONE);
  if (proto === IPPROTO_ICMP && !v6) return decodeIcmp4(b, off, end, c);
  if (proto === IPPROTO_ICMPV6 && v6) return decodeIcmp6(b, off, end, c);
  return { kind: 'raw', data: b.subarray(off, end) };
}

function l4Layer(l4: L4): DecodeLayer {
  switch (l4.kind) {
    case 'tcp': return DecodeLayer.Tcp;
    case 'udp': return DecodeLayer.Udp;
    case 'icmp4': return DecodeLayer.Icmp;
    default: return DecodeLayer.Icmp6;
  }
}

export function decodeFrame(frame: Uint8Array, opts: DecodeOptions = {}): DecodedFrame | DecodeError {
  const verify = opts.verifyChecksums ?? true;
  const e = decodeEthernet(frame);
  if (isDecodeError(e)) return e;
  const { eth, vlans } = e;
  const off = e.payloadOffset;
  const end = frame.length;
  let result: DecodedFrame;
  let l4Off = 0;
  if (eth.etherType === ETHERTYPE_ARP) {
    const arp = decodeArp(frame, off, end);
    return isDecodeError(arp) ? arp : { eth, vlans, arp, padding: frame.subarray(off + ARP_LEN) };
  }
  if (eth.etherType === ETHERTYPE_IPV4) {
    const ip = decodeIp4(frame, off, end, verify);
    if (isDecodeError(ip)) return ip;
    const h = ip.header;
    const ck: ChecksumContext = verify ? sumWords(frame, off + 12, off + 20) : 'unchecked';
    const l4 = decodeUpper(frame, ip.payloadOffset, ip.payloadEnd, h.proto, false, h.frag, ck);
    if (isDecodeError(l4)) return l4;
    result = { eth, vlans, ip4: h, l4, padding: frame.subarray(ip.payloadEnd) };
    l4Off = ip.payloadOffset;
    if (opts.rejectBadChecksums && h.checksumStatus === 'bad') return decodeError(DecodeLayer.Ipv4, DecodeReason.BadChecksum, off + 10);
  } else if (eth.etherType === ETHERTYPE_IPV6) {
    const ip = decodeIp6(frame, off, end);
    if (isDecodeError(ip)) return ip;
    const h = ip.header;
    const ck: ChecksumContext = verify
      ? sumWords(frame, off + 8, off + 24, sumWords(frame, ip.pseudoDstOffset, ip.pseudoDstOffset + 16))
      : 'unchecked';
    const l4 = decodeUpper(frame, ip.payloadOffset, ip.payloadEnd, h.proto, true, h.frag, ck);
    if (isDecodeError(l4)) return l4;
    result = { eth, vlans, ip6: h, l4, padding: frame.subarray(ip.payloadEnd) };
    l4Off = ip.payloadOffset;
  } else {
    return { eth, vlans, payload: frame.subarray(off), padding: EMPTY_BYTES };
  }
  const l4 = result.l4;
  if (opts.rejectBadChecksums && l4 !== undefined && l4.kind !== 'raw' && l4.checksumStatus === 'bad') {
    return decodeError(l4Layer(l4), DecodeReason.BadChecksum, l4Off);
  }
  return result;
}
