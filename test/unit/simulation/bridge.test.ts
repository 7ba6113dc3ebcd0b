// Bridge: MAC learning, unicast, flooding, ARP/ND answered by the bridge, NotYet, megaflow generality.
import { maskedKeyEquals } from '../../../src/agent-core/flows/mask.js';
import {
  ARP_OP_REPLY,
  FIELD_OFFSET,
  Field,
  MAC_BROADCAST,
  ND_NEIGHBOR_ADVERT,
  VLAN_NONE,
  buildArpRequest,
  buildNdSolicit,
  fieldBit,
} from '../../../src/agent-core/packet/index.js';
import { deviceTag, macTag } from '../../../src/agent-core/simulation/tags.js';
import { VM1, VM2, VM3, World, decode, ip4, ip6, mac, outputs, udp } from './sim-test-kit.js';

function lan(): World & { bp: string } {
  const w = new World();
  w.b.bridge({ id: 'b1', arpEntries: [{ ip: '10.0.0.20', mac: '0a:00:00:00:00:14' }, { ip: '2001:db8::20', mac: '0a:00:00:00:00:14' }] });
  w.b.vmPort('b1', 'h1', 'tap1', { id: 'p1' });
  w.b.vmPort('b1', 'h2', 'tap2', { id: 'p2' });
  w.b.vmPort('b1', 'h3', 'tap3', { id: 'p3' });
  w.b.router({ id: 'r1' });
  const { bridgePort } = w.b.connect('r1', 'b1', ['10.0.0.1/24', '2001:db8::1/64'], { id: 'rp1', mac: '02:00:00:00:00:01' });
  return Object.assign(w.done(), { bp: bridgePort.id });
}

const frame12 = (src = '10.0.0.11') => udp({ srcMac: VM1, dstMac: VM2, src, dst: '10.0.0.12' });

describe('bridge: MAC learning', () => {
  it('learns a new source MAC on the ingress port as a state change', () => {
    const w = lan();
    const r = w.run(frame12(), 'p1');
    expect(r.stateChanges).toEqual([{ kind: 'macLearned', bridgeId: 'b1', vlanId: VLAN_NONE, mac: VM1, portId: 'p1' }]);
    expect(r.tags).toContain(macTag('b1', VLAN_NONE, VM1));
  });

  it('does not learn again a MAC already on that port, and learns a move', () => {
    const w = lan();
    w.learnMac('b1', VLAN_NONE, VM1, 'p1');
    expect(w.run(frame12(), 'p1').stateChanges).toEqual([]);
    const moved = w.run(frame12(), 'p3');
    expect(moved.stateChanges).toEqual([{ kind: 'macLearned', bridgeId: 'b1', vlanId: VLAN_NONE, mac: VM1, portId: 'p3' }]);
  });

  it('never learns a multicast source', () => {
    const w = lan();
    const r = w.run(udp({ srcMac: mac('03:00:00:00:00:01'), dstMac: VM2, src: '10.0.0.11', dst: '10.0.0.12' }), 'p1');
    expect(r.stateChanges).toEqual([]);
  });

  it('answers NotYet naming the MAC table when it is not loaded', () => {
    const w = lan();
    w.unloadedMacTables.add('b1');
    const r = w.run(frame12(), 'p1');
    expect(r.outcome).toEqual({ kind: 'notYet', missing: [{ kind: 'macTable', bridgeId: 'b1', vlanId: VLAN_NONE }] });
    expect(r.installFlow).toBe(false);
  });
});

describe('bridge: forwarding', () => {
  it('sends unicast to the learned port only', () => {
    const w = lan();
    w.learnMac('b1', VLAN_NONE, VM2, 'p2');
    const r = w.run(frame12(), 'p1');
    expect(r.outcome.kind).toBe('forward');
    expect(r.actions).toEqual([{ kind: 'output', portId: 'p2' }]);
    expect(r.installFlow).toBe(true);
    expect(r.expiry).toBe('normal');
    expect(r.tags).toEqual(expect.arrayContaining([deviceTag('p1'), deviceTag('b1'), deviceTag('p2'), macTag('b1', VLAN_NONE, VM2)]));
  });

  it('floods an unknown unicast to every port but the ingress, tagged with the missing entry', () => {
    const w = lan();
    const r = w.run(frame12(), 'p1');
    expect(outputs(r).sort()).toEqual(['p2', 'p3']);
    expect(r.tags).toContain(macTag('b1', VLAN_NONE, VM2));
    // The flood copy into the router is dropped there (not addressed to it): it leaves no output.
    expect(r.tags).toContain(deviceTag('r1'));
  });

  it('floods a broadcast that nobody answers', () => {
    const w = lan();
    const r = w.run(udp({ srcMac: VM1, dstMac: MAC_BROADCAST, src: '10.0.0.11', dst: '255.255.255.255' }), 'p2');
    expect(outputs(r).sort()).toEqual(['p1', 'p3']);
  });

  it('sends frames for a router port MAC to the router even before the MAC is learned', () => {
    const w = lan();
    w.setArp('r1', ip4('10.0.0.12'), VM2);
    const r = w.run(udp({ srcMac: VM1, dstMac: mac('02:00:00:00:00:01'), src: '10.0.0.11', dst: '10.0.0.12' }), 'p1');
    // Routed back onto the same subnet (hairpin through the router): one output, no flood.
    expect(r.tags).toContain(deviceTag('r1'));
    expect(r.actions.filter((a) => a.kind === 'decTtl')).toHaveLength(1);
  });

  it('drops a frame whose destination is learned on the ingress port', () => {
    const w = lan();
    w.learnMac('b1', VLAN_NONE, VM2, 'p1');
    const r = w.run(frame12(), 'p1');
    expect(r.outcome).toMatchObject({ kind: 'drop', error: false });
    expect(r.actions).toEqual([]);
  });

  it('reads only L2 fields for an L2 flow: frames differing in IP source share the masked key', () => {
    const w = lan();
    w.learnMac('b1', VLAN_NONE, VM2, 'p2');
    w.learnMac('b1', VLAN_NONE, VM1, 'p1');
    const a = w.run(frame12('10.0.0.11'), 'p1');
    const b = w.run(frame12('10.0.0.99'), 'p1');
    expect(a.match.seen).toBe(b.match.seen);
    for (const f of [Field.IpSrc, Field.IpDst, Field.IpProto, Field.L4Src, Field.L4Dst, Field.EthType]) {
      expect(a.match.seen & fieldBit(f)).toBe(0);
    }
    expect(a.match.orig[FIELD_OFFSET[Field.IpSrc]]).not.toBe(b.match.orig[FIELD_OFFSET[Field.IpSrc]]);
    expect(maskedKeyEquals(a.match.orig, b.match.orig, a.match.seen)).toBe(true);
  });
});

describe('bridge: admin state', () => {
  it('drops at an admin-down ingress port', () => {
    const w = lan();
    w.topo.put({ ...w.topo.port('p1')!, adminStateUp: false });
    const r = w.run(frame12(), 'p1');
    expect(r.outcome).toMatchObject({ kind: 'drop', reason: expect.stringContaining('p1') });
    expect(r.tags).toContain(deviceTag('p1'));
  });

  it('leaves an admin-down port out of a flood and drops unicast to it', () => {
    const w = lan();
    w.topo.put({ ...w.topo.port('p3')!, adminStateUp: false });
    expect(outputs(w.run(frame12(), 'p1'))).toEqual(['p2']);
    w.learnMac('b1', VLAN_NONE, VM3, 'p3');
    const r = w.run(udp({ srcMac: VM1, dstMac: VM3, src: '10.0.0.11', dst: '10.0.0.13' }), 'p1');
    expect(r.outcome.kind).toBe('drop');
  });

  it('drops everything at an admin-down bridge', () => {
    const w = lan();
    w.topo.put({ ...w.topo.bridge('b1')!, adminStateUp: false });
    expect(w.run(frame12(), 'p1').outcome).toMatchObject({ kind: 'drop', reason: expect.stringContaining('b1') });
  });
});

describe('bridge: ARP and ND answered by the bridge', () => {
  it('answers a broadcast ARP request from its static entries out of the ingress port', () => {
    const w = lan();
    const r = w.run(buildArpRequest(VM1, ip4('10.0.0.11'), ip4('10.0.0.20')), 'p1');
    expect(r.outcome.kind).toBe('consumed');
    expect(r.actions).toEqual([]);
    expect(r.installFlow).toBe(false);
    expect(r.generated).toHaveLength(1);
    expect(r.generated[0].egressPortId).toBe('p1');
    const d = decode(r.generated[0].frame);
    expect(d.eth).toMatchObject({ src: mac('0a:00:00:00:00:14'), dst: VM1 });
    expect(d.arp).toMatchObject({ op: ARP_OP_REPLY, sha: mac('0a:00:00:00:00:14'), spa: ip4('10.0.0.20'), tha: VM1, tpa: ip4('10.0.0.11') });
  });

  it('answers ARP for the address of a router port peered with it, with the router port MAC', () => {
    const w = lan();
    const r = w.run(buildArpRequest(VM1, ip4('10.0.0.11'), ip4('10.0.0.1')), 'p1');
    expect(r.outcome.kind).toBe('consumed');
    expect(decode(r.generated[0].frame).arp).toMatchObject({ sha: mac('02:00:00:00:00:01'), spa: ip4('10.0.0.1') });
  });

  it('floods an ARP request for an address it does not know', () => {
    const w = lan();
    const r = w.run(buildArpRequest(VM1, ip4('10.0.0.11'), ip4('10.0.0.12')), 'p1');
    expect(r.generated).toEqual([]);
    expect(outputs(r).sort()).toEqual(['p2', 'p3']);
  });

  it('answers a neighbour solicitation for a static IPv6 entry and for the router port', () => {
    const w = lan();
    const r = w.run(buildNdSolicit(VM1, ip6('2001:db8::11'), ip6('2001:db8::20')), 'p1');
    expect(r.outcome.kind).toBe('consumed');
    const d = decode(r.generated[0].frame);
    expect(d.eth.dst).toBe(VM1);
    expect(d.ip6).toMatchObject({ src: ip6('2001:db8::20'), dst: ip6('2001:db8::11') });
    expect(d.l4).toMatchObject({ kind: 'icmp6', type: ND_NEIGHBOR_ADVERT });

    const toRouter = w.run(buildNdSolicit(VM1, ip6('2001:db8::11'), ip6('2001:db8::1')), 'p1');
    expect(decode(toRouter.generated[0].frame).eth.src).toBe(mac('02:00:00:00:00:01'));
  });

  it('leaves duplicate address detection (source ::) unanswered', () => {
    const w = lan();
    const r = w.run(buildNdSolicit(VM1, 0n, ip6('2001:db8::20')), 'p1');
    expect(r.generated).toEqual([]);
    expect(r.outcome.kind).toBe('forward');
  });
});

describe('bridge: missing objects', () => {
  it('answers NotYet naming a missing ingress port', () => {
    const w = lan();
    const r = w.run(frame12(), 'nope');
    expect(r.outcome).toEqual({ kind: 'notYet', missing: [{ kind: 'device', objectType: 'port', id: 'nope' }] });
  });

  it('answers NotYet naming a missing bridge', () => {
    const w = lan();
    w.topo.delete('bridge', 'b1');
    const r = w.run(frame12(), 'p1');
    expect(r.outcome).toEqual({ kind: 'notYet', missing: [{ kind: 'device', objectType: 'bridge', id: 'b1' }] });
  });

  it('answers NotYet naming the peer device that is not loaded', () => {
    const w = lan();
    w.learnMac('b1', VLAN_NONE, mac('02:00:00:00:00:01'), w.bp);
    w.topo.delete('router', 'r1');
    const r = w.run(udp({ srcMac: VM1, dstMac: mac('02:00:00:00:00:01'), src: '10.0.0.11', dst: '192.0.2.1' }), 'p1');
    expect(r.outcome).toEqual({ kind: 'notYet', missing: [{ kind: 'device', objectType: 'router', id: 'r1' }] });
  });
});
