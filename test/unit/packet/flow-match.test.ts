// flowMatchFromFrame fills every FlowMatch field as flow-match.ts defines it, and extractFlowKey (the
// fast path's reader) agrees with it on every frame, valid or not.
import fc from 'fast-check';
import {
  type FlowMatch, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN, FIELD_OFFSET, FRAG_FIRST,
  FRAG_LATER, FRAG_NONE, Field, IP_TTL_CLAMP, IPPROTO_ESP, IPPROTO_NONE, IPPROTO_TCP, IPPROTO_UDP, KEY_WORDS, MAC_BROADCAST, TCP_ACK, TCP_SYN,
  VLAN_NONE, buildArpReply, buildArpRequest, buildIcmp4Error, buildNdAdvert, buildNdSolicit, encodeFrame, extractFlowKey,
  flowMatchFromFrame, frameWithVlan, isDecodeError,
} from '../../../src/agent-core/packet/index.js';
import * as A from './arbitraries.js';
import {
  IP6_A, IP6_B, IP_A, IP_B, MAC_A, MAC_B, dstOpts, echo4Frame, echo6Frame, fragHdr, hopByHop, ip6Frame, tcp, tcp4Frame,
  tcp6Frame, udp, udp4Frame,
} from './samples.js';

function match(frame: Uint8Array, inPort = 7, tunnelKey = 0): FlowMatch {
  const m = flowMatchFromFrame(frame, inPort, tunnelKey);
  if (isDecodeError(m)) throw new Error(`${m.layer}/${m.reason} at ${m.offset}`);
  return m;
}

/** Every field of a key by name; addresses as IPv4 numbers or IPv6 bigints by the ethertype. */
function fields(m: FlowMatch): Record<string, number | bigint> {
  const k = m.orig;
  const out: Record<string, number | bigint> = {};
  for (const [name, f] of Object.entries(Field)) {
    const o = FIELD_OFFSET[f];
    if (f === Field.IpSrc || f === Field.IpDst || f === Field.NdTarget) {
      const v6 = k[FIELD_OFFSET[Field.EthType]] === ETHERTYPE_IPV6;
      out[name] = v6 ? (BigInt(k[o]) << 96n) | (BigInt(k[o + 1]) << 64n) | (BigInt(k[o + 2]) << 32n) | BigInt(k[o + 3]) : k[o];
      if (!v6) expect([k[o + 1], k[o + 2], k[o + 3]]).toEqual([0, 0, 0]);
    } else {
      out[name] = k[o];
    }
  }
  return out;
}

const none = {
  InPort: 7, TunnelKey: 0, VlanId: VLAN_NONE, InnerVlanId: VLAN_NONE, IpProto: 0, IpTos: 0, IpTtl: 0, IpFrag: FRAG_NONE,
  IpSrc: 0, IpDst: 0, L4Src: 0, L4Dst: 0, IcmpId: 0, TcpFlags: 0, ArpSha: 0, ArpTha: 0, NdTarget: 0,
};

describe('flowMatchFromFrame', () => {
  test('ARP request and reply: opcode in IpProto, addresses in IpSrc/IpDst/ArpSha/ArpTha', () => {
    expect(fields(match(buildArpRequest(MAC_A, IP_A, IP_B)))).toEqual({
      ...none, EthSrc: MAC_A, EthDst: MAC_BROADCAST, EthType: ETHERTYPE_ARP, IpProto: 1, IpSrc: IP_A, IpDst: IP_B, ArpSha: MAC_A,
    });
    expect(fields(match(buildArpReply(MAC_B, IP_B, MAC_A, IP_A), 3, 99))).toEqual({
      ...none, InPort: 3, TunnelKey: 99, EthSrc: MAC_B, EthDst: MAC_A, EthType: ETHERTYPE_ARP, IpProto: 2, IpSrc: IP_B, IpDst: IP_A,
      ArpSha: MAC_B, ArpTha: MAC_A,
    });
  });

  test('IPv4 TCP: ports, flags, TOS, TTL clamp, addresses', () => {
    const base = { ...none, EthSrc: MAC_A, EthDst: MAC_B, EthType: ETHERTYPE_IPV4, IpProto: IPPROTO_TCP, IpSrc: IP_A, IpDst: IP_B, L4Src: 40000, L4Dst: 443, TcpFlags: TCP_SYN | TCP_ACK };
    expect(fields(match(tcp4Frame({ tos: 0xb8, ttl: 64 })))).toEqual({ ...base, IpTos: 0xb8, IpTtl: IP_TTL_CLAMP });
    expect(fields(match(tcp4Frame({ ttl: IP_TTL_CLAMP }))).IpTtl).toBe(IP_TTL_CLAMP);
    expect(fields(match(tcp4Frame({ ttl: IP_TTL_CLAMP - 1 }))).IpTtl).toBe(IP_TTL_CLAMP - 1);
    expect(fields(match(tcp4Frame({ ttl: 2 }))).IpTtl).toBe(2);
    expect(fields(match(tcp4Frame({ ttl: 1 }))).IpTtl).toBe(1);
    expect(fields(match(tcp4Frame({ ttl: 0 }))).IpTtl).toBe(0);
    expect(fields(match(tcp4Frame({ options: new Uint8Array([1, 1, 1, 0, 7, 3, 4, 0]) })))).toEqual({ ...base, IpTtl: IP_TTL_CLAMP });
  });

  test('IPv4 UDP and ICMP echo / error', () => {
    expect(fields(match(udp4Frame()))).toMatchObject({ IpProto: IPPROTO_UDP, L4Src: 5353, L4Dst: 53, TcpFlags: 0, IcmpId: 0 });
    expect(fields(match(echo4Frame()))).toMatchObject({ IpProto: 1, L4Src: 8, L4Dst: 0, IcmpId: 0x4242 });
    const err = buildIcmp4Error(udp4Frame(), 3, 3, 0x0a000005, MAC_B, MAC_A);
    if (isDecodeError(err)) throw new Error(err.reason);
    expect(fields(match(err))).toMatchObject({ IpProto: 1, L4Src: 3, L4Dst: 3, IcmpId: 0, IpSrc: 0x0a000005, IpDst: IP_A });
  });

  test('IPv4 fragments: the first has ports, later ones do not', () => {
    expect(fields(match(tcp4Frame({ mf: true })))).toMatchObject({ IpFrag: FRAG_FIRST, L4Src: 40000, L4Dst: 443 });
    expect(fields(match(tcp4Frame({ fragOffset: 185 })))).toMatchObject({ IpFrag: FRAG_LATER, IpProto: IPPROTO_TCP, L4Src: 0, L4Dst: 0, TcpFlags: 0 });
    expect(fields(match(tcp4Frame({ fragOffset: 185, mf: true })))).toMatchObject({ IpFrag: FRAG_LATER, L4Src: 0 });
  });

  test('IPv6 TCP behind hop-by-hop, destination options and AH', () => {
    const ah = { kind: 'options' as const, type: 51, data: new Uint8Array(14) };
    expect(fields(match(tcp6Frame({ ext: [hopByHop(), dstOpts(14), ah], tc: 0x2e, hopLimit: 1 })))).toEqual({
      ...none, EthSrc: MAC_A, EthDst: MAC_B, EthType: ETHERTYPE_IPV6, IpProto: IPPROTO_TCP, IpTos: 0x2e, IpTtl: 1,
      IpSrc: IP6_A, IpDst: IP6_B, L4Src: 40000, L4Dst: 443, TcpFlags: TCP_SYN | TCP_ACK, NdTarget: 0n,
    });
  });

  test('IPv6 fragments: first, later (protocol from the fragment header), atomic', () => {
    expect(fields(match(ip6Frame(IPPROTO_UDP, udp(), { ext: [fragHdr(0, true)] })))).toMatchObject({ IpFrag: FRAG_FIRST, IpProto: IPPROTO_UDP, L4Src: 5353 });
    expect(fields(match(ip6Frame(IPPROTO_UDP, { kind: 'raw', data: new Uint8Array(9) }, { ext: [hopByHop(), fragHdr(3, true)] })))).toMatchObject({ IpFrag: FRAG_LATER, IpProto: IPPROTO_UDP, L4Src: 0, L4Dst: 0 });
    expect(fields(match(ip6Frame(IPPROTO_TCP, tcp(), { ext: [fragHdr(0, false)] })))).toMatchObject({ IpFrag: FRAG_NONE, IpProto: IPPROTO_TCP, L4Src: 40000 });
  });

  test('IPv6 ESP and No Next Header end the walk', () => {
    expect(fields(match(ip6Frame(IPPROTO_ESP, { kind: 'raw', data: new Uint8Array([0, 0, 1, 0, 0, 0, 0, 1]) }, { ext: [hopByHop()] })))).toMatchObject({ IpProto: IPPROTO_ESP, L4Src: 0, L4Dst: 0 });
    expect(fields(match(ip6Frame(IPPROTO_NONE, { kind: 'raw', data: new Uint8Array(0) })))).toMatchObject({ IpProto: IPPROTO_NONE, L4Src: 0 });
  });

  test('ICMPv6 echo id, ND target and link-layer options', () => {
    expect(fields(match(echo6Frame()))).toMatchObject({ IpProto: 58, L4Src: 128, L4Dst: 0, IcmpId: 0x5151 });
    const ns = fields(match(buildNdSolicit(MAC_A, IP6_A, IP6_B)));
    expect(ns).toMatchObject({ IpProto: 58, L4Src: 135, NdTarget: IP6_B, ArpSha: MAC_A, ArpTha: 0, IpTtl: IP_TTL_CLAMP, IpSrc: IP6_A });
    expect(ns.IpDst).toBe(0xff0200000000000000000001ff000020n);
    const na = fields(match(buildNdAdvert(MAC_B, IP6_B, MAC_A, IP6_A, { router: true, solicited: true, override: false })));
    expect(na).toMatchObject({ L4Src: 136, NdTarget: IP6_B, ArpSha: 0, ArpTha: MAC_B, IpSrc: IP6_B, IpDst: IP6_A });
    expect(fields(match(buildNdSolicit(MAC_A, 0n, IP6_B)))).toMatchObject({ NdTarget: IP6_B, ArpSha: 0 });
  });

  test('stacked VLANs: outer in VlanId, inner in InnerVlanId; a third tag stops the parse', () => {
    const one = frameWithVlan(tcp4Frame(), 200) as Uint8Array;
    expect(fields(match(one))).toMatchObject({ VlanId: 200, InnerVlanId: VLAN_NONE, EthType: ETHERTYPE_IPV4, L4Dst: 443 });
    const two = frameWithVlan(one, 100) as Uint8Array;
    expect(two[12] * 256 + two[13]).toBe(ETHERTYPE_QINQ);
    expect(fields(match(two))).toMatchObject({ VlanId: 100, InnerVlanId: 200, EthType: ETHERTYPE_IPV4, IpSrc: IP_A, L4Dst: 443 });
    const three = frameWithVlan(two, 5) as Uint8Array;
    expect(fields(match(three))).toMatchObject({ VlanId: 5, InnerVlanId: 100, EthType: ETHERTYPE_VLAN, IpProto: 0, IpSrc: 0, L4Dst: 0 });
    const tagged = encodeFrame({
      eth: { dst: 1, src: 2, etherType: ETHERTYPE_IPV4 },
      vlans: [{ tpid: ETHERTYPE_VLAN, pcp: 5, dei: true, vid: 0 }],
      ip4: { tos: 0, id: 0, df: false, mf: false, fragOffset: 0, ttl: 9, proto: 99, src: 1, dst: 2, options: new Uint8Array(0) },
      l4: { kind: 'raw', data: new Uint8Array(3) },
    });
    expect(fields(match(tagged))).toMatchObject({ VlanId: 0, IpProto: 99 });
  });

  test('the returned FlowMatch starts with only InPort seen and reads through get/getIp', () => {
    const m = match(tcp6Frame());
    expect(m.seen).toBe(1 << Field.InPort);
    expect(m.getIp(Field.IpDst)).toBe(IP6_B);
    expect(m.l4Dst).toBe(443);
  });
});

describe('extractFlowKey agrees with flowMatchFromFrame', () => {
  const key = new Float64Array(KEY_WORDS);

  function agree(frame: Uint8Array, inPort: number, tk: number): void {
    const m = flowMatchFromFrame(frame, inPort, tk);
    const okFast = extractFlowKey(frame, inPort, tk, key);
    expect(okFast).toBe(!isDecodeError(m));
    if (!isDecodeError(m)) expect(Array.from(key)).toEqual(Array.from(m.orig));
  }

  test('on valid frames of every kind', () => {
    fc.assert(fc.property(A.anyFrame, fc.nat(), fc.integer({ min: 0, max: 0xffffff }), (f, p, tk) => agree(encodeFrame(f), p, tk)), { numRuns: 1000 });
  });

  test('on the same frames cut short at any length', () => {
    fc.assert(
      fc.property(A.anyFrame, fc.nat(), (f, cut) => {
        const b = encodeFrame(f);
        agree(b.subarray(0, cut % (b.length + 1)), 1, 0);
      }),
      { numRuns: 1000 },
    );
  });

  test('the key is all written on each call (no leftovers from the previous frame)', () => {
    extractFlowKey(buildNdSolicit(MAC_A, IP6_A, IP6_B), 1, 2, key);
    expect(extractFlowKey(buildArpRequest(MAC_A, IP_A, IP_B), 1, 2, key)).toBe(true);
    expect(Array.from(key)).toEqual(Array.from(match(buildArpRequest(MAC_A, IP_A, IP_B), 1, 2).orig));
  });
});
