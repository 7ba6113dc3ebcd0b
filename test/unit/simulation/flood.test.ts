// Floods and the VLAN-aware bridge (L2 gateway): trunk push/pop both ways, per-copy rewrites undone
// between outputs (checked by executing the action list), per-copy chains, and the loop guard.
import { ETHERTYPE_VLAN, MAC_BROADCAST, VLAN_NONE, type HeaderModification } from '../../../src/agent-core/packet/index.js';
import { undoRewrites } from '../../../src/agent-core/simulation/rewrite-undo.js';
import { Field, FlowMatch } from '../../../src/agent-core/packet/flow-match.js';
import { VM1, VM2, World, decode, execute, ip4, mac, outputs, udp } from './sim-test-kit.js';
import { addAccessSwitch, addL2Gateway } from './vlan-fixtures.js';

const PHYS = mac('0c:00:00:00:00:01');

/** L2 gateway `gw` (trunk port `trunk`) mapping VLAN 10 to tenant bridge t10 and VLAN 20 to t20. */
function l2gw(): World {
  const w = new World();
  addL2Gateway(w.b);
  return w.done();
}

describe('VLAN-aware bridge (L2 gateway)', () => {
  it('sends a trunk frame of VLAN X to the VLAN X port with the tag popped', () => {
    const w = l2gw();
    w.learnMac('t10', VLAN_NONE, VM1, 't10-vm');
    const frame = udp({ srcMac: PHYS, dstMac: VM1, src: '10.0.0.50', dst: '10.0.0.11', vlan: 10 });
    const r = w.run(frame, 'trunk');
    expect(r.outcome.kind).toBe('forward');
    expect(r.actions).toEqual([{ kind: 'popVlan' }, { kind: 'output', portId: 't10-vm' }]);
    const [sent] = execute(frame, r.actions);
    expect(decode(sent.frame).vlans).toEqual([]);
    // Learned in VLAN 10 on the trunk, and in the tenant bridge (untagged) on its uplink port.
    expect(r.stateChanges).toEqual([
      { kind: 'macLearned', bridgeId: 'gw', vlanId: 10, mac: PHYS, portId: 'trunk' },
      { kind: 'macLearned', bridgeId: 't10', vlanId: VLAN_NONE, mac: PHYS, portId: 't10-up' },
    ]);
  });

  it('sends a frame from the VLAN X port to the trunk with the tag pushed', () => {
    const w = l2gw();
    w.learnMac('t20', VLAN_NONE, PHYS, 't20-up');
    const frame = udp({ srcMac: VM2, dstMac: PHYS, src: '10.0.0.12', dst: '10.0.0.50' });
    const r = w.run(frame, 't20-vm');
    expect(r.actions).toEqual([{ kind: 'pushVlan', vlanId: 20 }, { kind: 'output', portId: 'trunk' }]);
    const d = decode(execute(frame, r.actions)[0].frame);
    expect(d.vlans).toEqual([expect.objectContaining({ tpid: ETHERTYPE_VLAN, vid: 20 })]);
    expect(d.ip4).toMatchObject({ src: ip4('10.0.0.12') });
  });

  it('drops an unknown VLAN, an untagged frame on the trunk and a tagged frame on a VLAN port', () => {
    const w = l2gw();
    expect(w.run(udp({ srcMac: PHYS, dstMac: VM1, src: '10.0.0.50', dst: '10.0.0.11', vlan: 30 }), 'trunk').outcome).toMatchObject({
      kind: 'drop',
      reason: expect.stringContaining('VLAN 30'),
    });
    expect(w.run(udp({ srcMac: PHYS, dstMac: VM1, src: '10.0.0.50', dst: '10.0.0.11' }), 'trunk').outcome.kind).toBe('drop');
    expect(w.run(udp({ srcMac: VM1, dstMac: PHYS, src: '10.0.0.11', dst: '10.0.0.50', vlan: 10 }), 't10-vm').outcome.kind).toBe('drop');
  });
});

/** VLAN-aware bridge `sw`: trunks T1, T2; access ports A1, A2 in VLAN 10 and B1 in VLAN 20. */
function accessSwitch(): World {
  const w = new World();
  addAccessSwitch(w.b);
  return w.done();
}

describe('flood with per-port rewrites', () => {
  it('pushes the VLAN for each trunk copy and undoes it before the untagged copy', () => {
    const w = accessSwitch();
    const frame = udp({ srcMac: VM1, dstMac: MAC_BROADCAST, src: '10.0.0.11', dst: '255.255.255.255' });
    const r = w.run(frame, 'A1');
    expect(outputs(r)).toEqual(['T1', 'T2', 'A2']);
    const sent = new Map(execute(frame, r.actions).map((s) => [s.portId, decode(s.frame)]));
    expect(sent.get('T1')?.vlans.map((v) => v.vid)).toEqual([10]);
    expect(sent.get('T2')?.vlans.map((v) => v.vid)).toEqual([10]);
    expect(sent.get('A2')?.vlans).toEqual([]);
    // The list ends with an output: no rewrite is left dangling after it.
    expect(r.actions[r.actions.length - 1].kind).toBe('output');
  });

  it('pops the VLAN for every access copy of a trunk flood, never sending to the other trunk', () => {
    const w = accessSwitch();
    const frame = udp({ srcMac: PHYS, dstMac: MAC_BROADCAST, src: '10.0.0.50', dst: '255.255.255.255', vlan: 10 });
    const r = w.run(frame, 'T1');
    expect(outputs(r)).toEqual(['A1', 'A2']);
    for (const s of execute(frame, r.actions)) expect(decode(s.frame).vlans).toEqual([]);
  });

  it('applies each port outbound chain to its own copy only, undoing its rewrites for the next copy', () => {
    const w = new World();
    const b = w.b;
    b.bridge({ id: 'b1' });
    b.vmPort('b1', 'h', 'p1', { id: 'p1' });
    const dnat = b.chain([{ kind: 'staticNat', nat: 'dnat', address: '10.9.9.9', then: 'accept' }]);
    const drop = b.chain([{ kind: 'literal', action: 'drop' }]);
    b.vmPort('b1', 'h', 'p2', { id: 'p2', outboundChainId: dnat.id });
    b.vmPort('b1', 'h', 'p3', { id: 'p3', outboundChainId: drop.id });
    b.vmPort('b1', 'h', 'p4', { id: 'p4' });
    w.done();
    const frame = udp({ srcMac: VM1, dstMac: VM2, src: '10.0.0.11', dst: '10.0.0.12' });
    const r = w.run(frame, 'p1');
    expect(outputs(r)).toEqual(['p2', 'p4']);
    const sent = new Map(execute(frame, r.actions).map((s) => [s.portId, decode(s.frame)]));
    expect(sent.get('p2')?.ip4?.dst).toBe(ip4('10.9.9.9'));
    expect(sent.get('p4')?.ip4?.dst).toBe(ip4('10.0.0.12'));
  });
});

describe('undoRewrites', () => {
  it('reverses field sets and VLAN push/pop, and refuses decTtl', () => {
    const m = FlowMatch.empty();
    m.set(Field.EthSrc, 5);
    const mods: HeaderModification[] = [
      { kind: 'setField', field: Field.EthSrc, value: 9 },
      { kind: 'pushVlan', vlanId: 7 },
      { kind: 'setField', field: Field.EthSrc, value: 11 },
    ];
    expect(undoRewrites(mods, 0, mods.length, m)).toEqual([
      { kind: 'setField', field: Field.EthSrc, value: 9 },
      { kind: 'popVlan' },
      { kind: 'setField', field: Field.EthSrc, value: 5 },
    ]);
    const tagged = FlowMatch.empty();
    tagged.set(Field.VlanId, 42);
    expect(undoRewrites([{ kind: 'popVlan' }], 0, 1, tagged)).toEqual([{ kind: 'pushVlan', vlanId: 42 }]);
    expect(undoRewrites([{ kind: 'decTtl' }], 0, 1, m)).toBeUndefined();
  });
});

describe('loop guard', () => {
  it('drops a broadcast as an error when two bridges are linked twice', () => {
    const w = new World();
    const b = w.b;
    b.bridge({ id: 'b1' });
    b.bridge({ id: 'b2' });
    b.vmPort('b1', 'h', 'x1', { id: 'x1' });
    b.bridgePort('b1', { id: 'l1' });
    b.bridgePort('b1', { id: 'l2' });
    b.bridgePort('b2', { id: 'm1' });
    b.bridgePort('b2', { id: 'm2' });
    b.vmPort('b2', 'h', 'y1', { id: 'y1' });
    b.link('l1', 'm1');
    b.link('l2', 'm2');
    w.done();
    const r = w.run(udp({ srcMac: VM1, dstMac: MAC_BROADCAST, src: '10.0.0.11', dst: '255.255.255.255' }), 'x1');
    expect(r.outcome).toMatchObject({ kind: 'drop', error: true, reason: expect.stringContaining('loop') });
    expect(r.actions).toEqual([]);
    expect(r.generated).toEqual([]);
    expect(r.stateChanges).toEqual([]);
    expect(r.expiry).toBe('drop');
  });

  it('stops a flood fanning out through a mesh of bridges', () => {
    const w = new World();
    const b = w.b;
    const n = 5;
    for (let i = 0; i < n; i++) b.bridge({ id: `b${i}` });
    b.vmPort('b0', 'h', 'x', { id: 'x' });
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        b.bridgePort(`b${i}`, { id: `${i}-${j}` });
        b.bridgePort(`b${j}`, { id: `${j}-${i}` });
        b.link(`${i}-${j}`, `${j}-${i}`);
      }
    }
    w.done();
    const r = w.run(udp({ srcMac: VM1, dstMac: MAC_BROADCAST, src: '10.0.0.11', dst: '255.255.255.255' }), 'x');
    expect(r.outcome).toMatchObject({ kind: 'drop', error: true });
  });
});
