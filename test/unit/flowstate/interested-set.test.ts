// The interested set (DESIGN: Flow state): hosts of the flow's ports plus hosts of the other members
// of any stateful port group (ingress set) those ports are in; never this host.
import fc from 'fast-check';
import { resolveInterestedSet } from '../../../src/agent-core/flowstate/index.js';
import type { PortGroup } from '../../../src/agent-core/topology/index.js';

function world(groups: PortGroup[], hostOf: Record<string, string>) {
  const byId = new Map(groups.map((g) => [g.id, g]));
  return {
    topology: {
      portGroup: (id: string) => byId.get(id),
      portGroupsOf: (portId: string) => groups.filter((g) => g.portIds.includes(portId)).map((g) => g.id),
    },
    hostOfPort: (p: string) => hostOf[p],
  };
}

const group = (id: string, stateful: boolean, portIds: string[]): PortGroup => ({ type: 'portGroup', id, stateful, portIds });

describe('resolveInterestedSet', () => {
  test('ingress and egress hosts, without this host', () => {
    const w = world([], { vm1: 'compute-1', up1: 'gw-1', vm2: 'compute-2' });
    expect(resolveInterestedSet({ ...w, ingressPortId: 'vm1', egressPortIds: ['up1', 'vm2'], localHostId: 'compute-1' })).toEqual({
      hosts: ['compute-2', 'gw-1'], unboundPorts: [], missingGroups: [],
    });
  });

  test('an ingress set pulls in the hosts of its other members', () => {
    // Two uplinks of the provider router on two gateways: a flow leaving via up1 may come back via up2.
    const w = world([group('uplinks', true, ['up1', 'up2', 'up3'])], { vm1: 'compute-1', up1: 'gw-1', up2: 'gw-2', up3: 'gw-3' });
    expect(resolveInterestedSet({ ...w, ingressPortId: 'vm1', egressPortIds: ['up1'], localHostId: 'compute-1' }).hosts).toEqual(['gw-1', 'gw-2', 'gw-3']);
    // The same from the ingress side: a reply entering on up2 at gw-2.
    expect(resolveInterestedSet({ ...w, ingressPortId: 'up2', egressPortIds: ['vm1'], localHostId: 'gw-2' }).hosts).toEqual(['compute-1', 'gw-1', 'gw-3']);
  });

  test('a group that is not stateful adds nobody', () => {
    const w = world([group('web', false, ['vm1', 'vm2', 'vm3'])], { vm1: 'c1', vm2: 'c2', vm3: 'c3' });
    expect(resolveInterestedSet({ ...w, ingressPortId: 'vm1', egressPortIds: ['vm2'], localHostId: 'c1' }).hosts).toEqual(['c2']);
  });

  test('members reached through a group do not pull in their own groups', () => {
    const w = world(
      [group('set-a', true, ['up1', 'up2']), group('set-b', true, ['up2', 'up9'])],
      { vm1: 'c1', up1: 'gw-1', up2: 'gw-2', up9: 'gw-9' },
    );
    expect(resolveInterestedSet({ ...w, ingressPortId: 'vm1', egressPortIds: ['up1'], localHostId: 'c1' }).hosts).toEqual(['gw-1', 'gw-2']);
  });

  test('unbound ports and groups not loaded are reported, not guessed', () => {
    const w = world([group('set', true, ['up1', 'up2'])], { vm1: 'c1', up1: 'gw-1' });
    const topology = { ...w.topology, portGroupsOf: (p: string) => (p === 'up1' ? ['set', 'ghost'] : []) };
    expect(resolveInterestedSet({ ...w, topology, ingressPortId: 'vm1', egressPortIds: ['up1'], localHostId: 'c1' })).toEqual({
      hosts: ['gw-1'], unboundPorts: ['up2'], missingGroups: ['ghost'],
    });
  });

  test('property: exactly the hosts of the flow ports and their stateful groups, minus this host', () => {
    const portIds = Array.from({ length: 12 }, (_, i) => `p${i}`);
    const hosts = ['h0', 'h1', 'h2', 'h3', 'h4'];
    fc.assert(
      fc.property(
        fc.array(fc.record({ stateful: fc.boolean(), members: fc.subarray(portIds, { minLength: 1 }) }), { maxLength: 4 }),
        fc.dictionary(fc.constantFrom(...portIds), fc.constantFrom(...hosts)),
        fc.constantFrom(...portIds),
        fc.subarray(portIds, { maxLength: 3 }),
        fc.constantFrom(...hosts),
        (gs, hostOf, ingress, egress, local) => {
          const groups = gs.map((g, i) => group(`g${i}`, g.stateful, g.members));
          const w = world(groups, hostOf);
          const r = resolveInterestedSet({ ...w, ingressPortId: ingress, egressPortIds: egress, localHostId: local });
          const flowPorts = [ingress, ...egress];
          const ports = new Set(flowPorts);
          for (const g of groups) if (g.stateful && g.portIds.some((p) => flowPorts.includes(p))) g.portIds.forEach((p) => ports.add(p));
          const expected = new Set([...ports].map((p) => hostOf[p]).filter((h) => h !== undefined && h !== local));
          expect(r.hosts).toEqual([...expected].sort());
          expect(r.unboundPorts).toEqual([...ports].filter((p) => hostOf[p] === undefined).sort());
        },
      ),
      { numRuns: 500 },
    );
  });
});
