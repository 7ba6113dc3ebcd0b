// Router: ping and ARP/ND answered, routing IPv4/IPv6 by longest prefix, ECMP, next-hop rewrites,
// ARP miss, blackhole/reject routes, chain reject, and NotYet for missing objects.
import {
  ARP_OP_REPLY,
  ARP_OP_REQUEST,
  Field,
  ICMP6_DST_UNREACH,
  ICMP6_DST_UNREACH_ADDR,
  ICMP6_DST_UNREACH_ADMIN,
  ICMP6_ECHO_REPLY,
  ICMP_DEST_UNREACH,
  ICMP_ECHO_REPLY,
  ICMP_HOST_UNREACH,
  ICMP_PKT_FILTERED,
  ND_NEIGHBOR_SOLICIT,
  buildArpReply,
  buildArpRequest,
  buildNdSolicit,
  fieldBit,
} from '../../../src/agent-core/packet/index.js';
import { arpTag, deviceTag, routeTag } from '../../../src/agent-core/simulation/tags.js';
import { decode, execute, ip, ip4, ip6, mac, outputs, ping, udp } from './sim-test-kit.js';
import { GW_A, GW_B, MAC_A, MAC_B, MAC_LAN, MAC_UP, UP_PEER, fromUplink, routed } from './router-fixtures.js';

describe('router: answers for itself', () => {
  it('answers a ping to its port address out of the ingress port, addresses swapped', () => {
    const w = routed();
    const r = w.run(ping({ srcMac: UP_PEER, dstMac: MAC_UP, src: '192.0.2.99', dst: '192.0.2.1', id: 42, seq: 3 }), 'rp-up');
    expect(r.outcome.kind).toBe('consumed');
    expect(r.installFlow).toBe(false);
    expect(r.generated).toHaveLength(1);
    expect(r.generated[0].egressPortId).toBe('rp-up');
    const d = decode(r.generated[0].frame);
    expect(d.eth).toMatchObject({ src: MAC_UP, dst: UP_PEER });
    expect(d.ip4).toMatchObject({ src: ip4('192.0.2.1'), dst: ip4('192.0.2.99') });
    expect(d.l4).toMatchObject({ kind: 'icmp4', type: ICMP_ECHO_REPLY, rest: (42 << 16) | 3 });
  });

  it('answers a ping to the address of another of its ports, and an IPv6 ping', () => {
    const w = routed();
    const r = w.run(ping({ srcMac: UP_PEER, dstMac: MAC_UP, src: '192.0.2.99', dst: '10.0.0.1' }), 'rp-up');
    expect(decode(r.generated[0].frame).ip4).toMatchObject({ src: ip4('10.0.0.1') });
    const r6 = w.run(ping({ srcMac: UP_PEER, dstMac: MAC_UP, src: '2001:db8:f::99', dst: '2001:db8:f::1' }), 'rp-up');
    const d6 = decode(r6.generated[0].frame);
    expect(d6.ip6).toMatchObject({ src: ip6('2001:db8:f::1'), dst: ip6('2001:db8:f::99') });
    expect(d6.l4).toMatchObject({ kind: 'icmp6', type: ICMP6_ECHO_REPLY });
  });

  it('answers a ping from a VM behind a bridge, and the reply walks back to the VM', () => {
    const w = routed();
    const r = w.run(ping({ srcMac: mac('0a:00:00:00:00:01'), dstMac: MAC_LAN, src: '10.0.0.11', dst: '10.0.0.1' }), 'p1');
    expect(r.outcome.kind).toBe('consumed');
    expect(r.generated[0].egressPortId).toBe('rp-lan');
    w.apply(r.stateChanges);
    const back = w.runGenerated(r.generated[0].frame, 'rp-lan');
    expect(back.outcome.kind).toBe('forward');
    expect(outputs(back)).toEqual(['p1']);
    expect(back.installFlow).toBe(false);
  });

  it('drops other traffic to its addresses', () => {
    const w = routed();
    const r = w.run(fromUplink({ dst: '192.0.2.1' }), 'rp-up');
    expect(r.outcome).toMatchObject({ kind: 'drop', error: false });
    expect(r.generated).toEqual([]);
  });

  it('answers ARP for its port address and learns the sender', () => {
    const w = routed();
    const r = w.run(buildArpRequest(UP_PEER, ip4('192.0.2.77'), ip4('192.0.2.1')), 'rp-up');
    expect(r.outcome.kind).toBe('consumed');
    expect(r.stateChanges).toEqual([{ kind: 'arpLearned', routerId: 'r1', ip: ip('192.0.2.77'), mac: UP_PEER }]);
    const d = decode(r.generated[0].frame);
    expect(d.arp).toMatchObject({ op: ARP_OP_REPLY, sha: MAC_UP, spa: ip4('192.0.2.1'), tha: UP_PEER, tpa: ip4('192.0.2.77') });
    // Not for an address of another port, nor for one it does not own.
    expect(w.run(buildArpRequest(UP_PEER, ip4('192.0.2.77'), ip4('198.51.100.1')), 'rp-up').outcome.kind).toBe('drop');
    expect(w.run(buildArpRequest(UP_PEER, ip4('192.0.2.77'), ip4('192.0.2.2')), 'rp-up').outcome.kind).toBe('drop');
  });

  it('learns from an ARP reply addressed to it, and only when new or changed', () => {
    const w = routed();
    const r = w.run(buildArpReply(mac('0c:00:00:00:00:77'), ip4('192.0.2.77'), MAC_UP, ip4('192.0.2.1')), 'rp-up');
    expect(r.outcome.kind).toBe('consumed');
    expect(r.stateChanges).toEqual([{ kind: 'arpLearned', routerId: 'r1', ip: ip('192.0.2.77'), mac: mac('0c:00:00:00:00:77') }]);
    w.apply(r.stateChanges);
    expect(w.run(buildArpReply(mac('0c:00:00:00:00:77'), ip4('192.0.2.77'), MAC_UP, ip4('192.0.2.1')), 'rp-up').stateChanges).toEqual([]);
  });

  it('answers a neighbour solicitation for its IPv6 port address', () => {
    const w = routed();
    const r = w.run(buildNdSolicit(UP_PEER, ip6('2001:db8:f::99'), ip6('2001:db8:f::1')), 'rp-up');
    expect(r.outcome.kind).toBe('consumed');
    expect(r.stateChanges).toEqual([{ kind: 'arpLearned', routerId: 'r1', ip: ip('2001:db8:f::99'), mac: UP_PEER }]);
    const d = decode(r.generated[0].frame);
    expect(d.eth).toMatchObject({ src: MAC_UP, dst: UP_PEER });
    expect(d.ip6).toMatchObject({ src: ip6('2001:db8:f::1'), dst: ip6('2001:db8:f::99') });
  });
});

describe('router: forwarding', () => {
  it('routes IPv4 by longest prefix and rewrites MACs and TTL for the next hop', () => {
    const w = routed();
    const frame = fromUplink({ dst: '10.1.2.5', ttl: 64 });
    const r = w.run(frame, 'rp-up');
    expect(r.outcome.kind).toBe('forward');
    expect(r.installFlow).toBe(true);
    expect(outputs(r)).toEqual(['rp-b']);
    expect(r.tags).toEqual(expect.arrayContaining([deviceTag('r1'), routeTag('r1'), arpTag('r1', ip('203.0.113.254'))]));
    const [sent] = execute(frame, r.actions);
    const d = decode(sent.frame);
    expect(d.eth).toMatchObject({ src: MAC_B, dst: GW_B });
    expect(d.ip4).toMatchObject({ ttl: 63, src: ip4('192.0.2.99'), dst: ip4('10.1.2.5') });
    expect(outputs(w.run(fromUplink({ dst: '10.1.3.5' }), 'rp-up'))).toEqual(['rp-a']);
    expect(outputs(w.run(udp({ srcMac: GW_A, dstMac: MAC_A, src: '10.1.3.5', dst: '8.8.8.8' }), 'rp-a'))).toEqual(['rp-up']);
  });

  it('routes IPv6 by longest prefix and decrements the hop limit', () => {
    const w = routed();
    const frame = fromUplink({ dst: '2001:db8:100:5::9' });
    const r = w.run(frame, 'rp-up');
    expect(outputs(r)).toEqual(['rp-b']);
    const d = decode(execute(frame, r.actions)[0].frame);
    expect(d.eth).toMatchObject({ src: MAC_B, dst: GW_B });
    expect(d.ip6).toMatchObject({ hopLimit: 63 });
    expect(outputs(w.run(fromUplink({ dst: '2001:db8:100:6::9' }), 'rp-up'))).toEqual(['rp-a']);
  });

  it('delivers on-link destinations to their own MAC through the connected route', () => {
    const w = routed();
    w.setArp('r1', ip('10.0.0.11'), mac('0a:00:00:00:00:01'));
    const frame = fromUplink({ dst: '10.0.0.11' });
    const r = w.run(frame, 'rp-up');
    // Through rp-lan into the bridge, which floods the not yet learned VM MAC to its VM port.
    expect(outputs(r)).toEqual(['p1']);
    expect(decode(execute(frame, r.actions)[0].frame).eth).toMatchObject({ src: MAC_LAN, dst: mac('0a:00:00:00:00:01') });
  });

  it('reads the destination but not the source ports for a plain route', () => {
    const w = routed();
    const r = w.run(fromUplink({ dst: '10.1.2.5' }), 'rp-up');
    expect(r.match.seen & fieldBit(Field.IpDst)).not.toBe(0);
    expect(r.match.seen & fieldBit(Field.L4Src)).toBe(0);
    expect(r.match.seen & fieldBit(Field.IpSrc)).toBe(0);
  });

  it('spreads an ECMP group by connection hash, stable per connection', () => {
    const w = routed();
    w.topo.putAll([
      { type: 'route', id: 'e1', routerId: 'r1', dst: '172.16.0.0/12', nextHop: 'port', egressPortId: 'rp-a', gateway: '198.51.100.254', weight: 0, origin: 'bgp' },
      { type: 'route', id: 'e2', routerId: 'r1', dst: '172.16.0.0/12', nextHop: 'port', egressPortId: 'rp-b', gateway: '203.0.113.254', weight: 0, origin: 'bgp' },
    ]);
    const count = new Map<string, number>();
    for (let sport = 1000; sport < 1200; sport++) {
      const r = w.run(fromUplink({ dst: '172.16.5.5', sport }), 'rp-up');
      const [out] = outputs(r);
      count.set(out, (count.get(out) ?? 0) + 1);
      expect(outputs(w.run(fromUplink({ dst: '172.16.5.5', sport }), 'rp-up'))).toEqual([out]);
      expect(r.match.seen & fieldBit(Field.L4Src)).not.toBe(0);
    }
    expect([...count.keys()].sort()).toEqual(['rp-a', 'rp-b']);
    expect(Math.min(...count.values())).toBeGreaterThan(50);
  });

  it('drops silently on a blackhole route and installs the drop', () => {
    const w = routed();
    w.topo.put({ type: 'route', id: 'bh', routerId: 'r1', dst: '10.66.0.0/16', nextHop: 'blackhole', weight: 0, origin: 'static' });
    const r = w.run(fromUplink({ dst: '10.66.1.1' }), 'rp-up');
    expect(r.outcome).toMatchObject({ kind: 'drop', error: false });
    expect(r.generated).toEqual([]);
    expect(r.installFlow).toBe(true);
  });

  it('answers host unreachable for a reject route', () => {
    const w = routed();
    w.topo.put({ type: 'route', id: 'rej', routerId: 'r1', dst: '10.66.0.0/16', nextHop: 'reject', weight: 0, origin: 'static' });
    const r = w.run(fromUplink({ dst: '10.66.1.1' }), 'rp-up');
    expect(r.outcome).toMatchObject({ kind: 'drop', error: true });
    expect(r.installFlow).toBe(false);
    expect(r.expiry).toBe('drop');
    expect(decode(r.generated[0].frame).l4).toMatchObject({ type: ICMP_DEST_UNREACH, code: ICMP_HOST_UNREACH });
  });

  it('answers ICMPv6 address unreachable for an IPv6 reject route', () => {
    const w = routed();
    w.topo.put({ type: 'route', id: 'rej6', routerId: 'r1', dst: '2001:db8:66::/48', nextHop: 'reject', weight: 0, origin: 'static' });
    const r = w.run(fromUplink({ dst: '2001:db8:66::1' }), 'rp-up');
    expect(r.outcome).toMatchObject({ kind: 'drop', error: true });
    expect(r.installFlow).toBe(false);
    expect(r.generated[0].egressPortId).toBe('rp-up');
    const d = decode(r.generated[0].frame);
    expect(d.ip6).toMatchObject({ src: ip6('2001:db8:f::1'), dst: ip6('2001:db8:f::99') });
    expect(d.l4).toMatchObject({ kind: 'icmp6', type: ICMP6_DST_UNREACH, code: ICMP6_DST_UNREACH_ADDR });
  });

  it('answers administratively prohibited when the pre-routing chain rejects', () => {
    const w = routed();
    const chain = w.b.chain([{ kind: 'literal', action: 'reject', condition: { nwDst: { value: '10.1.0.0/16' } } }]);
    w.b.replace({ ...w.b.get('router', 'r1')!, preRoutingChainId: chain.id });
    w.done();
    w.setArp('r1', ip('203.0.113.254'), GW_B);
    const r = w.run(fromUplink({ dst: '10.1.2.5' }), 'rp-up');
    expect(r.generated[0].egressPortId).toBe('rp-up');
    expect(decode(r.generated[0].frame).l4).toMatchObject({ type: ICMP_DEST_UNREACH, code: ICMP_PKT_FILTERED });
    const chain6 = w.b.chain([{ kind: 'literal', action: 'reject', condition: {} }]);
    w.b.replace({ ...w.b.get('router', 'r1')!, preRoutingChainId: chain6.id });
    w.done();
    const r6 = w.run(fromUplink({ dst: '2001:db8:100:5::9' }), 'rp-up');
    expect(decode(r6.generated[0].frame).l4).toMatchObject({ type: ICMP6_DST_UNREACH, code: ICMP6_DST_UNREACH_ADMIN });
  });

  it('drops frames not addressed to the port MAC, and at an admin-down port', () => {
    const w = routed();
    const r = w.run(udp({ srcMac: UP_PEER, dstMac: MAC_A, src: '192.0.2.99', dst: '10.1.2.5' }), 'rp-up');
    expect(r.outcome).toMatchObject({ kind: 'drop', error: false });
    w.topo.put({ ...w.topo.port('rp-b')!, adminStateUp: false });
    expect(w.run(fromUplink({ dst: '10.1.2.5' }), 'rp-up').outcome).toMatchObject({ kind: 'drop', reason: expect.stringContaining('rp-b') });
  });
});

describe('router: next hop resolution', () => {
  it('on an ARP miss emits an ARP request out of the egress port and answers NotYet', () => {
    const w = routed({ arp: false });
    const r = w.run(fromUplink({ dst: '10.1.2.5' }), 'rp-up');
    expect(r.outcome).toEqual({ kind: 'notYet', missing: [{ kind: 'arp', routerId: 'r1', ip: ip('203.0.113.254') }] });
    expect(r.installFlow).toBe(false);
    expect(r.generated).toHaveLength(1);
    expect(r.generated[0].egressPortId).toBe('rp-b');
    const d = decode(r.generated[0].frame);
    expect(d.arp).toMatchObject({ op: ARP_OP_REQUEST, sha: MAC_B, spa: ip4('203.0.113.1'), tpa: ip4('203.0.113.254') });
  });

  it('resolves an on-link destination itself; its ARP request is flooded on the LAN', () => {
    const w = routed();
    const r = w.run(fromUplink({ dst: '10.0.0.11' }), 'rp-up');
    expect(r.outcome).toEqual({ kind: 'notYet', missing: [{ kind: 'arp', routerId: 'r1', ip: ip('10.0.0.11') }] });
    expect(r.generated[0].egressPortId).toBe('rp-lan');
    const out = w.runGenerated(r.generated[0].frame, 'rp-lan');
    expect(out.outcome.kind).toBe('forward');
    expect(outputs(out)).toEqual(['p1']);
    expect(out.installFlow).toBe(false);
    expect(decode(execute(r.generated[0].frame, out.actions)[0].frame).arp).toMatchObject({ op: ARP_OP_REQUEST, spa: ip4('10.0.0.1'), tpa: ip4('10.0.0.11') });
  });

  it('on an IPv6 neighbour miss emits a neighbour solicitation', () => {
    const w = routed({ arp: false });
    const r = w.run(fromUplink({ dst: '2001:db8:100:5::9' }), 'rp-up');
    expect(r.outcome).toEqual({ kind: 'notYet', missing: [{ kind: 'arp', routerId: 'r1', ip: ip('2001:db8:b::fe') }] });
    const d = decode(r.generated[0].frame);
    expect(d.ip6).toMatchObject({ src: ip6('2001:db8:b::1') });
    expect(d.l4).toMatchObject({ kind: 'icmp6', type: ND_NEIGHBOR_SOLICIT });
  });
});

describe('router: missing objects', () => {
  it('answers NotYet naming a missing router', () => {
    const w = routed();
    w.topo.delete('router', 'r1');
    const r = w.run(fromUplink({ dst: '10.1.2.5' }), 'rp-up');
    expect(r.outcome).toEqual({ kind: 'notYet', missing: [{ kind: 'device', objectType: 'router', id: 'r1' }] });
  });

  it('answers NotYet naming a missing egress port', () => {
    const w = routed();
    w.topo.delete('port', 'rp-b');
    const r = w.run(fromUplink({ dst: '10.1.2.5' }), 'rp-up');
    expect(r.outcome).toEqual({ kind: 'notYet', missing: [{ kind: 'device', objectType: 'port', id: 'rp-b' }] });
  });

  it('answers NotYet naming a missing chain', () => {
    const w = routed();
    w.topo.put({ ...w.topo.router('r1')!, postRoutingChainId: 'no-such-chain' });
    const r = w.run(fromUplink({ dst: '10.1.2.5' }), 'rp-up');
    expect(r.outcome).toEqual({ kind: 'notYet', missing: [{ kind: 'device', objectType: 'chain', id: 'no-such-chain' }] });
  });
});
