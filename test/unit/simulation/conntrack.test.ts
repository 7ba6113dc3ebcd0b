// Connection tracking: forward flows record their key, replies are recognised once it exists, per
// device and per simulation; ICMP echo, IPv6, ICMP errors, non-IP and fragments; a stateful chain.
import fc from 'fast-check';
import { formatIp4 } from '../../../src/agent-core/packet/addr.js';
import {
  ETHERTYPE_ARP, FRAG_LATER, Field, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, fieldBit,
} from '../../../src/agent-core/packet/flow-match.js';
import { evaluateChain } from '../../../src/agent-core/simulation/chains.js';
import { connState } from '../../../src/agent-core/simulation/conntrack.js';
import { conntrackKey, readFlowTuple } from '../../../src/agent-core/simulation/state-keys.js';
import { InMemoryTopology } from '../../../src/agent-core/topology/in-memory-topology.js';
import { type PacketSpec, StateTables, chainWorld, context, icmp4ErrorFrame, packet } from './chain-test-kit.js';

const empty = new InMemoryTopology();
const out: PacketSpec = { proto: IPPROTO_TCP, src: '10.0.0.1', sport: 40000, dst: '198.51.100.7', dport: 443 };
const reply: PacketSpec = { proto: IPPROTO_TCP, src: '198.51.100.7', sport: 443, dst: '10.0.0.1', dport: 40000 };

function ask(state: StateTables, spec: PacketSpec, device = 'router-1', frame?: Uint8Array) {
  const ctx = context(empty, packet(spec), { state, frame });
  const s = connState(ctx, device);
  state.apply(ctx.stateChanges);
  return { s, ctx };
}

describe('connState', () => {
  it('the first packet is a forward flow and records its key', () => {
    const state = new StateTables();
    const { s, ctx } = ask(state, out);
    expect(s).toBe('forward');
    const key = 'router-1:6:167772161:40000:3325256711:443';
    expect(ctx.stateChanges).toEqual([{ kind: 'conntrack', key }]);
    expect(ctx.stateful).toBe(true);
    expect(ctx.tags.includes(`ct:${key}`)).toBe(true);
  });

  it('the key is derivable from the packet alone', () => {
    const { ctx } = ask(new StateTables(), out);
    const t = readFlowTuple(packet(out));
    expect(t).toBeDefined();
    expect(ctx.stateChanges[0]).toEqual({ kind: 'conntrack', key: conntrackKey('router-1', t!) });
  });

  it('the reply is a return flow once the key exists, tagged with the same key', () => {
    const state = new StateTables();
    expect(ask(state, reply).s).toBe('forward');
    const fresh = new StateTables();
    const fwd = ask(fresh, out);
    const back = ask(fresh, reply);
    expect(back.s).toBe('return');
    expect(back.ctx.stateChanges).toEqual([]);
    expect(back.ctx.stateful).toBe(false);
    // The return flow carries the forward key's tag; the forward flow also carries the reply key's.
    expect(back.ctx.tags.length).toBe(1);
    expect([...fwd.ctx.tags]).toEqual(expect.arrayContaining([...back.ctx.tags]));
  });

  it('a packet whose tuple reads the same both ways (a LAND packet) never becomes its own reply', () => {
    // src = dst and sport = dport: its forward key is its reply-direction key too. Its copies are the
    // same direction (as Linux conntrack matches the original tuple first), so a stateful firewall
    // admitting only returns must not admit them.
    const land: PacketSpec = { proto: IPPROTO_TCP, src: '198.51.100.7', sport: 139, dst: '198.51.100.7', dport: 139 };
    const state = new StateTables();
    expect(ask(state, land).s).toBe('forward');
    const again = ask(state, land);
    expect(again.s).toBe('forward');
    // Not tagged twice with its one key either.
    expect(again.ctx.tags.filter((t) => t.startsWith('ct:'))).toHaveLength(1);
  });

  it('a later packet of the forward direction stays forward and refreshes its key', () => {
    const state = new StateTables();
    ask(state, out);
    const again = ask(state, out);
    expect(again.s).toBe('forward');
    expect(again.ctx.stateChanges).toHaveLength(1);
  });

  it('keys are per device: the reply at another device is not a return flow', () => {
    const state = new StateTables();
    ask(state, out, 'router-1');
    expect(ask(state, reply, 'router-2').s).toBe('forward');
  });

  it('other ports or addresses are other connections', () => {
    const state = new StateTables();
    ask(state, out);
    expect(ask(state, { ...reply, sport: 444 }).s).toBe('forward');
    expect(ask(state, { ...reply, proto: IPPROTO_UDP }).s).toBe('forward');
    expect(ask(state, { ...reply, src: '198.51.100.8' }).s).toBe('forward');
  });

  it('is asked once per simulation and device', () => {
    const ctx = context(empty, packet(out));
    expect(connState(ctx, 'r1')).toBe('forward');
    expect(connState(ctx, 'r1')).toBe('forward');
    expect(connState(ctx, 'r2')).toBe('forward');
    expect(ctx.stateChanges.map((c) => (c.kind === 'conntrack' ? c.key.split(':')[0] : ''))).toEqual(['r1', 'r2']);
  });

  it('reads the 5-tuple into the megaflow', () => {
    const m = packet(out);
    connState(context(empty, m), 'r1');
    const want = [Field.EthType, Field.IpProto, Field.IpSrc, Field.IpDst, Field.L4Src, Field.L4Dst, Field.IpFrag];
    for (const f of want) expect(m.seen & fieldBit(f)).not.toBe(0);
  });

  it('ICMP echo is tracked by its id', () => {
    const state = new StateTables();
    const req: PacketSpec = { proto: IPPROTO_ICMP, src: '10.0.0.1', dst: '192.0.2.1', sport: 8, dport: 0, icmpId: 77 };
    const rep: PacketSpec = { proto: IPPROTO_ICMP, src: '192.0.2.1', dst: '10.0.0.1', sport: 0, dport: 0, icmpId: 77 };
    expect(ask(state, req).s).toBe('forward');
    expect(ask(state, rep).s).toBe('return');
    expect(ask(state, { ...rep, icmpId: 78 }).s).toBe('forward');
  });

  it('IPv6 connections are tracked too', () => {
    const state = new StateTables();
    const o6: PacketSpec = { proto: IPPROTO_UDP, src: '2001:db8::1', sport: 5000, dst: '2001:db8:1::53', dport: 53 };
    const r6: PacketSpec = { proto: IPPROTO_UDP, src: '2001:db8:1::53', sport: 53, dst: '2001:db8::1', dport: 5000 };
    const f = ask(state, o6);
    expect(f.s).toBe('forward');
    expect(f.ctx.stateChanges).toEqual([{ kind: 'conntrack', key: 'router-1:17:x20010db8000000000000000000000001:5000:x20010db8000100000000000000000053:53' }]);
    expect(ask(state, r6).s).toBe('return');
    const echo6: PacketSpec = { proto: IPPROTO_ICMPV6, src: '2001:db8::1', dst: '2001:db8::2', sport: 128, icmpId: 5 };
    expect(ask(state, echo6).s).toBe('forward');
    expect(ask(state, { ...echo6, src: '2001:db8::2', dst: '2001:db8::1', sport: 129 }).s).toBe('return');
  });

  it('non-IP packets and later fragments are forward flows without state', () => {
    const state = new StateTables();
    const arp = ask(state, { ethType: ETHERTYPE_ARP, proto: 1 });
    expect(arp.s).toBe('forward');
    expect(arp.ctx.stateChanges).toEqual([]);
    const frag = ask(state, { ...out, frag: FRAG_LATER });
    expect(frag.s).toBe('forward');
    expect(frag.ctx.stateChanges).toEqual([]);
  });

  it('an ICMP error about a tracked datagram is a return flow, and not installed', () => {
    const state = new StateTables();
    ask(state, out);
    const frame = icmp4ErrorFrame(3, 3, '203.0.113.1', '10.0.0.1', { proto: IPPROTO_TCP, src: '10.0.0.1', sport: 40000, dst: '198.51.100.7', dport: 443 });
    const err: PacketSpec = { proto: IPPROTO_ICMP, src: '203.0.113.1', dst: '10.0.0.1', sport: 3, dport: 3 };
    const related = ask(state, err, 'router-1', frame);
    expect(related.s).toBe('return');
    expect(related.ctx.installFlow).toBe(false);
    const other = icmp4ErrorFrame(3, 3, '203.0.113.1', '10.0.0.1', { proto: IPPROTO_TCP, src: '10.0.0.1', sport: 40001, dst: '198.51.100.7', dport: 443 });
    const unrelated = ask(state, err, 'router-1', other);
    expect(unrelated.s).toBe('forward');
    expect(unrelated.ctx.stateChanges).toEqual([]);
  });
});

describe('connState properties', () => {
  const endpoint = fc.record({ ip: fc.integer({ min: 1, max: 0xfffffffe }).map(formatIp4), port: fc.integer({ min: 1, max: 65535 }) });
  it('after a forward packet, exactly its reply is a return flow', () => {
    fc.assert(fc.property(endpoint, endpoint, fc.constantFrom(IPPROTO_TCP, IPPROTO_UDP), fc.integer({ min: 1, max: 65535 }), (a, b, proto, other) => {
      fc.pre(a.ip !== b.ip && other !== a.port);
      const state = new StateTables();
      ask(state, { proto, src: a.ip, sport: a.port, dst: b.ip, dport: b.port });
      const back = ask(state, { proto, src: b.ip, sport: b.port, dst: a.ip, dport: a.port }).s;
      const stranger = ask(state, { proto, src: b.ip, sport: b.port, dst: a.ip, dport: other }).s;
      return back === 'return' && stranger === 'forward';
    }));
  });
});

describe('a stateful firewall chain', () => {
  // Egress records connections; ingress admits only their replies. As the simulator does, state
  // recorded by a packet that ends up dropped is discarded (else the dropped unsolicited packet's
  // key would make the real connection's first packet look like a reply).
  const egress = chainWorld('egress', [[{ kind: 'literal', action: 'accept' }, { connState: 'forward' }]]);
  const ingress = chainWorld('ingress', [[{ kind: 'literal', action: 'accept' }, { connState: 'return' }], [{ kind: 'literal', action: 'drop' }]]);

  function through(topo: InMemoryTopology, id: string, state: StateTables, spec: PacketSpec) {
    const ctx = context(topo, packet(spec), { state });
    const v = evaluateChain(ctx, id, 'tenant-router');
    if (v === 'accept') state.apply(ctx.stateChanges);
    return v;
  }

  it('drops unsolicited inbound packets and admits replies of outbound connections', () => {
    const state = new StateTables();
    expect(through(ingress, 'ingress', state, reply)).toBe('drop');
    expect(through(egress, 'egress', state, out)).toBe('accept');
    expect(through(ingress, 'ingress', state, reply)).toBe('accept');
    expect(through(ingress, 'ingress', state, { ...reply, sport: 22 })).toBe('drop');
  });

  it('a whole-condition invert of connState works', () => {
    const t = chainWorld('c', [[{ kind: 'literal', action: 'drop' }, { connState: 'return', invert: true }]]);
    const state = new StateTables();
    through(egress, 'egress', state, out);
    expect(through(t, 'c', state, reply)).toBe('accept');
    expect(through(t, 'c', state, { ...reply, dport: 1 })).toBe('drop');
  });
});
