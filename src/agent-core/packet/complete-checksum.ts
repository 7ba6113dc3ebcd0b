// Completes the TCP/UDP checksum of a frame sent with checksum offload (CHECKSUM_PARTIAL: the field
// holds only the pseudo-header sum), before the frame leaves the host or is rewritten incrementally.
// RFC 793 3.1, RFC 768, RFC 8200 8.1 (pseudo-headers).
import { checksumFromSum, pseudoHeaderSum, sumWords } from './checksum.js';
import { FRAG_NONE, IPPROTO_TCP, IPPROTO_UDP } from './flow-match.js';
import { FrameLayout, parseLayout } from './layout.js';

const L = new FrameLayout();

/**
 * Recomputes the L4 checksum in place. Returns false (frame untouched) when the frame has no
 * complete TCP/UDP header to checksum: not IP, a fragment, another protocol, or malformed.
 */
export function completeL4Checksum(frame: Uint8Array): boolean {
  if (!parseLayout(frame, L) || L.ipVersion === 0 || L.l4 < 0 || L.frag !== FRAG_NONE) return false;
  const proto = L.proto;
  const field = proto === IPPROTO_TCP ? L.l4 + 16 : proto === IPPROTO_UDP ? L.l4 + 6 : -1;
  if (field < 0 || field + 2 > L.l3End) return false;
  const length = L.l3End - L.l4;
  const addrSum = L.ipVersion === 4
    ? sumWords(frame, L.l3 + 12, L.l3 + 20)
    : sumWords(frame, L.l3 + 8, L.l3 + 24) + sumWords(frame, L.pseudoDst, L.pseudoDst + 16);
  frame[field] = 0;
  frame[field + 1] = 0;
  let ck = checksumFromSum(sumWords(frame, L.l4, L.l3End, pseudoHeaderSum(addrSum, proto, length)));
  if (ck === 0 && proto === IPPROTO_UDP) ck = 0xffff; // RFC 768: zero means "no checksum"
  frame[field] = ck >> 8;
  frame[field + 1] = ck & 0xff;
  return true;
}
