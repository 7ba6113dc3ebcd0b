// Checksums against a textbook reference (reference.ts): RFC 1071 sums, the IPv4 and IPv6 pseudo-headers
// (including a routing header's final destination), RFC 1624 incremental updates, UDP's 0 → 0xffff.
import fc from 'fast-check';
import {
  IPPROTO_ICMPV6, IPPROTO_ROUTING, IPPROTO_TCP, IPPROTO_UDP, checksumVerifies, decodeFrame, encodeFrame, encodeIcmp6, encodeTcp,
  encodeUdp, internetChecksum, isDecodeError, pseudoSum4, pseudoSum6, updateChecksum,
} from '../../../src/agent-core/packet/index.js';
import * as A from './arbitraries.js';
import { checksumMismatches, refChecksum, refL4Checksum, refPseudo4, refPseudo6 } from './reference.js';

const ck16 = (b: Uint8Array, at: number): number => b[at] * 256 + b[at + 1];

test('internetChecksum equals the reference on any bytes, odd lengths included', () => {
  fc.assert(fc.property(A.bytes(200), (b) => expect(internetChecksum(b, 0, b.length)).toBe(refChecksum(b))));
});

test('data carrying its checksum verifies, and any single-byte change is caught', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 100 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (data, pos, delta) => {
      const b = new Uint8Array(2 + data.length + (data.length % 2));
      b.set(data, 2);
      const c = internetChecksum(b, 0, b.length);
      b[0] = c >> 8;
      b[1] = c & 0xff;
      expect(checksumVerifies(b, 0, b.length)).toBe(true);
      // A one-byte change moves the sum by delta or delta * 256, never a multiple of 0xffff.
      const i = 2 + (pos % data.length);
      b[i] = (b[i] + delta) & 0xff;
      expect(checksumVerifies(b, 0, b.length)).toBe(false);
    }),
  );
});

test('TCP over IPv4: the pseudo-header checksum equals the reference', () => {
  fc.assert(
    fc.property(A.tcpFields, A.ip4, A.ip4, (t, src, dst) => {
      const b = encodeTcp(t, pseudoSum4(src, dst));
      expect(ck16(b, 16)).toBe(refL4Checksum(refPseudo4(src, dst, IPPROTO_TCP, b.length), b, 16));
    }),
  );
});

test('UDP over IPv6 and ICMPv6: the pseudo-header checksum equals the reference', () => {
  fc.assert(
    fc.property(A.udpFields, A.icmp6Fields, A.ip6, A.ip6, (u, m, src, dst) => {
      const ps = pseudoSum6(src, dst);
      const ub = encodeUdp(u, ps);
      const ref = refL4Checksum(refPseudo6(src, dst, IPPROTO_UDP, ub.length), ub, 6);
      expect(ck16(ub, 6)).toBe(ref === 0 ? 0xffff : ref);
      const ib = encodeIcmp6(m, ps);
      expect(ck16(ib, 2)).toBe(refL4Checksum(refPseudo6(src, dst, IPPROTO_ICMPV6, ib.length), ib, 2));
    }),
  );
});

test('a UDP checksum that computes to 0 is sent as 0xffff and verifies', () => {
  fc.assert(
    fc.property(A.ip4, A.ip4, A.u16, A.u16, (src, dst, sp, dp) => {
      const probe = encodeUdp({ kind: 'udp', srcPort: sp, dstPort: dp, payload: new Uint8Array(2) }, pseudoSum4(src, dst));
      // Adding the old checksum as a payload word makes the sum all ones, so the new checksum is 0.
      const c = probe[6] * 256 + probe[7];
      const payload = new Uint8Array([c >> 8, c & 0xff]);
      const b = encodeUdp({ kind: 'udp', srcPort: sp, dstPort: dp, payload }, pseudoSum4(src, dst));
      expect(refL4Checksum(refPseudo4(src, dst, IPPROTO_UDP, b.length), b, 6)).toBe(0);
      expect(ck16(b, 6)).toBe(0xffff);
      expect(checksumVerifies(b, 0, b.length, pseudoSum4(src, dst) + IPPROTO_UDP + b.length)).toBe(true);
    }),
  );
});

test('RFC 1624 incremental update equals recomputation from scratch', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 4, maxLength: 64 }), fc.nat(), A.u16, (data, pos, word) => {
      const b = new Uint8Array(data.length + (data.length % 2) + 2);
      b.set(data, 2);
      b[2] |= 0x40; // never all zeros, as in every real header
      const c = refChecksum(b);
      const at = 2 + 2 * (pos % ((b.length - 2) / 2));
      if (at === 2) word |= 0x4000;
      const old = b[at] * 256 + b[at + 1];
      b[at] = word >> 8;
      b[at + 1] = word & 0xff;
      expect(updateChecksum(c, old, word)).toBe(refChecksum(b));
    }),
    { numRuns: 2000 },
  );
});

test('an IPv6 routing header with segments left moves the pseudo-header destination to the final address', () => {
  const final = 0x20010db8000000000000000000000099n;
  const data = new Uint8Array(6 + 32);
  data[0] = 0; // type 0
  data[1] = 1; // segments left
  for (let j = 0; j < 16; j++) data[6 + 16 + j] = Number((final >> BigInt(8 * (15 - j))) & 0xffn);
  const src = 0x20010db8000000000000000000000001n;
  const dst = 0x20010db8000000000000000000000002n;
  const f = encodeFrame({
    eth: { dst: 1, src: 2, etherType: 0x86dd },
    ip6: { tc: 0, flowLabel: 0, hopLimit: 64, src, dst, extHeaders: [{ kind: 'options', type: IPPROTO_ROUTING, data }], proto: IPPROTO_UDP },
    l4: { kind: 'udp', srcPort: 1000, dstPort: 2000, payload: new Uint8Array([9, 9, 9]) },
  });
  const seg = f.subarray(14 + 40 + 40);
  expect(ck16(seg, 6)).toBe(refL4Checksum(refPseudo6(src, final, IPPROTO_UDP, seg.length), seg, 6));
  expect(ck16(seg, 6)).not.toBe(refL4Checksum(refPseudo6(src, dst, IPPROTO_UDP, seg.length), seg, 6));
  const d = decodeFrame(f);
  expect(!isDecodeError(d) && d.l4?.kind === 'udp' && d.l4.checksumStatus).toBe('ok');
});

test('decodeFrame flags what the reference finds wrong', () => {
  fc.assert(
    fc.property(fc.oneof(A.ip4Frame, A.ip6Frame), fc.nat(), fc.integer({ min: 1, max: 255 }), (f, pos, delta) => {
      const b = encodeFrame(f);
      const d0 = decodeFrame(b);
      if (isDecodeError(d0) || (d0.ip4 ?? d0.ip6)!.frag !== 0 || d0.l4?.kind === 'raw') return;
      // Corrupt one payload byte (not a header byte, so the frame still decodes the same way).
      const payload = d0.l4?.kind === 'tcp' || d0.l4?.kind === 'udp' ? d0.l4.payload : d0.l4!.data;
      // (An ND message's data holds its options: corrupting them may make it undecodable.)
      if (payload.length === 0 || d0.l4?.kind === 'icmp6') return;
      const at = b.length - d0.padding.length - payload.length + (pos % payload.length);
      b[at] = (b[at] + delta) & 0xff;
      const d = decodeFrame(b);
      if (isDecodeError(d)) throw new Error('corrupted payload must still decode');
      const status = d.l4!.kind === 'raw' ? 'raw' : d.l4!.checksumStatus;
      const refBad = checksumMismatches(b).some((m) => m.what === d.l4!.kind);
      if (status === 'absent') return;
      expect(status === 'bad').toBe(refBad);
      expect(refBad).toBe(true);
    }),
  );
});
