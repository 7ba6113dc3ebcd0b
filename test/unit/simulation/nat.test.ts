// NAT rules: static 1:1 both ways, dynamic SNAT through pickPort with forward and reverse keys,
// the reply translated back from those keys, NotYet(natBlock), DNAT stable per connection, skips.
import fc from 'fast-check';
import { formatIp } from '../../../src/agent-core/packet/addr.js';
import { FRAG_LATER, Field, IPPROTO_TCP, IPPROTO_UDP } from '../../../src/agent-core/packet/flow-match.js';
import { chainError, chainErrorCause } from '../../../src/agent-core/simulation/chains.js';
import { flowHash, natKey, readFlowTuple } from '../../../src/agent-core/simulation/state-keys.js';
import type { Condition, NatTarget } from '../../../src/agent-core/topology/types.js';
import { type PacketSpec, StateTables, chainWorld, ip, packet, sim } from './chain-test-kit.js';

const DROP = { kind: 'literal', action: 'drop' } as const;

const T = '203.0.113.10';
const snatTarget = (portFrom = 0, portTo = 0): NatTarget => ({ addressFrom: T, addressTo: T, portFrom, portTo });
const fromTenant: Condition = { nwSrc: { value: '10.0.0.0/8' } };

describe('static NAT (floating IP)', () => {
  const fipIn = chainWorld('in', [[{ kind: 'staticNat', nat: 'dnat', address: '10.0.0.5', then: 'accept' }, { nwDst: { value: '198.51.100.5/32' } }], [DROP]]);
  const fipOut = chainWorld('out', [[{ kind: 'staticNat', nat: 'snat', address: '198.51.100.5', then: 'continue' }, { nwSrc: { value: '10.0.0.5/32' } }], [DROP, { nwProto: { value: IPPROTO_UDP } }]]);

  it('dnat rewrites the destination and accepts', () => {
    const { verdict, ctx, m } = sim(fipIn, 'in', { src: '192.0.2.99', dst: '198.51.100.5' }, new StateTables());
    expect(verdict).toBe('accept');
    expect(ctx.actions).toEqual([{ kind: 'setField', field: Field.IpDst, value: ip('10.0.0.5') }]);
    expect(formatIp(m.peekIp(Field.IpDst))).toBe('10.0.0.5');
    expect(ctx.stateChanges).toEqual([]);
    expect(ctx.stateful).toBe(false);
  });

  it('snat rewrites the source, then continues with the next rule', () => {
    const tcp = sim(fipOut, 'out', { src: '10.0.0.5', dst: '192.0.2.99' }, new StateTables());
    expect(tcp.verdict).toBe('accept');
    expect(tcp.ctx.actions).toEqual([{ kind: 'setField', field: Field.IpSrc, value: ip('198.51.100.5') }]);
    const udp = sim(fipOut, 'out', { src: '10.0.0.5', dst: '192.0.2.99', proto: IPPROTO_UDP }, new StateTables());
    expect(udp.verdict).toBe('drop');
    expect(udp.ctx.actions).toHaveLength(1);
  });

  it('other addresses are left alone', () => {
    const { verdict, ctx } = sim(fipIn, 'in', { dst: '198.51.100.6' }, new StateTables());
    expect(verdict).toBe('drop');
    expect(ctx.actions).toEqual([]);
  });

  it('a v4 address is not applied to an IPv6 packet; a v6 one is', () => {
    const t = chainWorld('c', [[{ kind: 'staticNat', nat: 'dnat', address: '10.0.0.5', then: 'accept' }], [DROP]]);
    const v6 = sim(t, 'c', { src: '2001:db8::1', dst: '2001:db8::2' }, new StateTables());
    expect(v6.verdict).toBe('drop');
    expect(v6.ctx.trace.join('\n')).toMatch(/address family/);
    const t6 = chainWorld('c', [[{ kind: 'staticNat', nat: 'dnat', address: '2001:db8::99', then: 'accept' }]]);
    const ok = sim(t6, 'c', { src: '2001:db8::1', dst: '2001:db8::2' }, new StateTables());
    expect(ok.ctx.actions).toEqual([{ kind: 'setField', field: Field.IpDst, value: ip('2001:db8::99') }]);
  });
});

describe('dynamic SNAT', () => {
  const post = chainWorld('post', [[{ kind: 'nat', nat: 'snat', targets: [snatTarget()], then: 'accept' }, fromTenant], [DROP]]);
  const pre = chainWorld('pre', [[{ kind: 'reverseNat', nat: 'snat', then: 'accept' }, { nwDst: { value: `${T}/32` } }], [DROP]]);
  const out: PacketSpec = { proto: IPPROTO_TCP, src: '10.0.0.1', sport: 40000, dst: '198.51.100.7', dport: 443 };

  it('allocates the port through pickPort and records forward and reverse keys', () => {
    const state = new StateTables();
    const { verdict, ctx } = sim(post, 'post', out, state);
    expect(verdict).toBe('accept');
    const tuple = readFlowTuple(packet(out))!;
    expect(state.pickCalls).toEqual([{ deviceId: 'edge', ip: ip(T), from: 1024, to: 65535, hash: flowHash(tuple) }]);
    const port = state.leased[0].port;
    expect(port).toBeGreaterThanOrEqual(1024);
    const fwd = 'fwd-snat:edge:6:167772161:40000:3325256711:443';
    const rev = `rev-snat:edge:6:3325256711:443:${ip(T) as number}:${port}`;
    expect(fwd).toBe(natKey('fwd-snat', 'edge', tuple));
    expect(ctx.stateChanges).toEqual([
      { kind: 'nat', key: fwd, binding: { ip: ip(T), port }, deviceId: 'edge', leasedIp: ip(T) },
      { kind: 'nat', key: rev, binding: { ip: ip('10.0.0.1'), port: 40000 }, deviceId: 'edge' },
    ]);
    expect(ctx.actions).toEqual([
      { kind: 'setField', field: Field.IpSrc, value: ip(T) },
      { kind: 'setField', field: Field.L4Src, value: port },
    ]);
    expect(ctx.stateful).toBe(true);
    expect(ctx.tags.includes(`nat:${fwd}`)).toBe(true);
    expect(state.leased).toEqual([{ deviceId: 'edge', ip: ip(T), port }]);
  });

  it('later packets of the connection reuse the binding without allocating', () => {
    const state = new StateTables();
    const first = sim(post, 'post', out, state);
    const second = sim(post, 'post', out, state);
    expect(state.pickCalls).toHaveLength(1);
    expect(second.ctx.actions).toEqual(first.ctx.actions);
    expect(second.ctx.stateChanges).toEqual(first.ctx.stateChanges);
  });

  it('the reply is translated back from the recorded reverse key', () => {
    const state = new StateTables();
    sim(post, 'post', out, state);
    const port = state.leased[0].port;
    const back = sim(pre, 'pre', { proto: IPPROTO_TCP, src: '198.51.100.7', sport: 443, dst: T, dport: port }, state);
    expect(back.verdict).toBe('accept');
    expect(back.ctx.actions).toEqual([
      { kind: 'setField', field: Field.IpDst, value: ip('10.0.0.1') },
      { kind: 'setField', field: Field.L4Dst, value: 40000 },
    ]);
    expect(back.ctx.tags.includes(`nat:rev-snat:edge:6:3325256711:443:${ip(T) as number}:${port}`)).toBe(true);
  });

  it('a packet to the NAT address without a binding is not translated (the next rule decides)', () => {
    const state = new StateTables();
    sim(post, 'post', out, state);
    const port = state.leased[0].port;
    const stray = sim(pre, 'pre', { proto: IPPROTO_TCP, src: '198.51.100.7', sport: 443, dst: T, dport: port + 1 }, state);
    expect(stray.verdict).toBe('drop');
    expect(stray.ctx.actions).toEqual([]);
    expect([...stray.ctx.tags].some((t) => t.startsWith('nat:rev-snat:'))).toBe(true);
  });

  it('any tenant source is translated out and its reply translated back to it', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffff }), fc.integer({ min: 1, max: 65535 }), fc.constantFrom(IPPROTO_TCP, IPPROTO_UDP), (host, sport, proto) => {
      const state = new StateTables();
      const src = formatIp(0x0a000000 + host);
      const fwd = sim(post, 'post', { ...out, proto, src, sport }, state);
      const tp = fwd.ctx.match.peek(Field.L4Src);
      if (formatIp(fwd.ctx.match.peekIp(Field.IpSrc)) !== T || fwd.ctx.match.peek(Field.L4Dst) !== 443) return false;
      const back = sim(pre, 'pre', { proto, src: '198.51.100.7', sport: 443, dst: T, dport: tp }, state);
      return formatIp(back.m.peekIp(Field.IpDst)) === src && back.m.peek(Field.L4Dst) === sport;
    }));
  });

  it('two connections get two ports', () => {
    const state = new StateTables();
    state.nextPort = 5000;
    sim(post, 'post', out, state);
    sim(post, 'post', { ...out, sport: 40001 }, state);
    expect(state.leased.map((l) => l.port)).toEqual([5000, 5001]);
  });

  it('passes a target port range to pickPort', () => {
    const t = chainWorld('post', [[{ kind: 'nat', nat: 'snat', targets: [snatTarget(5000, 5009)], then: 'accept' }]]);
    const state = new StateTables();
    sim(t, 'post', out, state);
    expect(state.pickCalls[0]).toMatchObject({ from: 5000, to: 5009 });
    expect(state.leased[0].port).toBeGreaterThanOrEqual(5000);
    expect(state.leased[0].port).toBeLessThanOrEqual(5009);
  });

  it('no free port in the leased blocks: NotYet(natBlock) for the target ip, nothing recorded', () => {
    const state = new StateTables();
    state.portsLeft = 0;
    const { verdict, ctx } = sim(post, 'post', out, state);
    expect(verdict).toBe('notYet');
    expect(ctx.missing).toEqual([{ kind: 'natBlock', deviceId: 'edge', ip: ip(T), portFrom: 1024, portTo: 65535 }]);
    expect(ctx.stateChanges).toEqual([]);
    expect(ctx.actions).toEqual([]);
  });

  it('every target address exhausted: an error drop (cause snatExhausted), not installed, nothing recorded', () => {
    const state = new StateTables();
    state.noPortsOn.add(ip(T));
    state.exhaustedIps.add(ip(T));
    const { verdict, ctx } = sim(post, 'post', out, state);
    expect(verdict).toBe('drop');
    expect(chainError(ctx)).toMatch(/no SNAT port free/);
    expect(chainErrorCause(ctx)).toBe('snatExhausted');
    expect(ctx.installFlow).toBe(false);
    expect(ctx.missing).toEqual([]);
    expect(ctx.stateChanges).toEqual([]);
    expect(ctx.actions).toEqual([]);
  });

  describe('with two target addresses', () => {
    const T2 = '203.0.113.11';
    const two = chainWorld('post', [[{ kind: 'nat', nat: 'snat', targets: [{ addressFrom: T, addressTo: T2, portFrom: 0, portTo: 0 }], then: 'accept' }, fromTenant], [DROP]]);
    /** The address the connection's hash picks (the one it gets when every address has ports), and the other one. */
    const order = (): [string, string] => {
      const free = new StateTables();
      sim(two, 'post', out, free);
      const first = formatIp(free.pickCalls[0].ip);
      return first === T ? [T, T2] : [T2, T];
    };

    it('an exhausted address gives way to the next one with a free port', () => {
      const [first, second] = order();
      const state = new StateTables();
      state.noPortsOn.add(ip(first));
      state.exhaustedIps.add(ip(first));
      const { verdict, ctx } = sim(two, 'post', out, state);
      expect(verdict).toBe('accept');
      expect(ctx.actions[0]).toEqual({ kind: 'setField', field: Field.IpSrc, value: ip(second) });
      expect(state.pickCalls.map((c) => formatIp(c.ip))).toEqual([first, second]);
    });

    it('an address with no free port here but blocks left to lease is waited for, not skipped', () => {
      const [first] = order();
      const state = new StateTables();
      state.noPortsOn.add(ip(first));
      const { verdict, ctx } = sim(two, 'post', out, state);
      expect(verdict).toBe('notYet');
      expect(ctx.missing).toEqual([{ kind: 'natBlock', deviceId: 'edge', ip: ip(first), portFrom: 1024, portTo: 65535 }]);
    });

    it('both exhausted: dropped', () => {
      const state = new StateTables();
      for (const a of [T, T2]) {
        state.noPortsOn.add(ip(a));
        state.exhaustedIps.add(ip(a));
      }
      const { verdict, ctx } = sim(two, 'post', out, state);
      expect(verdict).toBe('drop');
      expect(chainErrorCause(ctx)).toBe('snatExhausted');
      expect(state.pickCalls).toHaveLength(2);
    });
  });

  it("'then: continue' goes on to the next rule after translating", () => {
    const t = chainWorld('post', [[{ kind: 'nat', nat: 'snat', targets: [snatTarget()], then: 'continue' }], [DROP, { nwSrc: { value: `${T}/32` } }]]);
    expect(sim(t, 'post', out, new StateTables()).verdict).toBe('drop');
  });

  it('IPv6 packets and untranslatable protocols skip the rule with a trace line', () => {
    const t = chainWorld('post', [[{ kind: 'nat', nat: 'snat', targets: [snatTarget()], then: 'accept' }], [DROP]]);
    const v6 = sim(t, 'post', { src: '2001:db8::1', dst: '2001:db8::2' }, new StateTables());
    expect(v6.verdict).toBe('drop');
    expect(v6.ctx.actions).toEqual([]);
    expect(v6.ctx.trace.join('\n')).toMatch(/IPv6 NAT is not supported/);
    const gre = sim(t, 'post', { ...out, proto: 47 }, new StateTables());
    expect(gre.verdict).toBe('drop');
    expect(gre.ctx.actions).toEqual([]);
    expect(gre.ctx.trace.join('\n')).toMatch(/protocol 47 is not translated/);
  });

  it('a later fragment is dropped rather than leaked untranslated', () => {
    const { verdict, ctx } = sim(post, 'post', { ...out, frag: FRAG_LATER }, new StateTables());
    expect(verdict).toBe('drop');
    expect(ctx.actions).toEqual([]);
  });
});

describe('dynamic DNAT', () => {
  const backends: NatTarget[] = [
    { addressFrom: '10.0.1.1', addressTo: '10.0.1.2', portFrom: 8080, portTo: 8081 },
    { addressFrom: '10.0.2.1', addressTo: '10.0.2.2', portFrom: 8080, portTo: 8081 },
  ];
  const vip: Condition = { nwDst: { value: '198.51.100.80/32' }, tpDst: { value: { start: 80, end: 80 } } };
  const pre = chainWorld('pre', [[{ kind: 'nat', nat: 'dnat', targets: backends, then: 'accept' }, vip], [DROP]]);
  const post = chainWorld('post', [[{ kind: 'reverseNat', nat: 'dnat', then: 'accept' }], [DROP]]);
  const req = (sport: number): PacketSpec => ({ proto: IPPROTO_TCP, src: '192.0.2.50', sport, dst: '198.51.100.80', dport: 80 });

  function target(sport: number, state = new StateTables()): string {
    const { ctx } = sim(pre, 'pre', req(sport), state);
    const dst = ctx.match.peekIp(Field.IpDst);
    return `${formatIp(dst)}:${ctx.match.peek(Field.L4Dst)}`;
  }

  it('picks a target in the ranges, the same for every simulation of one connection', () => {
    fc.assert(fc.property(fc.integer({ min: 1024, max: 65535 }), (sport) => {
      const a = target(sport);
      const b = target(sport);
      return a === b && /^10\.0\.[12]\.[12]:808[01]$/.test(a);
    }));
  });

  it('spreads connections over the targets', () => {
    const seen = new Set<string>();
    for (let p = 20000; p < 20200; p++) seen.add(target(p).split(':')[0]);
    expect(seen.size).toBe(4);
  });

  it('an existing forward binding wins over the hash', () => {
    const state = new StateTables();
    const key = natKey('fwd-dnat', 'edge', readFlowTuple(packet(req(33333)))!);
    state.nat.set(key, { ip: ip('10.9.9.9'), port: 9999 });
    expect(target(33333, state)).toBe('10.9.9.9:9999');
  });

  it('the reply from the backend is translated back to the address the client used', () => {
    const state = new StateTables();
    const { ctx } = sim(pre, 'pre', req(40000), state);
    expect(ctx.stateful).toBe(true);
    const b = ctx.match.peekIp(Field.IpDst);
    const bp = ctx.match.peek(Field.L4Dst);
    const back = sim(post, 'post', { proto: IPPROTO_TCP, src: formatIp(b), sport: bp, dst: '192.0.2.50', dport: 40000 }, state);
    expect(back.verdict).toBe('accept');
    expect(back.ctx.actions).toEqual([
      { kind: 'setField', field: Field.IpSrc, value: ip('198.51.100.80') },
      { kind: 'setField', field: Field.L4Src, value: 80 },
    ]);
  });

  it('a target without ports keeps the destination port', () => {
    const t = chainWorld('pre', [[{ kind: 'nat', nat: 'dnat', targets: [{ addressFrom: '10.0.3.1', addressTo: '10.0.3.1', portFrom: 0, portTo: 0 }], then: 'accept' }]]);
    const { ctx } = sim(t, 'pre', req(40000), new StateTables());
    expect(ctx.actions).toEqual([{ kind: 'setField', field: Field.IpDst, value: ip('10.0.3.1') }]);
  });
});
