// applyModifications: each rewrite gives the same bytes as encoding the rewritten headers from scratch,
// and every checksum recomputed by the reference matches (IPv4 header, TCP/UDP/ICMPv6 pseudo-headers,
// ICMP errors' embedded datagrams).
import fc from 'fast-check';
import {
  type DecodeError, type FrameInit, type HeaderModification, DecodeLayer, DecodeReason, ETHERTYPE_QINQ, ETHERTYPE_VLAN, Field, FRAG_LATER,
  IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, applyModifications, applyModificationsInPlace, buildIcmp4Error,
  buildIcmp6Error, decodeFrame, echoRest, encodeFrame, isDecodeError, parseIcmpErrorInner,
} from '../../../src/agent-core/packet/index.js';
import * as A from './arbitraries.js';
import { checksumMismatches, plain } from './reference.js';
import {
  IP6_A, IP6_B, IP_B, MAC_A, MAC_B, echo4, echo4Frame, echo6Frame, ip4Frame, ip6Frame, patched, tcp, tcp4Frame,
  tcp6Frame, udp, udp4Frame, udp6Frame,
} from './samples.js';

function bytesOf(r: Uint8Array | DecodeError): Uint8Array {
  if (isDecodeError(r)) throw new Error(`unexpected ${r.layer}/${r.reason}`);
  return r;
}

type Rewrite = { mod: HeaderModification; apply: (f: FrameInit) => FrameInit };

/** Rewrites that apply to the frame, each with its effect on the FrameInit. */
function rewritesFor(f: FrameInit, v: { mac: number; ip4: number; ip6: bigint; port: number; tos: number }): Rewrite[] {
  const out: Rewrite[] = [
    { mod: { kind: 'setField', field: Field.EthSrc, value: v.mac }, apply: (g) => ({ ...g, eth: { ...g.eth, src: v.mac } }) },
    { mod: { kind: 'setField', field: Field.EthDst, value: v.mac }, apply: (g) => ({ ...g, eth: { ...g.eth, dst: v.mac } }) },
  ];
  if (f.vlans && f.vlans.length > 0) {
    out.push({
      mod: { kind: 'setField', field: Field.VlanId, value: v.port & 0xfff },
      apply: (g) => ({ ...g, vlans: g.vlans!.map((t, i) => (i === 0 ? { ...t, vid: v.port & 0xfff } : t)) }),
    });
  }
  if (f.ip4) {
    out.push(
      { mod: { kind: 'setField', field: Field.IpSrc, value: v.ip4 }, apply: (g) => ({ ...g, ip4: { ...g.ip4!, src: v.ip4 } }) },
      { mod: { kind: 'setField', field: Field.IpDst, value: v.ip4 }, apply: (g) => ({ ...g, ip4: { ...g.ip4!, dst: v.ip4 } }) },
      { mod: { kind: 'setField', field: Field.IpTos, value: v.tos }, apply: (g) => ({ ...g, ip4: { ...g.ip4!, tos: v.tos } }) },
    );
    if (f.ip4.ttl > 0) out.push({ mod: { kind: 'decTtl' }, apply: (g) => ({ ...g, ip4: { ...g.ip4!, ttl: g.ip4!.ttl - 1 } }) });
  }
  if (f.ip6) {
    out.push(
      { mod: { kind: 'setField', field: Field.IpSrc, value: v.ip6 }, apply: (g) => ({ ...g, ip6: { ...g.ip6!, src: v.ip6 } }) },
      { mod: { kind: 'setField', field: Field.IpDst, value: v.ip6 }, apply: (g) => ({ ...g, ip6: { ...g.ip6!, dst: v.ip6 } }) },
      { mod: { kind: 'setField', field: Field.IpTos, value: v.tos }, apply: (g) => ({ ...g, ip6: { ...g.ip6!, tc: v.tos } }) },
    );
    if (f.ip6.hopLimit > 0) out.push({ mod: { kind: 'decTtl' }, apply: (g) => ({ ...g, ip6: { ...g.ip6!, hopLimit: g.ip6!.hopLimit - 1 } }) });
  }
  const l4 = f.l4;
  if (l4?.kind === 'tcp' || l4?.kind === 'udp') {
    out.push(
      { mod: { kind: 'setField', field: Field.L4Src, value: v.port }, apply: (g) => ({ ...g, l4: { ...(g.l4 as typeof l4), srcPort: v.port } }) },
      { mod: { kind: 'setField', field: Field.L4Dst, value: v.port }, apply: (g) => ({ ...g, l4: { ...(g.l4 as typeof l4), dstPort: v.port } }) },
    );
  }
  const echo = (l4?.kind === 'icmp4' && (l4.type === 0 || l4.type === 8)) || (l4?.kind === 'icmp6' && (l4.type === 128 || l4.type === 129));
  if (echo) {
    out.push({
      mod: { kind: 'setField', field: Field.IcmpId, value: v.port },
      apply: (g) => ({ ...g, l4: { ...(g.l4 as typeof l4), rest: echoRest(v.port, (g.l4 as typeof l4).rest & 0xffff) } }),
    });
  }
  return out;
}

/** Frames whose ICMP type is an echo more often than chance would give. */
const frames = fc.oneof(
  A.ip4Frame,
  A.ip6Frame,
  fc.tuple(A.ip4Frame, fc.constantFrom(0, 8)).map(([f, t]) => (f.l4?.kind === 'icmp4' ? { ...f, l4: { ...f.l4, type: t } } : f)),
  fc.tuple(A.ip6Frame, fc.constantFrom(128, 129)).map(([f, t]) => (f.l4?.kind === 'icmp6' ? { ...f, l4: { ...f.l4, type: t } } : f)),
);

test('any sequence of rewrites equals encoding the rewritten headers, and checksums recompute the same', () => {
  const values = fc.record({ mac: A.mac, ip4: A.ip4, ip6: A.ip6, port: A.u16, tos: A.u8 });
  fc.assert(
    fc.property(frames, values, fc.array(fc.nat(), { minLength: 1, maxLength: 5 }), (f, v, picks) => {
      // Each rewrite is chosen among those that fit the frame as rewritten so far (a second decTtl may not).
      const mods: HeaderModification[] = [];
      let g = f;
      for (const p of picks) {
        const all = rewritesFor(g, v);
        const r = all[p % all.length];
        mods.push(r.mod);
        g = r.apply(g);
      }
      const input = encodeFrame(f);
      const before = input.slice();
      const out = bytesOf(applyModifications(input, mods));
      const expected = encodeFrame(g);
      expect(plain(out)).toEqual(plain(expected));
      expect(plain(input)).toEqual(plain(before));
      expect(checksumMismatches(out)).toEqual([]);
    }),
    { numRuns: 1500 },
  );
});

describe('single rewrites', () => {
  test('a UDP checksum of 0 over IPv4 stays 0 through address and port rewrites', () => {
    const f = patched(udp4Frame(), (b) => { b[40] = 0; b[41] = 0; });
    const out = bytesOf(applyModifications(f, [
      { kind: 'setField', field: Field.IpSrc, value: 0x01020304 },
      { kind: 'setField', field: Field.L4Dst, value: 9999 },
    ]));
    expect([out[40], out[41]]).toEqual([0, 0]);
    expect(checksumMismatches(out)).toEqual([]);
  });

  test('a rewrite after which UDP computes to 0 sends 0xffff; TCP keeps 0 (RFC 768, RFC 1624)', () => {
    for (const [frame, l4, ckAt] of [[udp4Frame(), 34, 40], [udp6Frame(), 54, 60], [tcp4Frame(), 34, 50]] as const) {
      const c = frame[ckAt] * 256 + frame[ckAt + 1];
      const port = frame[l4] * 256 + frame[l4 + 1];
      // Adding the old checksum to a covered word makes the sum all ones: the new checksum is 0.
      let p = port + c;
      p = (p & 0xffff) + (p >>> 16);
      const out = bytesOf(applyModifications(frame, [{ kind: 'setField', field: Field.L4Src, value: p }]));
      expect(out[ckAt] * 256 + out[ckAt + 1]).toBe(ckAt === 50 ? 0 : 0xffff);
      expect(checksumMismatches(out)).toEqual([]);
    }
  });

  test('ICMPv4 has no pseudo-header: an address rewrite leaves its checksum alone', () => {
    const f = echo4Frame();
    const out = bytesOf(applyModifications(f, [{ kind: 'setField', field: Field.IpDst, value: 0x08080808 }]));
    expect([out[36], out[37]]).toEqual([f[36], f[37]]);
    expect(checksumMismatches(out)).toEqual([]);
  });

  test('decTtl on TTL 0 / hop limit 0 is refused; on 1 it gives 0', () => {
    expect(applyModifications(tcp4Frame({ ttl: 0 }), [{ kind: 'decTtl' }])).toMatchObject({ layer: DecodeLayer.Modify, reason: DecodeReason.TtlExpired, offset: 22 });
    expect(applyModifications(tcp6Frame({ hopLimit: 0 }), [{ kind: 'decTtl' }])).toMatchObject({ reason: DecodeReason.TtlExpired, offset: 21 });
    const out = bytesOf(applyModifications(tcp4Frame({ ttl: 1 }), [{ kind: 'decTtl' }]));
    expect(out[22]).toBe(0);
    expect(checksumMismatches(out)).toEqual([]);
  });

  test('push and pop VLAN: C-tag on an untagged frame, S-tag over a tag, pop restores', () => {
    const f = tcp4Frame();
    const one = bytesOf(applyModifications(f, [{ kind: 'pushVlan', vlanId: 10 }]));
    expect(one.length).toBe(f.length + 4);
    expect([one[12] * 256 + one[13], one[14] * 256 + one[15]]).toEqual([ETHERTYPE_VLAN, 10]);
    const two = bytesOf(applyModifications(one, [{ kind: 'pushVlan', vlanId: 20 }]));
    expect([two[12] * 256 + two[13], two[15]]).toEqual([ETHERTYPE_QINQ, 20]);
    expect(plain(bytesOf(applyModifications(two, [{ kind: 'popVlan' }, { kind: 'popVlan' }])))).toEqual(plain(f));
    expect(applyModifications(f, [{ kind: 'popVlan' }])).toMatchObject({ layer: DecodeLayer.Modify, reason: DecodeReason.NoVlan });
  });

  test('rewrites after a push land on the shifted headers', () => {
    const mods: HeaderModification[] = [
      { kind: 'pushVlan', vlanId: 7 },
      { kind: 'setField', field: Field.IpSrc, value: 0x0b0b0b0b },
      { kind: 'setField', field: Field.L4Src, value: 1234 },
      { kind: 'setField', field: Field.VlanId, value: 8 },
    ];
    const out = bytesOf(applyModifications(udp4Frame(), mods));
    const expected = bytesOf(applyModifications(ip4Frame(IPPROTO_UDP, { ...udp(), srcPort: 1234 }, { src: 0x0b0b0b0b }), [{ kind: 'pushVlan', vlanId: 8 }]));
    expect(plain(out)).toEqual(plain(expected));
  });

  test('in place: the same array comes back unless the length changed', () => {
    const f = tcp4Frame();
    expect(applyModificationsInPlace(f, [{ kind: 'setField', field: Field.L4Dst, value: 80 }])).toBe(f);
    expect(f[36] * 256 + f[37]).toBe(80);
    expect(applyModificationsInPlace(f, [{ kind: 'pushVlan', vlanId: 1 }])).not.toBe(f);
  });

  test('an IPv6 destination rewrite with a routing header in use leaves the L4 checksum alone', () => {
    const data = new Uint8Array(6 + 16);
    data[1] = 1; // one segment left
    data.fill(0x77, 6);
    const f = ip6Frame(IPPROTO_UDP, udp(), { ext: [{ kind: 'options', type: 43, data }] });
    const out = bytesOf(applyModifications(f, [{ kind: 'setField', field: Field.IpDst, value: 5n }]));
    const ck = 14 + 40 + 24 + 6;
    expect([out[ck], out[ck + 1]]).toEqual([f[ck], f[ck + 1]]);
    expect(checksumMismatches(out)).toEqual([]);
  });
});

describe('rewrites of the datagram inside an ICMP error', () => {
  const router4 = 0x0a000005;
  const router6 = 0x20010db80000000000000000000000fen;
  const err4 = (orig: Uint8Array): Uint8Array => bytesOf(buildIcmp4Error(orig, 3, 3, router4, MAC_B, MAC_A));
  const err6 = (orig: Uint8Array): Uint8Array => bytesOf(buildIcmp6Error(orig, 1, 4, router6, MAC_B, MAC_A));

  test('IPv4: inner address and port equal an error about the translated datagram', () => {
    // Reverse SNAT of an error about a translated flow: the outer destination and the inner source.
    const out = bytesOf(applyModifications(err4(udp4Frame()), [
      { kind: 'setField', field: Field.IpDst, value: 0xc0a80001 },
      { kind: 'setInnerField', field: Field.IpSrc, value: 0xc0a80001 },
      { kind: 'setInnerField', field: Field.L4Src, value: 61000 },
    ]));
    const translated = ip4Frame(IPPROTO_UDP, { ...udp(), srcPort: 61000 }, { src: 0xc0a80001 });
    expect(plain(out)).toEqual(plain(err4(translated)));
    expect(checksumMismatches(out)).toEqual([]);
    expect(parseIcmpErrorInner(out)).toMatchObject({ ipSrc: 0xc0a80001, ipDst: IP_B, proto: IPPROTO_UDP, l4Src: 61000, l4Dst: 53 });
  });

  test('IPv4: a cut-short embedded TCP segment gets the translated segment\'s checksum too', () => {
    const big = ip4Frame(IPPROTO_TCP, tcp(new Uint8Array(1000).fill(3)));
    const out = bytesOf(applyModifications(err4(big), [
      { kind: 'setInnerField', field: Field.IpDst, value: 0x01010101 },
      { kind: 'setInnerField', field: Field.L4Dst, value: 8443 },
      { kind: 'setField', field: Field.IpDst, value: 0x02020202 },
    ]));
    const translated = ip4Frame(IPPROTO_TCP, { ...tcp(new Uint8Array(1000).fill(3)), dstPort: 8443 }, { dst: 0x01010101 });
    const expected = bytesOf(applyModifications(err4(translated), [{ kind: 'setField', field: Field.IpDst, value: 0x02020202 }]));
    expect(out.length).toBe(14 + 576);
    expect(plain(out)).toEqual(plain(expected));
    expect(checksumMismatches(out)).toEqual([]);
  });

  test('IPv4: embedded echo id', () => {
    const out = bytesOf(applyModifications(err4(echo4Frame()), [{ kind: 'setInnerField', field: Field.IcmpId, value: 777 }]));
    expect(plain(out)).toEqual(plain(err4(ip4Frame(IPPROTO_ICMP, echo4(777)))));
    expect(parseIcmpErrorInner(out)).toMatchObject({ proto: IPPROTO_ICMP, l4Src: 8, l4Dst: 0, icmpId: 777 });
  });

  test('IPv6: inner addresses, port and echo id, with the outer destination rewritten too', () => {
    const out = bytesOf(applyModifications(err6(tcp6Frame()), [
      { kind: 'setInnerField', field: Field.IpSrc, value: 0xfd00n },
      { kind: 'setInnerField', field: Field.L4Src, value: 1 },
      { kind: 'setField', field: Field.IpDst, value: 0xfd00n },
    ]));
    const translated = ip6Frame(IPPROTO_TCP, { ...tcp(), srcPort: 1 }, { src: 0xfd00n });
    const expected = bytesOf(applyModifications(err6(translated), [{ kind: 'setField', field: Field.IpDst, value: 0xfd00n }]));
    expect(plain(out)).toEqual(plain(expected));
    expect(checksumMismatches(out)).toEqual([]);
    const echoOut = bytesOf(applyModifications(err6(echo6Frame()), [{ kind: 'setInnerField', field: Field.IcmpId, value: 9 }]));
    expect(checksumMismatches(echoOut)).toEqual([]);
    expect(parseIcmpErrorInner(echoOut)).toMatchObject({ ipSrc: IP6_A, ipDst: IP6_B, proto: IPPROTO_ICMPV6, l4Src: 128, icmpId: 9 });
    expect(parseIcmpErrorInner(err6(udp6Frame()))).toMatchObject({ proto: IPPROTO_UDP, l4Src: 5353, l4Dst: 53, icmpId: 0 });
  });
});

describe('rewrites that do not fit the frame', () => {
  const cases: [string, Uint8Array, HeaderModification, string, string?][] = [
    ['VlanId on an untagged frame', tcp4Frame(), { kind: 'setField', field: Field.VlanId, value: 5 }, DecodeReason.NoVlan],
    ['IpSrc on ARP', encodeFrame({ eth: { dst: 1, src: 2, etherType: 0x0806 }, arp: { op: 1, sha: 2, spa: 3, tha: 0, tpa: 4 } }), { kind: 'setField', field: Field.IpSrc, value: 1 }, DecodeReason.NotIp],
    ['an IPv6 value for IPv4', tcp4Frame(), { kind: 'setField', field: Field.IpDst, value: 1n }, DecodeReason.FamilyMismatch],
    ['an IPv4 value for IPv6', tcp6Frame(), { kind: 'setField', field: Field.IpDst, value: 1 }, DecodeReason.FamilyMismatch],
    ['a port out of range', tcp4Frame(), { kind: 'setField', field: Field.L4Src, value: 70000 }, DecodeReason.BadValue],
    ['a MAC out of range', tcp4Frame(), { kind: 'setField', field: Field.EthDst, value: 2 ** 48 }, DecodeReason.BadValue],
    ['ports on ICMP', echo4Frame(), { kind: 'setField', field: Field.L4Src, value: 1 }, DecodeReason.NoL4Header],
    ['ports on a later fragment', tcp4Frame({ fragOffset: FRAG_LATER }), { kind: 'setField', field: Field.L4Dst, value: 1 }, DecodeReason.NoL4Header],
    ['echo id on TCP', tcp4Frame(), { kind: 'setField', field: Field.IcmpId, value: 1 }, DecodeReason.NotEcho],
    ['a field without a rewrite', tcp4Frame(), { kind: 'setField', field: Field.TcpFlags, value: 1 }, DecodeReason.UnsupportedField],
    ['an inner field of a non-error', echo4Frame(), { kind: 'setInnerField', field: Field.IpSrc, value: 1 }, DecodeReason.NotIcmpError, DecodeLayer.IcmpInner],
    ['a VLAN id out of range', tcp4Frame(), { kind: 'pushVlan', vlanId: 4096 }, DecodeReason.BadValue],
  ];
  test.each(cases)('%s', (_n, frame, mod, reason, layer = DecodeLayer.Modify) => {
    expect(applyModifications(frame, [mod])).toMatchObject({ kind: 'decodeError', layer, reason });
  });

  test('a malformed frame gives its decode error', () => {
    expect(applyModifications(tcp4Frame().subarray(0, 30), [])).toEqual(decodeFrame(tcp4Frame().subarray(0, 30)));
  });

  test('an embedded datagram cut inside its IP header', () => {
    const e = bytesOf(buildIcmp4Error(udp4Frame(), 11, 0, 1 << 24, MAC_A, MAC_B));
    const cut = patched(e.subarray(0, 14 + 20 + 8 + 12), (b) => { b[17] = 40; });
    expect(parseIcmpErrorInner(cut)).toMatchObject({ layer: DecodeLayer.IcmpInner, reason: DecodeReason.Truncated });
    expect(applyModifications(cut, [{ kind: 'setInnerField', field: Field.IpSrc, value: 1 }])).toMatchObject({ layer: DecodeLayer.IcmpInner });
  });
});
