// fast-check generators for every packet layer and for whole frames, shared by the packet tests.
import fc from 'fast-check';
import {
  type ArpPacket, type EthHeader, type FrameInit, type Icmp4Fields, type Icmp6Fields, type Ip4Fields, type Ip6ExtHeader,
  type Ip6Fields, type L4Fields, type NdOption, type TcpFields, type UdpFields, type VlanTag,
  ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN, IPPROTO_AH, IPPROTO_DSTOPTS, IPPROTO_ESP,
  IPPROTO_HOPOPTS, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_NONE, IPPROTO_ROUTING, IPPROTO_TCP, IPPROTO_UDP,
  ND_NEIGHBOR_ADVERT, ND_NEIGHBOR_SOLICIT, ND_OPT_SOURCE_LINKADDR, ND_OPT_TARGET_LINKADDR, encodeNdBody, ndLinkAddrOption,
} from '../../../src/agent-core/packet/index.js';

export const u8 = fc.integer({ min: 0, max: 0xff });
export const u16 = fc.integer({ min: 0, max: 0xffff });
export const u32 = fc.integer({ min: 0, max: 0xffffffff });
export const mac = fc.integer({ min: 0, max: 0xffffffffffff });
export const ip4 = u32;
export const ip6 = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n });
export const bytes = (max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ maxLength: max });
/** Bytes whose length is a multiple of `unit`, at most `maxUnits` units. */
export const alignedBytes = (unit: number, maxUnits: number, extra = 0): fc.Arbitrary<Uint8Array> =>
  fc.integer({ min: 0, max: maxUnits }).chain((n) => fc.uint8Array({ minLength: n * unit + extra, maxLength: n * unit + extra }));

export const vlanTag: fc.Arbitrary<VlanTag> = fc.record({
  tpid: fc.constantFrom(ETHERTYPE_VLAN, ETHERTYPE_QINQ),
  pcp: fc.integer({ min: 0, max: 7 }),
  dei: fc.boolean(),
  vid: fc.integer({ min: 0, max: 0xfff }),
});
export const vlans = fc.array(vlanTag, { maxLength: 2 });
export const ethHeader = (etherType: number): fc.Arbitrary<EthHeader> => fc.record({ dst: mac, src: mac, etherType: fc.constant(etherType) });

export const arpPacket: fc.Arbitrary<ArpPacket> = fc.record({ op: u16, sha: mac, spa: ip4, tha: mac, tpa: ip4 });

export type FragShape = 'none' | 'first' | 'later';
export const fragShape = fc.constantFrom<FragShape>('none', 'none', 'first', 'later');

export const ip4Fields = (proto: number, frag: FragShape): fc.Arbitrary<Ip4Fields> =>
  fc.record({
    tos: u8,
    id: u16,
    df: fc.boolean(),
    mf: frag === 'none' ? fc.constant(false) : frag === 'first' ? fc.constant(true) : fc.boolean(),
    fragOffset: frag === 'later' ? fc.integer({ min: 1, max: 0x1fff }) : fc.constant(0),
    ttl: u8,
    proto: fc.constant(proto),
    src: ip4,
    dst: ip4,
    options: alignedBytes(4, 10),
  });

export const tcpFields: fc.Arbitrary<TcpFields> = fc.record({
  kind: fc.constant('tcp' as const),
  srcPort: u16,
  dstPort: u16,
  seq: u32,
  ack: u32,
  flags: fc.integer({ min: 0, max: 0xfff }),
  window: u16,
  urgent: u16,
  options: alignedBytes(4, 10),
  payload: bytes(64),
});

export const udpFields: fc.Arbitrary<UdpFields> = fc.record({
  kind: fc.constant('udp' as const),
  srcPort: u16,
  dstPort: u16,
  payload: bytes(64),
});

export const icmp4Fields: fc.Arbitrary<Icmp4Fields> = fc.record({
  kind: fc.constant('icmp4' as const),
  type: u8,
  code: u8,
  rest: u32,
  data: bytes(64),
});

/** ND options with at most one 8-byte source and one 8-byte target link-layer option. */
export const ndOptions: fc.Arbitrary<NdOption[]> = fc
  .record({
    sll: fc.option(mac, { nil: undefined }),
    tll: fc.option(mac, { nil: undefined }),
    others: fc.array(
      fc.record({
        type: fc.integer({ min: 3, max: 255 }),
        data: alignedBytes(8, 3, 6),
      }),
      { maxLength: 3 },
    ),
  })
  .map(({ sll, tll, others }) => [
    ...(sll === undefined ? [] : [ndLinkAddrOption(ND_OPT_SOURCE_LINKADDR, sll)]),
    ...others,
    ...(tll === undefined ? [] : [ndLinkAddrOption(ND_OPT_TARGET_LINKADDR, tll)]),
  ]);

export const ndFields: fc.Arbitrary<Icmp6Fields> = fc.record({
  kind: fc.constant('icmp6' as const),
  type: fc.constantFrom(ND_NEIGHBOR_SOLICIT, ND_NEIGHBOR_ADVERT),
  code: u8,
  rest: u32,
  data: fc.tuple(ip6, ndOptions).map(([t, o]) => encodeNdBody(t, o)),
});

export const icmp6Fields: fc.Arbitrary<Icmp6Fields> = fc.oneof(
  fc.record({
    kind: fc.constant('icmp6' as const),
    type: u8.filter((t) => t !== ND_NEIGHBOR_SOLICIT && t !== ND_NEIGHBOR_ADVERT),
    code: u8,
    rest: u32,
    data: bytes(64),
  }),
  ndFields,
);

const optionsExt = (type: number): fc.Arbitrary<Ip6ExtHeader> =>
  (type === IPPROTO_AH ? alignedBytes(4, 6, 6) : alignedBytes(8, 4, 6)).map((data) => ({ kind: 'options' as const, type, data }));

/** A routing header (type 0, 2 or 4, segments left 0..2) whose addresses decide the pseudo-header. */
const routingExt: fc.Arbitrary<Ip6ExtHeader> = fc
  .tuple(fc.constantFrom(0, 2, 4, 7), fc.integer({ min: 0, max: 2 }), fc.array(ip6, { minLength: 0, maxLength: 3 }))
  .map(([rtype, segLeft, addrs]) => {
    const data = new Uint8Array(6 + 16 * addrs.length);
    data[0] = rtype;
    data[1] = segLeft;
    addrs.forEach((a, i) => {
      for (let j = 0; j < 16; j++) data[6 + 16 * i + j] = Number((a >> BigInt(8 * (15 - j))) & 0xffn);
    });
    return { kind: 'options' as const, type: IPPROTO_ROUTING, data };
  });

const fragmentExt = (later: boolean): fc.Arbitrary<Ip6ExtHeader> =>
  fc.record({
    kind: fc.constant('fragment' as const),
    fragOffset: later ? fc.integer({ min: 1, max: 0x1fff }) : fc.constant(0),
    more: fc.boolean(),
    id: u32,
  });

export const ip6ExtHeaders = (frag: FragShape): fc.Arbitrary<Ip6ExtHeader[]> =>
  fc
    .tuple(
      fc.array(fc.oneof(optionsExt(IPPROTO_HOPOPTS), optionsExt(IPPROTO_DSTOPTS), optionsExt(IPPROTO_AH), routingExt), { maxLength: 3 }),
      frag === 'none' ? fc.constant(undefined) : fragmentExt(frag === 'later'),
    )
    .map(([opts, f]) => (f === undefined ? opts : frag === 'first' ? [...opts, { ...f, more: true }] : [...opts, f]));

export const ip6Fields = (proto: number, frag: FragShape): fc.Arbitrary<Ip6Fields> =>
  fc.record({
    tc: u8,
    flowLabel: fc.integer({ min: 0, max: 0xfffff }),
    hopLimit: u8,
    src: ip6,
    dst: ip6,
    extHeaders: ip6ExtHeaders(frag),
    proto: fc.constant(proto),
  });

const rawL4 = bytes(64).map((data) => ({ kind: 'raw' as const, data }));

function l4For(proto: number, frag: FragShape): fc.Arbitrary<L4Fields> {
  if (frag === 'later') return rawL4;
  switch (proto) {
    case IPPROTO_TCP: return tcpFields;
    case IPPROTO_UDP: return udpFields;
    case IPPROTO_ICMP: return icmp4Fields;
    case IPPROTO_ICMPV6: return icmp6Fields;
    default: return rawL4;
  }
}

/** Protocols that are not IPv6 extension headers, for raw payloads. */
const otherProto = fc.constantFrom(IPPROTO_ESP, IPPROTO_NONE, 47, 132, 255);

export const ip4Frame: fc.Arbitrary<FrameInit> = fc
  .tuple(fc.constantFrom(IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, 47, 58), fragShape)
  .chain(([proto, frag]) =>
    fc.record({
      eth: ethHeader(ETHERTYPE_IPV4),
      vlans,
      ip4: ip4Fields(proto, frag),
      l4: l4For(proto === 58 ? 0 : proto, frag),
    }),
  );

export const ip6Frame: fc.Arbitrary<FrameInit> = fc
  .tuple(fc.oneof(fc.constantFrom(IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6, IPPROTO_ICMP), otherProto), fragShape)
  .chain(([proto, frag]) =>
    fc.record({
      eth: ethHeader(ETHERTYPE_IPV6),
      vlans,
      ip6: ip6Fields(proto, frag),
      l4: l4For(proto === IPPROTO_ICMP ? 0 : proto, frag),
    }),
  );

export const arpFrame: fc.Arbitrary<FrameInit> = fc.record({
  eth: ethHeader(ETHERTYPE_ARP),
  vlans,
  arp: arpPacket,
  padding: fc.constantFrom(0, 18).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
});

export const rawFrame: fc.Arbitrary<FrameInit> = fc.record({
  eth: fc.record({
    dst: mac,
    src: mac,
    etherType: u16.filter((t) => ![ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN, ETHERTYPE_QINQ].includes(t)),
  }),
  vlans,
  payload: bytes(64),
});

export const anyFrame: fc.Arbitrary<FrameInit> = fc.oneof(ip4Frame, ip6Frame, arpFrame, rawFrame);
