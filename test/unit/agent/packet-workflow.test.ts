// The agent's packet workflow on the lab world: what a disposition reports (installed flow, generated
// walks apart from the frame's own outputs) and how invalidations are counted (DESIGN: The packet's way).
import { LocalTables, PacketWorkflow } from '../../../src/agent-core/agent/index.js';
import { parseIp } from '../../../src/agent-core/packet/index.js';
import { arpTag } from '../../../src/agent-core/simulation/index.js';
import { InMemoryTopology } from '../../../src/agent-core/topology/index.js';
import { LAB, buildLabTopology } from '../../../src/gateway/lab/lab-topology.js';
import { mac, udp } from '../simulation/sim-test-kit.js';

function lab(): { w: PacketWorkflow } {
  const topo = new InMemoryTopology(buildLabTopology());
  const tables = new LocalTables();
  const w = new PacketWorkflow({ topology: topo, macs: tables, arp: tables, conntrack: tables, nat: tables, natPorts: tables }, tables);
  topo.onChange((e) => w.invalidate(e.tags));
  return { w };
}

const vm1ToVm2 = () => udp({ srcMac: mac(LAB.vm1.mac), dstMac: mac(LAB.vm2.mac), src: LAB.vm1.ip, dst: LAB.vm2.ip });
const vm2ToVm1 = () => udp({ srcMac: mac(LAB.vm2.mac), dstMac: mac(LAB.vm1.mac), src: LAB.vm2.ip, dst: LAB.vm1.ip });

describe('PacketWorkflow dispositions', () => {
  it('an upcall that installs returns the flow the next packet hits', () => {
    const { w } = lab();
    const first = w.handle(vm1ToVm2(), LAB.vm1.port, 0);
    if (first.kind !== 'simulated') throw new Error(first.kind);
    expect(first.installed).toBe(true);
    expect(first.flow).toBeDefined();
    const second = w.handle(vm1ToVm2(), LAB.vm1.port, 1);
    expect(second.kind === 'fastPath' && second.flow.id).toBe(first.flow!.id);
  });

  it('lists the generated walks, whose outputs come first in `outputs`', () => {
    const { w } = lab();
    // The tenant router knows no neighbour on net-a: a packet to vm1 parks and floods an ARP request.
    const frame = udp({ srcMac: mac(LAB.vm3.mac), dstMac: mac(LAB.netB.mac), src: LAB.vm3.ip, dst: LAB.vm1.ip });
    const d = w.handle(frame, LAB.vm3.port, 0);
    if (d.kind !== 'parked') throw new Error(d.kind);
    expect(d.walks.length).toBeGreaterThan(0);
    expect(d.walks.length).toBe(w.counters.generated);
    expect(d.outputs).toEqual(d.walks.flatMap((x) => x.outputs));
    expect(d.outputs.map((o) => o.portId).sort()).toEqual([LAB.vm1.port, LAB.vm2.port]);
    for (const x of d.walks) expect(x.outputs.length).toBe(x.result.actions.filter((a) => a.kind === 'output').length);
  });

  it('counts the flows that learned state and explicit invalidations drop', () => {
    const { w } = lab();
    const flood = w.handle(vm1ToVm2(), LAB.vm1.port, 0);
    expect(flood.kind === 'simulated' && flood.installed).toBe(true);
    expect(w.counters.invalidated).toBe(0);
    // vm2 speaks: its MAC is learned and the flood flow toward it goes stale.
    w.handle(vm2ToVm1(), LAB.vm2.port, 1);
    expect(w.counters.invalidated).toBe(1);
    expect(w.handle(vm1ToVm2(), LAB.vm1.port, 2).kind).toBe('simulated');
    const again = w.handle(vm1ToVm2(), LAB.vm1.port, 3);
    if (again.kind !== 'fastPath') throw new Error(again.kind);
    const gone = w.invalidateFlows(again.flow.tags);
    expect(gone).toContain(again.flow);
    expect(w.counters.invalidated).toBe(1 + gone.length);
    expect(w.flows.size).toBe(0);
  });
});

describe('LocalTables accessors the harness reads', () => {
  it('forgets an ARP entry', () => {
    const t = new LocalTables();
    t.learnArp('r1', 42, 7);
    expect(t.forgetArp('r1', 42)).toBe(true);
    expect(t.lookup('r1', 42)).toBeUndefined();
    expect(t.forgetArp('r1', 42)).toBe(false);
  });

  it('lists the SNAT ports bindings hold, and drops them on expiry', () => {
    const t = new LocalTables(1000);
    expect(t.snatPortsInUse('r1', 9)).toEqual([]);
    t.apply([{ kind: 'nat', key: 'a', binding: { ip: 9, port: 1001 }, deviceId: 'r1', leasedIp: 9 }], 0);
    t.apply([{ kind: 'nat', key: 'b', binding: { ip: 9, port: 1000 }, deviceId: 'r1', leasedIp: 9 }], 500);
    expect(t.snatPortsInUse('r1', 9)).toEqual([1001, 1000]);
    expect(t.snatPortsInUse('r1', 10)).toEqual([]);
    t.expire(1000);
    expect(t.snatPortsInUse('r1', 9)).toEqual([1000]);
  });
});

describe('PacketWorkflow.simulateMiss', () => {
  it('reports as stale the tags of state its generated packets taught (an interior ARP resolved on the way)', () => {
    const { w } = lab();
    // The provider router must resolve the tenant's transit address: its ARP request is answered
    // inside the same simulation's walks, and the entry it learns is new state.
    const frame = udp({ srcMac: mac(LAB.uplinkA.peerMac), dstMac: mac(LAB.uplinkA.mac), src: LAB.internetHost, dst: LAB.floatingIp });
    const miss = w.simulateMiss(frame, LAB.uplinkA.port, 0);
    if (miss.kind !== 'simulatedMiss') throw new Error(miss.kind);
    expect(miss.stale).toContain(arpTag(LAB.provider, parseIp('198.18.0.2')!));
  });
});
