// Megaflow soundness on VLAN-aware bridges (DESIGN: Virtual topology — L2 gateway trunk, VLAN push
// and pop on interior ports; Flows): as flow-soundness.test.ts does for the lab world, random
// tagged, double-tagged and untagged frames go through one world that keeps its flows and one that
// simulates every frame with the same tables; every frame must leave both alike. Then the two cases
// it found, as fixed scenarios.
import fc from 'fast-check';
import { LocalTables, PacketWorkflow } from '../../../src/agent-core/agent/index.js';
import { MAC_BROADCAST, frameWithVlan, isDecodeError } from '../../../src/agent-core/packet/index.js';
import { TopologyBuilder } from '../../../src/agent-core/topology/topology-builder.js';
import { mac, udp } from '../simulation/sim-test-kit.js';
import { addAccessSwitch, addL2Gateway } from '../simulation/vlan-fixtures.js';

/** The exterior ports frames enter by. */
const PORTS = ['trunk', 't10-vm', 't10-vm2', 't20-vm', 'T1', 'T2', 'A1', 'A2', 'B1'] as const;

/**
 * The L2 gateway `gw` (trunk `trunk`; VLAN 10 to tenant bridge t10, given a second VM port here;
 * VLAN 20 to t20) and, apart, the VLAN-aware access switch `sw` (vlan-fixtures.ts).
 */
function world(): PacketWorkflow {
  const b = new TopologyBuilder();
  addL2Gateway(b);
  b.vmPort('t10', 'h1', 'tap-t10b', { id: 't10-vm2' });
  addAccessSwitch(b);
  const topology = b.topology();
  const t = new LocalTables();
  return new PacketWorkflow({ topology, macs: t, arp: t, conntrack: t, nat: t, natPorts: t }, t);
}

const MACS = [mac('0c:00:00:00:00:01'), mac('0c:00:00:00:00:02'), mac('0a:00:00:00:00:01'), mac('0a:00:00:00:00:02'), MAC_BROADCAST];

const frame = fc.record({
  port: fc.constantFrom(...PORTS),
  src: fc.integer({ min: 0, max: MACS.length - 2 }),
  dst: fc.integer({ min: 0, max: MACS.length - 1 }),
  /** No tag, one tag (10, 20 or 30, a VLAN nobody maps), or two (10 over 20). */
  tags: fc.constantFrom<readonly number[]>([], [10], [20], [30], [10, 20]),
  sport: fc.constantFrom(1000, 2000),
});

/** The frame with `tags` pushed, outermost first (an 802.1ad outer tag over a second one). */
function tagged(frame: Uint8Array, tags: readonly number[]): Uint8Array {
  let out = frame;
  for (const vid of [...tags].reverse()) {
    const t = frameWithVlan(out, vid);
    if (isDecodeError(t)) throw new Error('cannot tag the frame');
    out = t;
  }
  return out;
}

/** What left the world for a frame, byte for byte, in order. */
function left(d: ReturnType<PacketWorkflow['handle']>): string[] {
  if (d.kind === 'malformed') throw new Error('a frame the test built does not decode');
  return d.outputs.map((o) => `${o.portId} ${Buffer.from(o.frame).toString('hex')}`);
}

test('VLAN-aware bridges: a frame that hits a flow leaves as the simulation would send it', () => {
  let hits = 0;
  fc.assert(
    fc.property(fc.array(frame, { minLength: 2, maxLength: 20 }), (frames) => {
      const flowed = world();
      const simulated = world();
      for (const [i, f] of frames.entries()) {
        const bytes = tagged(udp({ srcMac: MACS[f.src], dstMac: MACS[f.dst], src: '10.0.0.1', dst: '10.0.0.2', sport: f.sport }), f.tags);
        for (const fl of [...simulated.flows]) simulated.flows.delete(fl);
        const a = flowed.handle(bytes, f.port, 0);
        const b = simulated.handle(bytes, f.port, 0);
        expect(b.kind).not.toBe('fastPath');
        if (a.kind === 'fastPath') hits++;
        expect({ i, out: left(a) }).toEqual({ i, out: left(b) });
      }
    }),
    { numRuns: 400 },
  );
  // The flows were used, or the property says nothing about them.
  expect(hits).toBeGreaterThan(100);
});

describe('the cases the property found', () => {
  const PHYS = MACS[0];
  const VM = MACS[2];
  const send = (w: PacketWorkflow, port: string, src: number, dst: number, tags: readonly number[]) => {
    const d = w.handle(tagged(udp({ srcMac: src, dstMac: dst, src: '10.0.0.1', dst: '10.0.0.2', sport: 1000 }), tags), port, 0);
    return { kind: d.kind, out: left(d) };
  };

  it('a popped frame takes only flows of its inner tag: the next bridge learns and looks up in that VLAN', () => {
    const w = world();
    // Outer 10 over inner 20: popped at the gateway, t10 sees VLAN 20 and floods the unknown VM.
    expect(send(w, 'trunk', PHYS, VM, [10, 20]).out).toHaveLength(2);
    // The VM answers in VLAN 10 alone: t10 learns it on its uplink, untagged.
    send(w, 'trunk', VM, PHYS, [10]);
    // PHYS to VM in VLAN 10 alone: t10 knows VM behind the uplink it came in by, so nothing goes out.
    // The first flow (inner tag 20) must not answer for it.
    expect(send(w, 'trunk', PHYS, VM, [10])).toEqual({ kind: 'simulated', out: [] });
  });

  it('a frame to its own sender is not flooded, even the first time (learned before it is forwarded)', () => {
    const w = world();
    expect(send(w, 't10-vm', VM, VM, []).out).toEqual([]);
    expect(send(w, 't10-vm', VM, VM, []).out).toEqual([]);
    // What it taught holds: the other VM port reaches it through the learned port.
    expect(send(w, 't10-vm2', PHYS, VM, []).out.map((o) => o.split(' ')[0])).toEqual(['t10-vm']);
  });
});
