// NAT and ICMP: echo translated by its id, and ICMP errors about translated datagrams coming back
// through reverse SNAT, reverse DNAT and static NAT with the outer and the embedded header rewritten.
import {
  ETHERTYPE_IPV4, Field, type HeaderModification, IPPROTO_ICMP, IPPROTO_UDP, applyModifications, buildIcmp4Error,
  decodeFrame, encodeFrame, flowMatchFromFrame, isDecodeError, parseIcmpErrorInner,
} from '../../../src/agent-core/packet/index.js';
import { evaluateChain } from '../../../src/agent-core/simulation/chains.js';
import { currentInner } from '../../../src/agent-core/simulation/icmp-inner.js';
import type { Condition } from '../../../src/agent-core/topology/types.js';
import { type PacketSpec, StateTables, chainWorld, context, icmp4ErrorFrame, ip, sim } from './chain-test-kit.js';

const DROP = { kind: 'literal', action: 'drop' } as const;
const T = '203.0.113.10';
const A = '10.0.0.1';
const D = '198.51.100.7';
const R = '192.0.2.254';
const fromTenant: Condition = { nwSrc: { value: '10.0.0.0/8' } };
const post = chainWorld('post', [[{ kind: 'nat', nat: 'snat', targets: [{ addressFrom: T, addressTo: T, portFrom: 0, portTo: 0 }], then: 'accept' }, fromTenant], [DROP]]);
const pre = chainWorld('pre', [[{ kind: 'reverseNat', nat: 'snat', then: 'accept' }, { nwDst: { value: `${T}/32` } }], [DROP]]);

/** An ICMP error packet: the key of the outer header plus the frame that embeds `inner`. */
function icmpError(type: number, code: number, from: string, to: string, inner: Parameters<typeof icmp4ErrorFrame>[4]) {
  const spec: PacketSpec = { proto: IPPROTO_ICMP, src: from, dst: to, sport: type, dport: code };
  return { spec, frame: icmp4ErrorFrame(type, code, from, to, inner) };
}

describe('ICMP echo through SNAT', () => {
  it('translates the echo id and translates the reply back by it', () => {
    const state = new StateTables();
    const req = sim(post, 'post', { proto: IPPROTO_ICMP, src: A, dst: D, sport: 8, dport: 0, icmpId: 77 }, state);
    expect(req.verdict).toBe('accept');
    const id = state.leased[0].port;
    expect(req.ctx.actions).toEqual([
      { kind: 'setField', field: Field.IpSrc, value: ip(T) },
      { kind: 'setField', field: Field.IcmpId, value: id },
    ]);
    const rep = sim(pre, 'pre', { proto: IPPROTO_ICMP, src: D, dst: T, sport: 0, dport: 0, icmpId: id }, state);
    expect(rep.verdict).toBe('accept');
    expect(rep.ctx.actions).toEqual([
      { kind: 'setField', field: Field.IpDst, value: ip(A) },
      { kind: 'setField', field: Field.IcmpId, value: 77 },
    ]);
  });
});

describe('ICMP errors through reverse SNAT', () => {
  function snatUdp(state: StateTables): number {
    sim(post, 'post', { proto: IPPROTO_UDP, src: A, sport: 40000, dst: D, dport: 53 }, state);
    return state.leased[0].port;
  }

  it('a port unreachable from a router reaches the original sender with its own header', () => {
    const state = new StateTables();
    const tp = snatUdp(state);
    const { spec, frame } = icmpError(3, 3, R, T, { proto: IPPROTO_UDP, src: T, sport: tp, dst: D, dport: 53 });
    const { verdict, ctx } = sim(pre, 'pre', spec, state, { frame });
    expect(verdict).toBe('accept');
    expect(ctx.actions).toEqual([
      { kind: 'setField', field: Field.IpDst, value: ip(A) },
      { kind: 'setInnerField', field: Field.IpSrc, value: ip(A) },
      { kind: 'setInnerField', field: Field.L4Src, value: 40000 },
    ]);
    expect(ctx.installFlow).toBe(false);
    expect(ctx.tags.includes(`nat:rev-snat:edge:17:${ip(D) as number}:53:${ip(T) as number}:${tp}`)).toBe(true);
    expect(currentInner(ctx)).toMatchObject({ ipSrc: ip(A), l4Src: 40000, ipDst: ip(D), l4Dst: 53 });
  });

  it('an error sent by the destination itself is translated the same way', () => {
    const state = new StateTables();
    const tp = snatUdp(state);
    const { spec, frame } = icmpError(3, 3, D, T, { proto: IPPROTO_UDP, src: T, sport: tp, dst: D, dport: 53 });
    const { ctx } = sim(pre, 'pre', spec, state, { frame });
    expect(ctx.actions[0]).toEqual({ kind: 'setField', field: Field.IpDst, value: ip(A) });
    expect(ctx.actions).toHaveLength(3);
  });

  it('an error about a datagram of no known connection is not translated', () => {
    const state = new StateTables();
    const tp = snatUdp(state);
    const { spec, frame } = icmpError(3, 3, R, T, { proto: IPPROTO_UDP, src: T, sport: tp + 1, dst: D, dport: 53 });
    const { verdict, ctx } = sim(pre, 'pre', spec, state, { frame });
    expect(verdict).toBe('drop');
    expect(ctx.actions).toEqual([]);
    expect(ctx.installFlow).toBe(false);
  });

  it('a time exceeded about a translated echo request restores the inner id', () => {
    const state = new StateTables();
    sim(post, 'post', { proto: IPPROTO_ICMP, src: A, dst: D, sport: 8, dport: 0, icmpId: 77 }, state);
    const id = state.leased[0].port;
    const { spec, frame } = icmpError(11, 0, R, T, { proto: IPPROTO_ICMP, src: T, sport: id, dst: D, dport: id });
    const { verdict, ctx } = sim(pre, 'pre', spec, state, { frame });
    expect(verdict).toBe('accept');
    expect(ctx.actions).toEqual([
      { kind: 'setField', field: Field.IpDst, value: ip(A) },
      { kind: 'setInnerField', field: Field.IpSrc, value: ip(A) },
      { kind: 'setInnerField', field: Field.IcmpId, value: 77 },
    ]);
  });
});

describe('an ICMP error built and rewritten by the packet codecs', () => {
  it('reaches the sender with a valid frame naming its own datagram', () => {
    const state = new StateTables();
    sim(post, 'post', { proto: IPPROTO_UDP, src: A, sport: 40000, dst: D, dport: 53 }, state);
    const tp = state.leased[0].port;
    // The datagram as it left the NAT, and the port unreachable a router sends back about it.
    const sent = encodeFrame({
      eth: { dst: 0x020000000002, src: 0x020000000001, etherType: ETHERTYPE_IPV4 },
      ip4: { tos: 0, id: 1, df: true, mf: false, fragOffset: 0, ttl: 60, proto: IPPROTO_UDP, src: ip(T) as number, dst: ip(D) as number, options: new Uint8Array(0) },
      l4: { kind: 'udp', srcPort: tp, dstPort: 53, payload: Uint8Array.from([1, 2, 3, 4]) },
    });
    const error = buildIcmp4Error(sent, 3, 3, ip(R) as number, 0x020000000003, 0x020000000001);
    if (isDecodeError(error)) throw new Error(error.reason);
    const m = flowMatchFromFrame(error, 0);
    if (isDecodeError(m)) throw new Error(m.reason);
    const ctx = context(pre, m, { state, frame: error });
    expect(evaluateChain(ctx, 'pre', 'edge')).toBe('accept');
    const out = applyModifications(error, ctx.actions as HeaderModification[]);
    if (isDecodeError(out)) throw new Error(out.reason);
    expect(isDecodeError(decodeFrame(out, { verifyChecksums: true }))).toBe(false);
    expect(parseIcmpErrorInner(out)).toMatchObject({ ipSrc: ip(A), l4Src: 40000, ipDst: ip(D), l4Dst: 53, proto: IPPROTO_UDP });
    const after = flowMatchFromFrame(out, 0);
    if (isDecodeError(after)) throw new Error(after.reason);
    expect(after.peekIp(Field.IpDst)).toBe(ip(A));
    expect(after.peekIp(Field.IpSrc)).toBe(ip(R));
  });
});

describe('ICMP errors through reverse DNAT', () => {
  it('an unreachable from the backend names the service address inside and out', () => {
    const C = '192.0.2.50';
    const VIP = '198.51.100.80';
    const dnat = chainWorld('pre', [[{ kind: 'nat', nat: 'dnat', targets: [{ addressFrom: '10.0.1.1', addressTo: '10.0.1.1', portFrom: 5353, portTo: 5353 }], then: 'accept' }, { nwDst: { value: `${VIP}/32` } }]]);
    const rev = chainWorld('post', [[{ kind: 'reverseNat', nat: 'dnat', then: 'accept' }], [DROP]]);
    const state = new StateTables();
    sim(dnat, 'pre', { proto: IPPROTO_UDP, src: C, sport: 40000, dst: VIP, dport: 53 }, state);
    const { spec, frame } = icmpError(3, 3, '10.0.1.1', C, { proto: IPPROTO_UDP, src: C, sport: 40000, dst: '10.0.1.1', dport: 5353 });
    const { verdict, ctx } = sim(rev, 'post', spec, state, { frame });
    expect(verdict).toBe('accept');
    expect(ctx.actions).toEqual([
      { kind: 'setField', field: Field.IpSrc, value: ip(VIP) },
      { kind: 'setInnerField', field: Field.IpDst, value: ip(VIP) },
      { kind: 'setInnerField', field: Field.L4Dst, value: 53 },
    ]);
    expect(ctx.installFlow).toBe(false);
  });
});

describe('ICMP errors through static NAT', () => {
  const FIP = '198.51.100.5';
  const out = chainWorld('out', [[{ kind: 'staticNat', nat: 'snat', address: FIP, then: 'accept' }, { nwSrc: { value: '10.0.0.5/32' } }]]);
  const inb = chainWorld('in', [[{ kind: 'staticNat', nat: 'dnat', address: '10.0.0.5', then: 'accept' }, { nwDst: { value: `${FIP}/32` } }]]);

  it('an error the private host sends about a packet to its floating IP names the floating IP inside', () => {
    const { spec, frame } = icmpError(3, 3, '10.0.0.5', '192.0.2.99', { proto: IPPROTO_UDP, src: '192.0.2.99', sport: 5000, dst: '10.0.0.5', dport: 53 });
    const { ctx } = sim(out, 'out', spec, new StateTables(), { frame });
    expect(ctx.actions).toEqual([
      { kind: 'setInnerField', field: Field.IpDst, value: ip(FIP) },
      { kind: 'setField', field: Field.IpSrc, value: ip(FIP) },
    ]);
    expect(ctx.installFlow).toBe(false);
  });

  it('an error about a packet the private host sent reaches it with its private address inside', () => {
    const { spec, frame } = icmpError(11, 0, R, FIP, { proto: IPPROTO_UDP, src: FIP, sport: 5000, dst: '192.0.2.99', dport: 53 });
    const { ctx } = sim(inb, 'in', spec, new StateTables(), { frame });
    expect(ctx.actions).toEqual([
      { kind: 'setInnerField', field: Field.IpSrc, value: ip('10.0.0.5') },
      { kind: 'setField', field: Field.IpDst, value: ip('10.0.0.5') },
    ]);
  });

  it('a ping through static NAT is an ordinary installable flow', () => {
    const { ctx } = sim(inb, 'in', { proto: IPPROTO_ICMP, src: R, dst: FIP, sport: 8, icmpId: 3 }, new StateTables());
    expect(ctx.installFlow).toBe(true);
    expect(ctx.actions).toEqual([{ kind: 'setField', field: Field.IpDst, value: ip('10.0.0.5') }]);
  });
});
