// Scenario: the floating IP (static 1:1 NAT on the tenant router) on the lab world, from an uplink
// to vm1 and back out, through the flow table (DESIGN: Virtual topology, NAT rules; Flows).
import { formatIp } from '../../../src/agent-core/packet/index.js';
import { LAB } from '../../../src/gateway/lab/lab-topology.js';
import {
  LabScenario, NET_A_GW_MAC, PEER_A_MAC, PEER_B_MAC, UPLINK_A_MAC, UPLINK_B_MAC, VM1_MAC, decodeChecked, l4Frame, portsOf,
} from './scenario-harness.js';

const REMOTE = '100.64.7.7';

const inbound = (sport = 40000) =>
  l4Frame({ srcMac: PEER_A_MAC, dstMac: UPLINK_A_MAC, src: REMOTE, dst: LAB.floatingIp, sport, dport: 53, ttl: 64 });
const reply = (dport = 40000) =>
  l4Frame({ srcMac: VM1_MAC, dstMac: NET_A_GW_MAC, src: LAB.vm1.ip, dst: REMOTE, sport: 53, dport, ttl: 64 });

function lab(): LabScenario {
  return new LabScenario().seedNeighbours().seedVmMacs();
}

describe('floating IP 203.0.113.10 -> vm1', () => {
  it('traffic from the internet on uplink-a reaches vm1 with the destination rewritten', () => {
    const s = lab();
    const d = s.send(inbound(), LAB.uplinkA.port);
    expect(d.result?.outcome).toEqual({ kind: 'forward' });
    expect(portsOf(d.outputs)).toEqual([LAB.vm1.port]);
    const f = decodeChecked(d.outputs[0].frame);
    expect(f.eth.src).toBe(NET_A_GW_MAC);
    expect(f.eth.dst).toBe(VM1_MAC);
    expect(formatIp(f.ip4!.src)).toBe(REMOTE);
    expect(formatIp(f.ip4!.dst)).toBe(LAB.vm1.ip);
    expect(f.ip4!.ttl).toBe(62); // provider and tenant each decrement once
    expect(f.l4).toMatchObject({ kind: 'udp', srcPort: 40000, dstPort: 53 });
    expect(d.result?.installFlow).toBe(true);
    expect(d.generated).toEqual([]);
  });

  it('the next packet of that flow is served by the installed flow with the same rewrite', () => {
    const s = lab();
    const first = s.send(inbound(), LAB.uplinkA.port);
    const second = s.send(inbound(), LAB.uplinkA.port);
    expect(second.path).toBe('hit');
    expect(second.flow?.id).toBe(first.flow?.id);
    expect(s.counters.simulations).toBe(1);
    expect(second.outputs.map((o) => [o.portId, [...o.frame]])).toEqual(first.outputs.map((o) => [o.portId, [...o.frame]]));
  });

  it("vm1's reply leaves through an uplink with the source rewritten to the floating IP", () => {
    const s = lab();
    s.send(inbound(), LAB.uplinkA.port);
    const d = s.send(reply(), LAB.vm1.port);
    expect(d.result?.outcome).toEqual({ kind: 'forward' });
    expect(d.outputs).toHaveLength(1);
    const out = d.outputs[0];
    // The provider's default route is ECMP over both uplinks: either is right, with its own peer.
    expect([LAB.uplinkA.port, LAB.uplinkB.port]).toContain(out.portId);
    const f = decodeChecked(out.frame);
    const viaA = out.portId === LAB.uplinkA.port;
    expect(f.eth.src).toBe(viaA ? UPLINK_A_MAC : UPLINK_B_MAC);
    expect(f.eth.dst).toBe(viaA ? PEER_A_MAC : PEER_B_MAC);
    expect(formatIp(f.ip4!.src)).toBe(LAB.floatingIp);
    expect(formatIp(f.ip4!.dst)).toBe(REMOTE);
    expect(f.ip4!.ttl).toBe(62);
    expect(f.l4).toMatchObject({ kind: 'udp', srcPort: 53, dstPort: 40000 });
  });

  it('ECMP spreads connections of the floating IP over both uplinks, each connection staying on one', () => {
    const s = lab();
    const used = new Set<string>();
    for (let port = 40000; port < 40032; port++) {
      const a = s.send(reply(port), LAB.vm1.port);
      const b = s.send(reply(port), LAB.vm1.port);
      expect(b.path).toBe('hit');
      expect(portsOf(b.outputs)).toEqual(portsOf(a.outputs));
      used.add(a.outputs[0].portId);
    }
    expect([...used].sort()).toEqual([LAB.uplinkA.port, LAB.uplinkB.port]);
  });

  it('an address of the floating range without a floating IP is not delivered to vm1', () => {
    const s = lab();
    const d = s.send(l4Frame({ srcMac: PEER_A_MAC, dstMac: UPLINK_A_MAC, src: REMOTE, dst: '203.0.113.11' }), LAB.uplinkA.port);
    expect(portsOf(d.outputs)).not.toContain(LAB.vm1.port);
    expect(d.result?.outcome.kind).toBe('drop');
  });
});
