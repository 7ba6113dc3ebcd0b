// Scenario: the lab's net-a bridge floods broadcast and unknown unicast to every port but the
// ingress (vm2 and the tenant router's port, never back to vm1), then unicasts once it has learned
// (DESIGN: Virtual topology, Bridge; Flows: MAC tags invalidate flood flows).
import { MAC_BROADCAST, buildArpRequest, formatIp } from '../../../src/agent-core/packet/index.js';
import { LAB } from '../../../src/gateway/lab/lab-topology.js';
import { ip4 } from '../simulation/sim-test-kit.js';
import { LabScenario, NET_A_GW_MAC, VM1_MAC, VM2_MAC, decodeChecked, l4Frame, portsOf } from './scenario-harness.js';

const bcast = () => l4Frame({ srcMac: VM1_MAC, dstMac: MAC_BROADCAST, src: LAB.vm1.ip, dst: '198.18.1.255', sport: 68, dport: 67 });
const toVm2 = (sport = 40000) => l4Frame({ srcMac: VM1_MAC, dstMac: VM2_MAC, src: LAB.vm1.ip, dst: LAB.vm2.ip, sport });
const arpRequest = () => buildArpRequest(VM1_MAC, ip4(LAB.vm1.ip), ip4('198.18.1.1'));
const fromVm2 = () => l4Frame({ srcMac: VM2_MAC, dstMac: VM1_MAC, src: LAB.vm2.ip, dst: LAB.vm1.ip });

/** The net-a port peered with the tenant router's net-a port. */
function routerSidePort(s: LabScenario): string {
  return s.topo.port(LAB.netA.gatewayPort)!.peerId!;
}

describe('bridge flood on net-a', () => {
  it('a broadcast from vm1 reaches vm2 and the router port, not vm1 (nor net-b)', () => {
    const s = new LabScenario().seedNeighbours();
    const d = s.send(bcast(), LAB.vm1.port);
    expect(d.result?.outcome).toEqual({ kind: 'forward' });
    expect(portsOf(d.outputs)).toEqual([LAB.vm2.port]);
    // The router port got its copy: the tenant router saw it (and, not being addressed, dropped it).
    const trace = d.result!.trace;
    expect(trace).toContain(`port ${routerSidePort(s)}: to peer ${LAB.netA.gatewayPort}`);
    expect(trace).toContain(`port ${LAB.netA.gatewayPort}: in`);
    expect(trace.join('\n')).not.toMatch(/port vm1: output|port vm3/);
    const f = decodeChecked(d.outputs[0].frame);
    expect(f.eth.dst).toBe(MAC_BROADCAST);
    expect(formatIp(f.ip4!.dst)).toBe('198.18.1.255');
    expect(f.ip4!.ttl).toBe(64);
    // The bridge learned vm1's MAC on its port.
    expect(d.result?.stateChanges).toContainEqual({ kind: 'macLearned', bridgeId: LAB.bridgeA, vlanId: expect.any(Number), mac: VM1_MAC, portId: LAB.vm1.port });
  });

  it('unknown unicast floods the same way until the destination is learned, then goes to vm2 alone', () => {
    const s = new LabScenario().seedNeighbours();
    const flood = s.send(toVm2(), LAB.vm1.port);
    expect(portsOf(flood.outputs)).toEqual([LAB.vm2.port]);
    expect(flood.result!.trace).toContain(`port ${LAB.netA.gatewayPort}: in`);
    expect(flood.flow).toBeDefined();
    // Still unknown: the flood flow answers.
    expect(s.send(toVm2(), LAB.vm1.port).path).toBe('hit');
    // vm2 speaks: its MAC is learned, which invalidates the flood flow.
    s.send(fromVm2(), LAB.vm2.port);
    expect(flood.flow!.live).toBe(false);
    const uni = s.send(toVm2(), LAB.vm1.port);
    expect(uni.path).toBe('simulated');
    expect(portsOf(uni.outputs)).toEqual([LAB.vm2.port]);
    expect(uni.result!.trace).not.toContain(`port ${LAB.netA.gatewayPort}: in`);
    expect(uni.result!.trace.join('\n')).toMatch(/-> port vm2/);
  });

  it('a broadcast ARP request for the gateway is answered by the bridge, not flooded', () => {
    const s = new LabScenario().seedNeighbours();
    const req = s.send(arpRequest(), LAB.vm1.port);
    expect(req.result?.outcome.kind).toBe('consumed');
    expect(req.outputs).toEqual([]);
    expect(portsOf(req.generated)).toEqual([LAB.vm1.port]);
    const a = decodeChecked(req.generated[0].frame).arp!;
    expect(formatIp(a.spa)).toBe('198.18.1.1');
    expect(a.sha).toBe(NET_A_GW_MAC);
    expect(formatIp(a.tpa)).toBe(LAB.vm1.ip);
  });
});
