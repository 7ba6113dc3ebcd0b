// The whole-frame view: DecodedFrame (what decodeFrame returns) and FrameInit (what encodeFrame takes).
// DESIGN: Layout, packet/. A DecodedFrame is a FrameInit, so re-encoding a decoded frame gives its bytes back.
import type { ArpPacket } from './arp.js';
import type { EthHeader, VlanTag } from './ethernet.js';
import type { Icmp4Fields, Icmp4Message } from './icmp.js';
import type { Icmp6Fields, Icmp6Message } from './icmp6.js';
import type { Ip4Fields, Ip4Header } from './ipv4.js';
import type { Ip6Fields, Ip6Header } from './ipv6.js';
import type { TcpFields, TcpSegment, UdpDatagram, UdpFields } from './tcp-udp.js';

/** Upper-layer bytes not decoded: another protocol, ESP, No Next Header, or a non-first fragment. */
export interface RawPayload {
  readonly kind: 'raw';
  readonly data: Uint8Array;
}

export type L4 = TcpSegment | UdpDatagram | Icmp4Message | Icmp6Message | RawPayload;
export type L4Fields = TcpFields | UdpFields | Icmp4Fields | Icmp6Fields | RawPayload;

/** Byte fields are views into the decoded input: copy them before changing the input. */
export interface DecodedFrame {
  readonly eth: EthHeader;
  /** Outermost first; at most MAX_VLAN_DEPTH. */
  readonly vlans: readonly VlanTag[];
  readonly arp?: ArpPacket;
  readonly ip4?: Ip4Header;
  readonly ip6?: Ip6Header;
  /** Present with ip4 or ip6. */
  readonly l4?: L4;
  /** Everything after the ethertype when it is not ARP, IPv4 or IPv6. */
  readonly payload?: Uint8Array;
  /** Bytes after the ARP packet or the IP datagram (Ethernet padding). */
  readonly padding: Uint8Array;
}

/** Exactly one of arp, ip4 (with l4), ip6 (with l4) or payload. */
export interface FrameInit {
  readonly eth: EthHeader;
  readonly vlans?: readonly VlanTag[];
  readonly arp?: ArpPacket;
  readonly ip4?: Ip4Fields;
  readonly ip6?: Ip6Fields;
  readonly l4?: L4Fields;
  readonly payload?: Uint8Array;
  readonly padding?: Uint8Array;
}
