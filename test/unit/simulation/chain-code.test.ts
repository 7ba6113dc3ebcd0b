// Generated chain scans (src/agent-core/simulation/chain-code.ts) against the closures they stand in
// for (conditions.ts): for random conditions and packets, the same match result and the same fields
// marked seen; and whole chains evaluated through the scan against the interpreter (a view without
// a rule generation), verdict, seen mask and trace alike.
import fc from 'fast-check';
import {
  ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, FRAG_FIRST, FRAG_LATER, FRAG_NONE, Field, type FlowMatch, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP,
  IPPROTO_UDP,
} from '../../../src/agent-core/packet/flow-match.js';
import { chainCode } from '../../../src/agent-core/simulation/chain-code.js';
import { evaluateChain } from '../../../src/agent-core/simulation/chains.js';
import { COND_YES, compileCondition, matchCondition } from '../../../src/agent-core/simulation/conditions.js';
import { InMemoryTopology } from '../../../src/agent-core/topology/in-memory-topology.js';
import type { Condition } from '../../../src/agent-core/topology/types.js';
import { type PacketSpec, chain, context, packet, portGroup, rule } from './chain-test-kit.js';

const inv = fc.boolean();
const port = fc.constantFrom(22, 53, 80, 443, 1000, 8080);
const v4 = fc.constantFrom('10.0.0.1', '10.0.0.200', '192.0.2.10', '198.51.100.7');
const v6 = fc.constantFrom('2001:db8::1', '2001:db8:1::5', '2001:db8:ffff::9');
const cidr4 = fc.tuple(v4, fc.integer({ min: 0, max: 32 })).map(([a, l]) => `${a}/${l}`);
const cidr6 = fc.tuple(v6, fc.integer({ min: 0, max: 128 })).map(([a, l]) => `${a}/${l}`);
const range = fc.tuple(port, port).map(([a, b]) => ({ start: Math.min(a, b), end: Math.max(a, b) }));
const portIds = fc.subarray(['p-in', 'p-a', 'p-b'], { minLength: 1 });

/** Conditions of every field the scan inlines, plus the two it leaves to the interpreter. */
const condition: fc.Arbitrary<Condition> = fc.record(
  {
    inPorts: fc.record({ value: portIds, invert: inv }),
    outPorts: fc.record({ value: portIds, invert: inv }),
    ethType: fc.record({ value: fc.constantFrom(ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_ARP), invert: inv }),
    nwProto: fc.record({ value: fc.constantFrom(IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6), invert: inv }),
    nwTos: fc.record({ value: fc.constantFrom(0, 8), invert: inv }),
    nwSrc: fc.record({ value: fc.oneof(cidr4, cidr6), invert: inv }),
    nwDst: fc.record({ value: fc.oneof(cidr4, cidr6), invert: inv }),
    tpSrc: fc.record({ value: range, invert: inv }),
    tpDst: fc.record({ value: range, invert: inv }),
    icmpType: fc.record({ value: fc.constantFrom(0, 3, 8), invert: inv }),
    icmpCode: fc.record({ value: fc.constantFrom(0, 1), invert: inv }),
    fragments: fc.oneof(
      fc.constantFrom('any', 'unfragmented', 'header', 'nonheader'),
      fc.record({ value: fc.constantFrom('unfragmented', 'header', 'nonheader'), invert: inv }),
    ),
    inPortGroup: fc.record({ value: fc.constant('g1'), invert: inv }),
    connState: fc.oneof(fc.constantFrom('forward', 'return'), fc.record({ value: fc.constantFrom('forward', 'return'), invert: inv })),
    invert: inv,
  },
  { requiredKeys: [] },
) as fc.Arbitrary<Condition>;

const packetSpec: fc.Arbitrary<PacketSpec> = fc.oneof(
  fc.record({ src: v4, dst: v4, proto: fc.constantFrom(IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP), sport: port, dport: port, tos: fc.constantFrom(0, 8), frag: fc.constantFrom(FRAG_NONE, FRAG_FIRST, FRAG_LATER) }),
  fc.record({ src: v6, dst: v6, proto: fc.constantFrom(IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6), sport: port, dport: port }),
  fc.record({ ethType: fc.constant(ETHERTYPE_ARP), src: v4, dst: v4 }),
);

const outPort = fc.option(fc.constantFrom('p-a', 'p-b'), { nil: undefined });
const topology = (): InMemoryTopology => new InMemoryTopology([portGroup('g1', ['p-in', 'p-b'])]);

describe('generated chain scan', () => {
  it('decides every inlined condition as its closures do, reading the same fields (rewritten ones are not seen)', () => {
    // Fields rewritten before the chain (as SNAT before a post-routing chain): read, but not seen.
    const rewritten = fc.subarray([Field.L4Src, Field.L4Dst, Field.IpTos, Field.IpProto, Field.EthType]);
    const rewrite = (m: FlowMatch, fields: readonly Field[]): FlowMatch => {
      for (const f of fields) m.set(f, m.peek(f) ^ 1);
      return m;
    };
    fc.assert(
      fc.property(condition, packetSpec, outPort, rewritten, (c, spec, out, fields) => {
        const cc = compileCondition(c);
        const code = chainCode([cc]);
        fc.pre(code.simple[0] === true);
        const viaClosures = rewrite(packet(spec), fields);
        const ctxA = context(topology(), viaClosures, { outPort: out });
        const want = matchCondition(ctxA, cc, 'dev') === COND_YES;
        const viaScan = rewrite(packet(spec), fields);
        const ctxB = context(topology(), viaScan, { outPort: out });
        const got = code.scan(viaScan, ctxB, 0) === 0;
        expect(got).toBe(want);
        expect(viaScan.seen).toBe(viaClosures.seen);
      }),
      { numRuns: 1500 },
    );
  });

  it('leaves rules with port-group or connection-state tests, and broken ones, to the interpreter', () => {
    expect(chainCode([compileCondition({ inPortGroup: { value: 'g1' } })]).simple).toEqual([false]);
    expect(chainCode([compileCondition({ connState: 'return' })]).simple).toEqual([false]);
    expect(chainCode([compileCondition({ nwDst: { value: 'not-a-cidr' } })]).simple).toEqual([false]);
    expect(chainCode([compileCondition({ nwProto: { value: IPPROTO_TCP } })]).simple).toEqual([true]);
  });

  it('whole chains through the scan give the interpreter\'s verdict, seen mask, trace and state', () => {
    const terminal = fc.constantFrom('accept', 'drop', 'reject', 'continue') as fc.Arbitrary<'accept' | 'drop' | 'reject' | 'continue'>;
    fc.assert(
      fc.property(fc.array(condition, { minLength: 1, maxLength: 10 }), terminal, fc.array(packetSpec, { minLength: 2, maxLength: 6 }), outPort, (conds, last, specs, out) => {
        const ids = conds.map((_, i) => `r${i}`);
        // Every rule but the last continues, so the first packet walks (and looks up) them all and
        // the later ones go through the generated scan.
        const objects = [
          chain('c', ids),
          ...conds.map((c, i) => rule(ids[i]!, 'c', { kind: 'literal', action: i === conds.length - 1 ? last : 'continue' }, c)),
          portGroup('g1', ['p-in', 'p-b']),
        ];
        const scanned = new InMemoryTopology(objects);
        const interpreted = Object.create(new InMemoryTopology(objects), { ruleGeneration: { value: undefined } }) as InMemoryTopology;
        for (const spec of specs) {
          const a = context(interpreted, packet(spec), { outPort: out });
          const b = context(scanned, packet(spec), { outPort: out });
          expect(evaluateChain(b, 'c', 'dev')).toBe(evaluateChain(a, 'c', 'dev'));
          expect(b.match.seen).toBe(a.match.seen);
          expect(b.trace).toEqual(a.trace);
          expect(b.stateChanges).toEqual(a.stateChanges);
        }
      }),
      { numRuns: 600 },
    );
  });
});
