// decode(encode(x)) == x for every codec, and encode(decode(bytes)) == bytes for whole frames.
import fc from 'fast-check';
import {
  type DecodedFrame, FRAG_NONE, IPPROTO_UDP, ICMP6_HEADER_LEN, ND_NEIGHBOR_ADVERT, ND_NEIGHBOR_SOLICIT,
  decodeArp, decodeEthernet, decodeFrame, decodeIcmp4, decodeIcmp6, decodeIp4, decodeIp6, decodeNd, decodeTcp, decodeTcpOptions,
  decodeUdp, decodeVxlan, encodeArp, encodeEthernet, encodeFrame, encodeIcmp4, encodeIcmp6, encodeIp4, encodeIp6, encodeNdBody,
  encodeTcp, encodeTcpOptions, encodeUdp, encodeVxlan, isDecodeError, pseudoSum4, pseudoSum6,
} from '../../../src/agent-core/packet/index.js';
import * as A from './arbitraries.js';
import { checksumMismatches, plain, project } from './reference.js';

function ok<T>(x: T): Exclude<T, { kind: 'decodeError' }> {
  if (isDecodeError(x)) throw new Error(`unexpected DecodeError ${x.layer}/${x.reason} at ${x.offset}`);
  return x as Exclude<T, { kind: 'decodeError' }>;
}

describe('per-layer codecs round-trip', () => {
  test('Ethernet with up to two tags', () => {
    fc.assert(
      fc.property(A.ethHeader(0x0800), A.vlans, A.bytes(40), (eth, vlans, payload) => {
        const b = encodeEthernet(eth, vlans, payload);
        const d = ok(decodeEthernet(b));
        expect(d.eth).toEqual(eth);
        expect(d.vlans).toEqual(vlans);
        expect(plain(b.subarray(d.payloadOffset))).toEqual(plain(payload));
      }),
    );
  });

  test('ARP', () => {
    fc.assert(fc.property(A.arpPacket, (a) => expect(ok(decodeArp(encodeArp(a), 0, 28))).toEqual(a)));
  });

  test('IPv4 with options and fragment fields; the header checksum verifies', () => {
    fc.assert(
      fc.property(fc.tuple(A.u8, A.fragShape).chain(([p, f]) => A.ip4Fields(p, f)), A.bytes(64), (h, payload) => {
        const b = encodeIp4(h, payload);
        const d = ok(decodeIp4(b, 0, b.length));
        expect(project(d.header, h)).toEqual(plain(h));
        expect(d.header.checksumStatus).toBe('ok');
        expect(d.header.totalLength).toBe(b.length);
        expect(plain(b.subarray(d.payloadOffset, d.payloadEnd))).toEqual(plain(payload));
      }),
    );
  });

  test('IPv6 with extension headers', () => {
    fc.assert(
      fc.property(fc.tuple(fc.constantFrom(6, 17, 58, 50, 59), A.fragShape).chain(([p, f]) => A.ip6Fields(p, f)), A.bytes(64), (h, payload) => {
        const b = encodeIp6(h, payload);
        const d = ok(decodeIp6(b, 0, b.length));
        expect(project(d.header, h)).toEqual(plain(h));
        expect(d.header.payloadLength).toBe(b.length - 40);
        expect(plain(b.subarray(d.payloadOffset, d.payloadEnd))).toEqual(plain(payload));
      }),
    );
  });

  test('TCP with options; the checksum verifies with its pseudo-header', () => {
    fc.assert(
      fc.property(A.tcpFields, A.ip4, A.ip4, (t, src, dst) => {
        const ps = pseudoSum4(src, dst);
        const b = encodeTcp(t, ps);
        const d = ok(decodeTcp(b, 0, b.length, ps));
        expect(project(d, t)).toEqual(plain(t));
        expect(d.checksumStatus).toBe('ok');
        expect(ok(decodeTcp(b, 0, b.length, ps + 1)).checksumStatus).toBe('bad');
      }),
    );
  });

  test('UDP; the checksum verifies (IPv6 pseudo-header)', () => {
    fc.assert(
      fc.property(A.udpFields, A.ip6, A.ip6, (u, src, dst) => {
        const ps = pseudoSum6(src, dst);
        const b = encodeUdp(u, ps);
        const d = ok(decodeUdp(b, 0, b.length, ps, false));
        expect(project(d, u)).toEqual(plain(u));
        expect(d.length).toBe(b.length);
        expect(d.checksumStatus).toBe('ok');
      }),
    );
  });

  test('ICMPv4', () => {
    fc.assert(
      fc.property(A.icmp4Fields, (m) => {
        const b = encodeIcmp4(m);
        const d = ok(decodeIcmp4(b, 0, b.length, 0));
        expect(project(d, m)).toEqual(plain(m));
        expect(d.checksumStatus).toBe('ok');
      }),
    );
  });

  test('ICMPv6 including ND solicitations and advertisements', () => {
    fc.assert(
      fc.property(A.icmp6Fields, A.ip6, A.ip6, (m, src, dst) => {
        const ps = pseudoSum6(src, dst);
        const b = encodeIcmp6(m, ps);
        const d = ok(decodeIcmp6(b, 0, b.length, ps));
        expect(project(d, m)).toEqual(plain(m));
        expect(d.checksumStatus).toBe('ok');
        expect(d.nd !== undefined).toBe(m.type === ND_NEIGHBOR_SOLICIT || m.type === ND_NEIGHBOR_ADVERT);
      }),
    );
  });

  test('ND target and options', () => {
    fc.assert(
      fc.property(A.ip6, A.ndOptions, fc.constantFrom(ND_NEIGHBOR_SOLICIT, ND_NEIGHBOR_ADVERT), A.u32, (target, options, type, rest) => {
        const body = encodeNdBody(target, options);
        const b = new Uint8Array(ICMP6_HEADER_LEN + body.length);
        b[0] = type;
        b.set(body, ICMP6_HEADER_LEN);
        const nd = ok(decodeNd(b, 0, b.length, type, rest));
        expect(nd.target).toBe(target);
        expect(plain(nd.options)).toEqual(plain(options));
        const sll = options.find((o) => o.type === 1);
        expect(nd.sourceLinkAddr).toBe(sll ? Number(`0x${Buffer.from(sll.data).toString('hex')}`) : undefined);
        expect(nd.router).toBe(type === ND_NEIGHBOR_ADVERT && rest >= 0x80000000);
      }),
    );
  });

  test('TCP option lists', () => {
    const option = fc.oneof(
      fc.constant({ kind: 1, data: new Uint8Array(0) }),
      fc.record({ kind: fc.integer({ min: 2, max: 255 }), data: A.bytes(8) }),
    );
    fc.assert(
      fc.property(fc.array(option, { maxLength: 6 }), (opts) => {
        const b = encodeTcpOptions(opts);
        expect(b.length % 4).toBe(0);
        expect(plain(ok(decodeTcpOptions(b)))).toEqual(plain(opts));
      }),
    );
  });

  test('VXLAN (24-bit VNI)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffff }), A.bytes(40), (vni, inner) => {
        const d = ok(decodeVxlan(encodeVxlan(vni, inner)));
        expect(d.header.vni).toBe(vni);
        expect(d.header.flags & 0x08).toBe(0x08);
        expect(plain(d.inner)).toEqual(plain(inner));
      }),
    );
  });
});

describe('whole frames round-trip', () => {
  test('decodeFrame(encodeFrame(x)) has x, checksums verify, and re-encoding gives the same bytes', () => {
    fc.assert(
      fc.property(A.anyFrame, (f) => {
        const b = encodeFrame(f);
        const d: DecodedFrame = ok(decodeFrame(b));
        expect(project(d, f)).toEqual(plain(f));
        const ip = d.ip4 ?? d.ip6;
        if (d.ip4) expect(d.ip4.checksumStatus).toBe('ok');
        if (ip && d.l4 && d.l4.kind !== 'raw') {
          expect(d.l4.checksumStatus).toBe(ip.frag === FRAG_NONE ? 'ok' : 'unverifiable');
        }
        if (ip && ip.frag === FRAG_NONE) expect(checksumMismatches(b)).toEqual([]);
        expect(plain(encodeFrame(d))).toEqual(plain(b));
      }),
      { numRuns: 500 },
    );
  });

  test('without verification, statuses read unchecked', () => {
    fc.assert(
      fc.property(fc.oneof(A.ip4Frame, A.ip6Frame), (f) => {
        const d = ok(decodeFrame(encodeFrame(f), { verifyChecksums: false }));
        if (d.ip4) expect(d.ip4.checksumStatus).toBe('unchecked');
        if (d.l4 && d.l4.kind !== 'raw' && !(d.l4.kind === 'udp' && d.l4.checksum === 0)) expect(d.l4.checksumStatus).toBe('unchecked');
      }),
    );
  });

  test('Ethernet padding after a short datagram is kept apart', () => {
    const f = encodeFrame({
      eth: { dst: 1, src: 2, etherType: 0x0800 },
      ip4: { tos: 0, id: 1, df: true, mf: false, fragOffset: 0, ttl: 64, proto: IPPROTO_UDP, src: 1, dst: 2, options: new Uint8Array(0) },
      l4: { kind: 'udp', srcPort: 1, dstPort: 2, payload: new Uint8Array([1, 2]) },
      padding: new Uint8Array(16),
    });
    expect(f.length).toBe(14 + 20 + 10 + 16);
    const d = ok(decodeFrame(f));
    expect(d.padding.length).toBe(16);
    expect(d.l4?.kind === 'udp' && Array.from(d.l4.payload)).toEqual([1, 2]);
    expect(d.ip4?.proto).toBe(IPPROTO_UDP);
  });
});
