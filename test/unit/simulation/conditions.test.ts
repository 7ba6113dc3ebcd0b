// Rule conditions: every field matching and not, inverted per field and as a whole, applicability
// across families and protocols, fragment policies, and the fields each test marks as seen.
import {
  ETHERTYPE_ARP, ETHERTYPE_IPV4, FRAG_FIRST, FRAG_LATER, FRAG_NONE, Field, IPPROTO_ICMP, IPPROTO_ICMPV6,
  IPPROTO_TCP, IPPROTO_UDP, VLAN_NONE, fieldBit,
} from '../../../src/agent-core/packet/flow-match.js';
import {
  COND_NO, COND_NOT_YET, COND_YES, compileCondition, matchCondition,
} from '../../../src/agent-core/simulation/conditions.js';
import { InMemoryTopology } from '../../../src/agent-core/topology/in-memory-topology.js';
import type { Condition } from '../../../src/agent-core/topology/types.js';
import { type CtxOptions, type PacketSpec, context, packet, portGroup } from './chain-test-kit.js';

const topo = new InMemoryTopology([portGroup('pg-a', ['p-1', 'p-2']), portGroup('pg-b', ['p-9'])]);

function evalCond(c: Condition, spec: PacketSpec, o: CtxOptions = {}): number {
  const ctx = context(topo, packet(spec), o);
  return matchCondition(ctx, compileCondition(c), 'dev');
}

interface FieldCase {
  name: string;
  /** The condition with the field's value; `invert` is added by the test. */
  cond: (invert: boolean) => Condition;
  hit: [PacketSpec, CtxOptions?];
  miss: [PacketSpec, CtxOptions?];
}

const tcp80 = { proto: IPPROTO_TCP, dport: 80 };
const cases: FieldCase[] = [
  { name: 'inPorts', cond: (invert) => ({ inPorts: { value: ['p-1', 'p-2'], invert } }), hit: [{}, { inPort: 'p-2' }], miss: [{}, { inPort: 'p-3' }] },
  { name: 'outPorts', cond: (invert) => ({ outPorts: { value: ['p-1'], invert } }), hit: [{}, { outPort: 'p-1' }], miss: [{}, { outPort: 'p-3' }] },
  { name: 'inPortGroup', cond: (invert) => ({ inPortGroup: { value: 'pg-a', invert } }), hit: [{}, { inPort: 'p-1' }], miss: [{}, { inPort: 'p-9' }] },
  { name: 'outPortGroup', cond: (invert) => ({ outPortGroup: { value: 'pg-b', invert } }), hit: [{}, { outPort: 'p-9' }], miss: [{}, { outPort: 'p-1' }] },
  { name: 'ethType', cond: (invert) => ({ ethType: { value: ETHERTYPE_IPV4, invert } }), hit: [{}], miss: [{ ethType: ETHERTYPE_ARP }] },
  { name: 'ethSrc', cond: (invert) => ({ ethSrc: { value: '02:00:00:00:00:aa', invert } }), hit: [{ ethSrc: 0x0200000000aa }], miss: [{ ethSrc: 0x0200000000ab }] },
  { name: 'ethDst', cond: (invert) => ({ ethDst: { value: 'ff:ff:ff:ff:ff:ff', invert } }), hit: [{ ethDst: 0xffffffffffff }], miss: [{ ethDst: 0x0200000000ab }] },
  { name: 'vlanId', cond: (invert) => ({ vlanId: { value: 42, invert } }), hit: [{ vlan: 42 }], miss: [{ vlan: VLAN_NONE }] },
  { name: 'nwSrc v4', cond: (invert) => ({ nwSrc: { value: '10.0.0.0/8', invert } }), hit: [{ src: '10.200.3.4' }], miss: [{ src: '11.0.0.1' }] },
  { name: 'nwDst v4 /32', cond: (invert) => ({ nwDst: { value: '192.0.2.10/32', invert } }), hit: [{ dst: '192.0.2.10' }], miss: [{ dst: '192.0.2.11' }] },
  { name: 'nwSrc v6', cond: (invert) => ({ nwSrc: { value: '2001:db8:0:1::/64', invert } }), hit: [{ src: '2001:db8:0:1::5', dst: '2001:db8::1' }], miss: [{ src: '2001:db8:0:2::5', dst: '2001:db8::1' }] },
  { name: 'nwDst v6 /112', cond: (invert) => ({ nwDst: { value: '2001:db8::abcd:0/112', invert } }), hit: [{ src: '2001:db8::1', dst: '2001:db8::abcd:ffff' }], miss: [{ src: '2001:db8::1', dst: '2001:db8::abce:0' }] },
  { name: 'nwProto', cond: (invert) => ({ nwProto: { value: IPPROTO_UDP, invert } }), hit: [{ proto: IPPROTO_UDP }], miss: [{ proto: IPPROTO_TCP }] },
  { name: 'nwTos', cond: (invert) => ({ nwTos: { value: 0xb8, invert } }), hit: [{ tos: 0xb8 }], miss: [{ tos: 0 }] },
  { name: 'tpSrc', cond: (invert) => ({ tpSrc: { value: { start: 1000, end: 2000 }, invert } }), hit: [{ sport: 1500 }], miss: [{ sport: 2001 }] },
  { name: 'tpDst (udp)', cond: (invert) => ({ tpDst: { value: { start: 53, end: 53 }, invert } }), hit: [{ proto: IPPROTO_UDP, dport: 53 }], miss: [{ proto: IPPROTO_UDP, dport: 54 }] },
  { name: 'icmpType', cond: (invert) => ({ icmpType: { value: 8, invert } }), hit: [{ proto: IPPROTO_ICMP, sport: 8 }], miss: [{ proto: IPPROTO_ICMP, sport: 0 }] },
  { name: 'icmpCode', cond: (invert) => ({ icmpCode: { value: 3, invert } }), hit: [{ proto: IPPROTO_ICMP, sport: 3, dport: 3 }], miss: [{ proto: IPPROTO_ICMP, sport: 3, dport: 1 }] },
  { name: 'icmpType v6', cond: (invert) => ({ icmpType: { value: 128, invert } }), hit: [{ src: '2001:db8::1', dst: '2001:db8::2', proto: IPPROTO_ICMPV6, sport: 128 }], miss: [{ src: '2001:db8::1', dst: '2001:db8::2', proto: IPPROTO_ICMPV6, sport: 129 }] },
];

describe('condition fields', () => {
  it('an empty condition matches anything; inverted, nothing', () => {
    expect(evalCond({}, tcp80)).toBe(COND_YES);
    expect(evalCond({ invert: true }, tcp80)).toBe(COND_NO);
  });

  for (const c of cases) {
    describe(c.name, () => {
      it('matches a packet with the value and not one without', () => {
        expect(evalCond(c.cond(false), ...c.hit)).toBe(COND_YES);
        expect(evalCond(c.cond(false), ...c.miss)).toBe(COND_NO);
      });
      it('inverted, matches the other way round', () => {
        expect(evalCond(c.cond(true), ...c.hit)).toBe(COND_NO);
        expect(evalCond(c.cond(true), ...c.miss)).toBe(COND_YES);
      });
      it('the whole-condition invert negates the result', () => {
        expect(evalCond({ ...c.cond(false), invert: true }, ...c.hit)).toBe(COND_NO);
        expect(evalCond({ ...c.cond(false), invert: true }, ...c.miss)).toBe(COND_YES);
      });
    });
  }

  it('all present fields must match', () => {
    const c: Condition = { nwProto: { value: IPPROTO_TCP }, tpDst: { value: { start: 80, end: 80 } }, nwSrc: { value: '10.0.0.0/24' } };
    expect(evalCond(c, { src: '10.0.0.7', dport: 80 })).toBe(COND_YES);
    expect(evalCond(c, { src: '10.0.1.7', dport: 80 })).toBe(COND_NO);
    expect(evalCond(c, { src: '10.0.0.7', dport: 81 })).toBe(COND_NO);
    expect(evalCond(c, { src: '10.0.0.7', dport: 80, proto: IPPROTO_UDP })).toBe(COND_NO);
  });

  it('an outPorts condition does not match before the egress port is known', () => {
    expect(evalCond({ outPorts: { value: ['p-1'] } }, {})).toBe(COND_NO);
    expect(evalCond({ outPorts: { value: ['p-1'], invert: true } }, {})).toBe(COND_YES);
  });
});

describe('applicability', () => {
  it('a v4 CIDR never matches an IPv6 packet, inverted or not', () => {
    const v6 = { src: '2001:db8::1', dst: '2001:db8::2' };
    expect(evalCond({ nwSrc: { value: '0.0.0.0/0' } }, v6)).toBe(COND_NO);
    expect(evalCond({ nwSrc: { value: '10.0.0.0/8', invert: true } }, v6)).toBe(COND_NO);
    expect(evalCond({ nwSrc: { value: '::/0' } }, {})).toBe(COND_NO);
  });

  it('a v4 CIDR tests the ARP sender and target addresses', () => {
    expect(evalCond({ nwSrc: { value: '10.0.0.0/8' } }, { ethType: ETHERTYPE_ARP, proto: 1, src: '10.1.1.1' })).toBe(COND_YES);
  });

  it('tp conditions need TCP or UDP; icmp conditions need ICMP of the packet family', () => {
    expect(evalCond({ tpDst: { value: { start: 0, end: 65535 } } }, { proto: IPPROTO_ICMP })).toBe(COND_NO);
    expect(evalCond({ tpDst: { value: { start: 1, end: 2 }, invert: true } }, { proto: IPPROTO_ICMP })).toBe(COND_NO);
    expect(evalCond({ icmpType: { value: 8 } }, { proto: IPPROTO_TCP, sport: 8 })).toBe(COND_NO);
    // ICMPv6's protocol number on an IPv4 packet is not ICMP.
    expect(evalCond({ icmpType: { value: 128 } }, { proto: IPPROTO_ICMPV6, sport: 128 })).toBe(COND_NO);
  });

  it('nwProto does not match an ARP opcode of the same number', () => {
    expect(evalCond({ nwProto: { value: 1 } }, { ethType: ETHERTYPE_ARP, proto: 1 })).toBe(COND_NO);
  });

  it('an unparsable value makes the rule never match, even inverted', () => {
    expect(evalCond({ nwSrc: { value: '10.0.0.0/33' } }, {})).toBe(COND_NO);
    expect(evalCond({ ethSrc: { value: 'zz' }, invert: true }, {})).toBe(COND_NO);
    expect(compileCondition({ nwSrc: { value: 'nope' } }).broken).toMatch(/nope/);
  });

  it('a port group that is not loaded answers not-yet and names it', () => {
    const ctx = context(topo, packet(), { inPort: 'p-1' });
    expect(matchCondition(ctx, compileCondition({ inPortGroup: { value: 'pg-x' } }), 'dev')).toBe(COND_NOT_YET);
    expect(ctx.missing).toEqual([{ kind: 'device', objectType: 'portGroup', id: 'pg-x' }]);
  });

  it('a port group test tags the group', () => {
    const ctx = context(topo, packet(), { inPort: 'p-1' });
    matchCondition(ctx, compileCondition({ inPortGroup: { value: 'pg-a' } }), 'dev');
    expect(ctx.tags.includes('device:pg-a')).toBe(true);
  });
});

describe('connState', () => {
  it('inverted, it is the other state: a packet with no tracked connection is a forward flow, not a return', () => {
    for (const value of ['forward', 'return'] as const) {
      expect(evalCond({ connState: { value } }, tcp80)).toBe(value === 'forward' ? COND_YES : COND_NO);
      expect(evalCond({ connState: { value, invert: true } }, tcp80)).toBe(value === 'forward' ? COND_NO : COND_YES);
      expect(evalCond({ connState: value }, tcp80)).toBe(evalCond({ connState: { value } }, tcp80));
    }
  });
});

describe('fragments', () => {
  const policies = ['any', 'unfragmented', 'header', 'nonheader'] as const;
  const expected: Record<(typeof policies)[number], boolean[]> = {
    any: [true, true, true],
    unfragmented: [true, false, false],
    header: [true, true, false],
    nonheader: [false, false, true],
  };
  for (const p of policies) {
    it(`policy ${p}; as { value }; inverted, the fragments it leaves out`, () => {
      const got = (c: Condition): boolean[] => [FRAG_NONE, FRAG_FIRST, FRAG_LATER].map((frag) => evalCond(c, { frag }) === COND_YES);
      expect(got({ fragments: p })).toEqual(expected[p]);
      expect(got({ fragments: { value: p } })).toEqual(expected[p]);
      expect(got({ fragments: { value: p, invert: false } })).toEqual(expected[p]);
      expect(got({ fragments: { value: p, invert: true } })).toEqual(expected[p].map((x) => !x));
    });
  }

  it('"not unfragmented" matches every fragment and leaves the rest of the condition alone', () => {
    const c: Condition = { nwProto: { value: IPPROTO_UDP }, fragments: { value: 'unfragmented', invert: true } };
    expect(evalCond(c, { proto: IPPROTO_UDP, frag: FRAG_FIRST })).toBe(COND_YES);
    expect(evalCond(c, { proto: IPPROTO_UDP, frag: FRAG_LATER })).toBe(COND_YES);
    expect(evalCond(c, { proto: IPPROTO_UDP, frag: FRAG_NONE })).toBe(COND_NO);
    expect(evalCond(c, { proto: IPPROTO_TCP, frag: FRAG_FIRST })).toBe(COND_NO);
  });

  it('a rule testing L4 fields does not match later fragments by default', () => {
    const c: Condition = { tpDst: { value: { start: 0, end: 65535 } } };
    expect(evalCond(c, { frag: FRAG_FIRST })).toBe(COND_YES);
    expect(evalCond(c, { frag: FRAG_LATER })).toBe(COND_NO);
    expect(evalCond({ icmpType: { value: 8 } }, { proto: IPPROTO_ICMP, sport: 8, frag: FRAG_LATER })).toBe(COND_NO);
    // ... unless it says so, and a rule without L4 fields matches them.
    expect(evalCond({ ...c, fragments: 'any' }, { frag: FRAG_LATER })).toBe(COND_YES);
    expect(evalCond({ nwProto: { value: IPPROTO_TCP } }, { frag: FRAG_LATER })).toBe(COND_YES);
  });
});

describe('seen mask', () => {
  function seenAfter(c: Condition, spec: PacketSpec): number {
    const m = packet(spec);
    const ctx = context(topo, m, { inPort: 'p-1' });
    matchCondition(ctx, compileCondition(c), 'dev');
    return m.seen;
  }
  const bit = (f: Field): number => fieldBit(f);

  it('an empty condition and port conditions read no packet field', () => {
    expect(seenAfter({}, {})).toBe(bit(Field.InPort));
    expect(seenAfter({ inPorts: { value: ['p-1'] }, inPortGroup: { value: 'pg-a' } }, {})).toBe(bit(Field.InPort));
  });

  it('a failing nwProto test stops before the address and ports', () => {
    const seen = seenAfter({ nwProto: { value: IPPROTO_UDP }, nwSrc: { value: '10.0.0.0/8' }, tpDst: { value: { start: 1, end: 2 } } }, {});
    expect(seen).toBe(bit(Field.InPort) | bit(Field.EthType) | bit(Field.IpProto));
    expect(seen & bit(Field.IpSrc)).toBe(0);
  });

  it('a failing address test does not read ports or fragments', () => {
    const seen = seenAfter({ nwSrc: { value: '172.16.0.0/12' }, tpDst: { value: { start: 80, end: 80 } } }, {});
    expect(seen).toBe(bit(Field.InPort) | bit(Field.EthType) | bit(Field.IpSrc));
  });

  it('a matching L4 rule reads what it tested and nothing else', () => {
    const seen = seenAfter({ tpDst: { value: { start: 80, end: 80 } } }, tcp80);
    expect(seen).toBe(bit(Field.InPort) | bit(Field.EthType) | bit(Field.IpProto) | bit(Field.IpFrag) | bit(Field.L4Dst));
  });

  it('a field rewritten before the test is not marked seen', () => {
    const m = packet({});
    m.setIp(Field.IpSrc, 0x0a000001);
    const ctx = context(topo, m, {});
    matchCondition(ctx, compileCondition({ nwSrc: { value: '10.0.0.1/32' } }), 'dev');
    expect(m.seen & bit(Field.IpSrc)).toBe(0);
  });
});
