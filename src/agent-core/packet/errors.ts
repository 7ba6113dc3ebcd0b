// Decode errors as values (STYLE: "errors are values in the core"): every decoder, rewrite and
// builder in packet/ returns a DecodeError for bad input instead of throwing.

export interface DecodeError {
  readonly kind: 'decodeError';
  /** The header or stage that failed: one of DecodeLayer. */
  readonly layer: string;
  /** Why it failed: one of DecodeReason. */
  readonly reason: string;
  /** Byte offset in the input where the problem was found (the start of the offending header or field). */
  readonly offset: number;
}

export const DecodeLayer = {
  Ethernet: 'ethernet',
  Vlan: 'vlan',
  Arp: 'arp',
  Ipv4: 'ipv4',
  Ipv6: 'ipv6',
  Tcp: 'tcp',
  Udp: 'udp',
  Icmp: 'icmp',
  Icmp6: 'icmp6',
  Nd: 'nd',
  Vxlan: 'vxlan',
  /** The datagram embedded in an ICMP/ICMPv6 error. */
  IcmpInner: 'icmp-inner',
  /** applyModifications: a rewrite that does not fit the frame. */
  Modify: 'modify',
  /** A builder refused its input (or RFC 1812 / RFC 4443 forbid the message). */
  Build: 'build',
} as const;
export type DecodeLayer = (typeof DecodeLayer)[keyof typeof DecodeLayer];

export const DecodeReason = {
  /** Fewer bytes than the header (or a field it announces) needs. */
  Truncated: 'truncated',
  BadVersion: 'bad-version',
  /** IPv4 IHL < 5, TCP data offset < 5 or past the segment. */
  BadHeaderLength: 'bad-header-length',
  /** A length field disagrees with the bytes present (IPv4 total length, IPv6 payload length, UDP length). */
  BadLength: 'bad-length',
  /** Only with DecodeOptions.rejectBadChecksums; otherwise checksums are reported as a status. */
  BadChecksum: 'bad-checksum',
  /** ARP other than Ethernet/IPv4. */
  Unsupported: 'unsupported',
  /** An ND option with length 0 or running past the message (RFC 4861 4.6). */
  BadOption: 'bad-option',
  /** A second source/target link-layer address option. */
  DuplicateOption: 'duplicate-option',
  /** VXLAN without the I flag (RFC 7348 5). */
  BadFlags: 'bad-flags',
  // applyModifications
  NoVlan: 'no-vlan',
  NotIp: 'not-ip',
  /** No TCP/UDP/ICMP header to rewrite (another protocol, or a non-first fragment). */
  NoL4Header: 'no-l4-header',
  /** An IPv4 value for an IPv6 packet or the reverse. */
  FamilyMismatch: 'family-mismatch',
  BadValue: 'bad-value',
  UnsupportedField: 'unsupported-field',
  TtlExpired: 'ttl-expired',
  NotEcho: 'not-echo',
  NotIcmpError: 'not-icmp-error',
  // builders
  NotEchoRequest: 'not-echo-request',
  Fragment: 'fragment',
  /** RFC 1812 4.3.2.7 / RFC 4443 2.4(e): no ICMP error about an ICMP error (or an ND redirect). */
  AboutIcmpError: 'about-icmp-error',
  /** RFC 1812 4.3.2.7: no ICMP error about a non-first fragment. */
  NonFirstFragment: 'non-first-fragment',
  /** The original was sent to an IP or link-layer multicast/broadcast address. */
  MulticastDestination: 'multicast-destination',
  /** The original's source does not name a single host (unspecified, loopback, multicast, broadcast). */
  BadSource: 'bad-source',
} as const;
export type DecodeReason = (typeof DecodeReason)[keyof typeof DecodeReason];

export function decodeError(layer: DecodeLayer, reason: DecodeReason, offset: number): DecodeError {
  return { kind: 'decodeError', layer, reason, offset };
}

export function isDecodeError(x: unknown): x is DecodeError {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'decodeError';
}
