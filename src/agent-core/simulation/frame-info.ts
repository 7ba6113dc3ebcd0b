// Header facts the FlowMatch does not carry, read from the raw frame: IP packet length and IPv4 DF
// (RFC 791, RFC 8200). Used for the router's MTU decision (DESIGN: Router).
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN } from '../packet/flow-match.js';

const IP4_DF = 0x40;
const IP6_HEADER_LEN = 40;

/** Offset of the L3 header and its ethertype, skipping 802.1Q/802.1ad tags; -1 when truncated. */
function l3(frame: Uint8Array): { off: number; type: number } {
  let off = 12;
  for (;;) {
    if (frame.length < off + 2) return { off: -1, type: 0 };
    const type = (frame[off] << 8) | frame[off + 1];
    if (type !== ETHERTYPE_VLAN && type !== ETHERTYPE_QINQ) return { off: off + 2, type };
    off += 4;
  }
}

export interface IpFacts {
  /** The IP packet's length in bytes (IPv4 total length; IPv6 payload length + 40). */
  readonly length: number;
  /** IPv4 "don't fragment"; always true for IPv6 (routers never fragment it, RFC 8200 5). */
  readonly dontFragment: boolean;
}

/** The IP facts of a frame, or undefined when it is not IPv4/IPv6 or is too short to tell. */
export function ipFacts(frame: Uint8Array): IpFacts | undefined {
  const { off, type } = l3(frame);
  if (off < 0) return undefined;
  if (type === ETHERTYPE_IPV4) {
    if (frame.length < off + 20) return undefined;
    return { length: (frame[off + 2] << 8) | frame[off + 3], dontFragment: (frame[off + 6] & IP4_DF) !== 0 };
  }
  if (type === ETHERTYPE_IPV6) {
    if (frame.length < off + IP6_HEADER_LEN) return undefined;
    return { length: ((frame[off + 4] << 8) | frame[off + 5]) + IP6_HEADER_LEN, dontFragment: true };
  }
  return undefined;
}
