// encodeFrame: bytes from a FrameInit, computing lengths and (unless given) checksums.
// IPv4 header (RFC 1071), TCP/UDP/ICMPv6 with their pseudo-headers (RFC 8200 8.1), ICMPv4 (RFC 792).
import { ARP_LEN, writeArp } from './arp.js';
import { sumWords } from './checksum.js';
import { ethernetHeaderLength, writeEthernet } from './ethernet.js';
import type { FrameInit, L4Fields } from './frame.js';
import { icmp4Length, writeIcmp4 } from './icmp.js';
import { icmp6Length, writeIcmp6 } from './icmp6.js';
import { ip4HeaderLength, writeIp4 } from './ipv4.js';
import { IP6_HEADER_LEN, ip6ExtLength, writeIp6 } from './ipv6.js';
import { tcpLength, udpLength, writeTcp, writeUdp } from './tcp-udp.js';
import { EMPTY_BYTES } from './wire.js';

function l4Length(l4: L4Fields | undefined): number {
  if (l4 === undefined) return 0;
  switch (l4.kind) {
    case 'tcp': return tcpLength(l4);
    case 'udp': return udpLength(l4);
    case 'icmp4': return icmp4Length(l4);
    case 'icmp6': return icmp6Length(l4);
    case 'raw': return l4.data.length;
  }
}

function writeL4(b: Uint8Array, off: number, l4: L4Fields | undefined, pseudoAddrSum: number): void {
  if (l4 === undefined) return;
  switch (l4.kind) {
    case 'tcp': writeTcp(b, off, l4, pseudoAddrSum); return;
    case 'udp': writeUdp(b, off, l4, pseudoAddrSum); return;
    case 'icmp4': writeIcmp4(b, off, l4); return;
    case 'icmp6': writeIcmp6(b, off, l4, pseudoAddrSum); return;
    case 'raw': b.set(l4.data, off); return;
  }
}

/**
 * Encodes a frame. Fields are written as given (an l4 kind that disagrees with ip proto is the
 * caller's choice); TCP/UDP/ICMP checksums use the pseudo-header of the IP header written.
 */
export function encodeFrame(f: FrameInit): Uint8Array {
  const vlans = f.vlans ?? [];
  const padding = f.padding ?? EMPTY_BYTES;
  const ethLen = ethernetHeaderLength(vlans.length);
  const upper = l4Length(f.l4);
  let l3Len: number;
  if (f.arp) l3Len = ARP_LEN;
  else if (f.ip4) l3Len = ip4HeaderLength(f.ip4) + upper;
  else if (f.ip6) l3Len = IP6_HEADER_LEN + ip6ExtLength(f.ip6) + upper;
  else l3Len = f.payload?.length ?? 0;
  const b = new Uint8Array(ethLen + l3Len + padding.length);
  writeEthernet(b, 0, f.eth, vlans);
  if (f.arp) {
    writeArp(b, ethLen, f.arp);
  } else if (f.ip4) {
    const l4Off = writeIp4(b, ethLen, f.ip4, upper);
    writeL4(b, l4Off, f.l4, sumWords(b, ethLen + 12, ethLen + 20));
  } else if (f.ip6) {
    const w = writeIp6(b, ethLen, f.ip6, upper);
    const addrSum = sumWords(b, ethLen + 8, ethLen + 24, sumWords(b, w.pseudoDstOffset, w.pseudoDstOffset + 16));
    writeL4(b, w.payloadOffset, f.l4, addrSum);
  } else if (f.payload) {
    b.set(f.payload, ethLen);
  }
  b.set(padding, ethLen + l3Len);
  return b;
}
