// InMemoryTopology: derived indexes, identity of returned arrays while unchanged, and change events.
import fc from 'fast-check';
import {
  InMemoryTopology,
  topologyChangeTags,
  type PortGroup,
  type Route,
  type Rule,
  type TopologyChange,
} from '../../../src/agent-core/topology/index.js';
import { bridge, bridgePort, router, routerPort } from './helpers.js';

const route = (id: string, routerId: string, dst: string): Route => ({
  type: 'route',
  id,
  routerId,
  dst,
  nextHop: 'blackhole',
  weight: 0,
  origin: 'static',
});
const group = (id: string, portIds: string[]): PortGroup => ({ type: 'portGroup', id, stateful: true, portIds });

function recorder(topo: InMemoryTopology): TopologyChange[] {
  const seen: TopologyChange[] = [];
  topo.onChange((c) => seen.push(c));
  return seen;
}

describe('view lookups', () => {
  it('serves each object by type and id, undefined when absent', () => {
    const r = router('r1');
    const rule: Rule = { id: 'x1', chainId: 'c1', condition: {}, kind: 'literal', action: 'drop' };
    const topo = new InMemoryTopology([r, bridge('x1'), rule]);
    expect(topo.router('r1')).toBe(r);
    expect(topo.rule('x1')).toBe(rule);
    expect(topo.bridge('x1')?.type).toBe('bridge');
    expect(topo.router('x1')).toBeUndefined();
    expect(topo.port('p1')).toBeUndefined();
    expect(topo.get('rule', 'x1')).toBe(rule);
    expect(topo.size).toBe(3);
  });

  it('answers undefined for ports and routes of a device that is not loaded', () => {
    const topo = new InMemoryTopology([bridgePort({ id: 'p1', deviceId: 'b1' }), route('rt1', 'r1', '10.0.0.0/8')]);
    expect(topo.portsOf('b1')).toBeUndefined();
    expect(topo.routes('r1')).toBeUndefined();
    topo.putAll([bridge('b1'), router('r1')]);
    expect(topo.portsOf('b1')).toEqual(['p1']);
    expect(topo.routes('r1')?.map((r) => r.id)).toEqual(['rt1']);
    expect(topo.portsOf('r1')).toEqual([]);
  });
});

describe('ports of a device', () => {
  it('keeps insertion order, also across updates', () => {
    const topo = new InMemoryTopology([bridge('b1')]);
    for (const id of ['pc', 'pa', 'pb']) topo.put(bridgePort({ id }));
    expect(topo.portsOf('b1')).toEqual(['pc', 'pa', 'pb']);
    topo.put(bridgePort({ id: 'pa', vlanId: 7 }));
    expect(topo.portsOf('b1')).toEqual(['pc', 'pa', 'pb']);
    topo.delete('port', 'pa');
    topo.put(bridgePort({ id: 'pa' }));
    expect(topo.portsOf('b1')).toEqual(['pc', 'pb', 'pa']);
  });

  it('returns the same array while unchanged and a new one for the changed device only', () => {
    const topo = new InMemoryTopology([bridge('b1'), bridge('b2'), bridgePort({ id: 'p1' }), bridgePort({ id: 'p2', deviceId: 'b2' })]);
    const b1 = topo.portsOf('b1');
    const b2 = topo.portsOf('b2');
    expect(topo.portsOf('b1')).toBe(b1);
    topo.put(bridgePort({ id: 'p1', vlanId: 5 }));
    expect(topo.portsOf('b1')).toBe(b1);
    topo.put(bridgePort({ id: 'p3' }));
    const b1After = topo.portsOf('b1');
    expect(b1After).not.toBe(b1);
    expect(b1After).toEqual(['p1', 'p3']);
    expect(topo.portsOf('b2')).toBe(b2);
    expect(Object.isFrozen(b1After)).toBe(true);
  });

  it('moves a port whose device changed', () => {
    const topo = new InMemoryTopology([bridge('b1'), bridge('b2'), bridgePort({ id: 'p1' })]);
    topo.put(bridgePort({ id: 'p1', deviceId: 'b2' }));
    expect(topo.portsOf('b1')).toEqual([]);
    expect(topo.portsOf('b2')).toEqual(['p1']);
  });
});

describe('routes of a router', () => {
  it('returns a new array after any change to that router, the same one for others', () => {
    const topo = new InMemoryTopology([router('r1'), router('r2'), route('a', 'r1', '10.0.0.0/8'), route('b', 'r2', '10.0.0.0/8')]);
    const r1 = topo.routes('r1');
    const r2 = topo.routes('r2');
    expect(topo.routes('r1')).toBe(r1);

    topo.put(route('c', 'r1', '192.0.2.0/24'));
    const added = topo.routes('r1');
    expect(added).not.toBe(r1);
    expect(added?.map((r) => r.id)).toEqual(['a', 'c']);
    expect(topo.routes('r2')).toBe(r2);

    const updated = { ...route('a', 'r1', '10.0.0.0/8'), weight: 5 };
    topo.put(updated);
    const afterUpdate = topo.routes('r1');
    expect(afterUpdate).not.toBe(added);
    expect(afterUpdate?.[0]).toBe(updated);

    topo.delete('route', 'c');
    expect(topo.routes('r1')).not.toBe(afterUpdate);
    expect(topo.routes('r1')?.map((r) => r.id)).toEqual(['a']);
    expect(topo.routes('r2')).toBe(r2);
  });

  it('keeps the stored object and array for a put of equal content', () => {
    const first = route('a', 'r1', '10.0.0.0/8');
    const topo = new InMemoryTopology([router('r1'), first]);
    const before = topo.routes('r1');
    const seen = recorder(topo);
    expect(topo.put({ ...first, gateway: undefined })).toBeUndefined();
    expect(topo.routes('r1')).toBe(before);
    expect(topo.get('route', 'a')).toBe(first);
    expect(seen).toEqual([]);
  });

  it('moves a route to another router', () => {
    const topo = new InMemoryTopology([router('r1'), router('r2'), route('a', 'r1', '10.0.0.0/8')]);
    topo.put(route('a', 'r2', '10.0.0.0/8'));
    expect(topo.routes('r1')).toEqual([]);
    expect(topo.routes('r2')?.map((r) => r.id)).toEqual(['a']);
  });
});

describe('port groups of a port', () => {
  it('follows membership changes', () => {
    const topo = new InMemoryTopology([group('g1', ['p1', 'p2']), group('g2', ['p2'])]);
    expect(topo.portGroupsOf('p1')).toEqual(['g1']);
    expect(topo.portGroupsOf('p2')).toEqual(['g1', 'g2']);
    expect(topo.portGroupsOf('p3')).toEqual([]);
    const p2 = topo.portGroupsOf('p2');
    topo.put(group('g1', ['p1', 'p3']));
    expect(topo.portGroupsOf('p2')).toEqual(['g2']);
    expect(topo.portGroupsOf('p2')).not.toBe(p2);
    expect(topo.portGroupsOf('p3')).toEqual(['g1']);
    topo.delete('portGroup', 'g1');
    expect(topo.portGroupsOf('p1')).toEqual([]);
  });
});

describe('change events', () => {
  it('reports created, updated and deleted with the flow tags to invalidate', () => {
    const topo = new InMemoryTopology([router('r1'), bridge('b1')]);
    const seen = recorder(topo);
    topo.put(routerPort({ id: 'p1' }));
    topo.put(routerPort({ id: 'p1', mtu: 9000 }));
    topo.put(route('rt', 'r1', '10.0.0.0/8'));
    topo.delete('port', 'p1');
    expect(seen).toEqual([
      { objectType: 'port', id: 'p1', change: 'created', tags: ['device:p1', 'device:r1'] },
      { objectType: 'port', id: 'p1', change: 'updated', tags: ['device:p1', 'device:r1'] },
      { objectType: 'route', id: 'rt', change: 'created', tags: ['device:rt', 'route:r1'] },
      { objectType: 'port', id: 'p1', change: 'deleted', tags: ['device:p1', 'device:r1'] },
    ]);
  });

  it('tags both owners when an object moves, and a rule its chain', () => {
    const rule: Rule = { id: 'x', chainId: 'c1', condition: {}, kind: 'literal', action: 'drop' };
    expect(topologyChangeTags(rule, { ...rule, chainId: 'c2' })).toEqual(['device:x', 'device:c1', 'device:c2']);
    expect(topologyChangeTags(route('a', 'r1', '0.0.0.0/0'), route('a', 'r2', '0.0.0.0/0'))).toEqual(['device:a', 'route:r1', 'route:r2']);
    expect(topologyChangeTags(group('g', ['p1', 'p2']), group('g', ['p2', 'p3']))).toEqual(['device:g', 'device:p1', 'device:p3']);
  });

  it('says nothing for deleting what is absent', () => {
    const topo = new InMemoryTopology();
    const seen = recorder(topo);
    expect(topo.delete('bridge', 'nope')).toBeUndefined();
    expect(seen).toEqual([]);
  });

  it('delivers a putAll batch after all of it is applied', () => {
    const topo = new InMemoryTopology();
    const views: (readonly string[] | undefined)[] = [];
    topo.onChange(() => views.push(topo.portsOf('b1')));
    const changes = topo.putAll([bridge('b1'), bridgePort({ id: 'p1' }), bridgePort({ id: 'p2' })]);
    expect(changes.map((c) => `${c.objectType}:${c.id}:${c.change}`)).toEqual(['bridge:b1:created', 'port:p1:created', 'port:p2:created']);
    expect(views).toEqual([['p1', 'p2'], ['p1', 'p2'], ['p1', 'p2']]);
  });

  it('stops calling a listener after it unsubscribes, even during delivery', () => {
    const topo = new InMemoryTopology();
    const a: string[] = [];
    const b: string[] = [];
    const offA = topo.onChange((c) => a.push(c.id));
    const offB = topo.onChange((c) => {
      b.push(c.id);
      offA();
    });
    topo.put(bridge('b1'));
    topo.put(bridge('b2'));
    offB();
    offB();
    topo.put(bridge('b3'));
    expect(a).toEqual(['b1']);
    expect(b).toEqual(['b1', 'b2']);
  });
});

describe('indexes agree with a full recompute', () => {
  it('after any sequence of puts and deletes', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('port' as const), id: fc.constantFrom('p1', 'p2', 'p3', 'p4'), dev: fc.constantFrom('b1', 'b2') }),
      fc.record({ kind: fc.constant('route' as const), id: fc.constantFrom('a', 'b', 'c'), dev: fc.constantFrom('r1', 'r2'), w: fc.nat(3) }),
      fc.record({ kind: fc.constant('group' as const), id: fc.constantFrom('g1', 'g2'), ports: fc.subarray(['p1', 'p2', 'p3', 'p4']) }),
      fc.record({ kind: fc.constant('delete' as const), type: fc.constantFrom('port' as const, 'route' as const, 'portGroup' as const), id: fc.constantFrom('p1', 'a', 'g1') }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        const topo = new InMemoryTopology([bridge('b1'), bridge('b2'), router('r1'), router('r2')]);
        for (const o of ops) {
          if (o.kind === 'port') topo.put(bridgePort({ id: o.id, deviceId: o.dev }));
          else if (o.kind === 'route') topo.put({ ...route(o.id, o.dev, '10.0.0.0/8'), weight: o.w });
          else if (o.kind === 'group') topo.put(group(o.id, o.ports));
          else topo.delete(o.type, o.id);
        }
        const fresh = new InMemoryTopology(topo.objects());
        for (const d of ['b1', 'b2']) expect([...(topo.portsOf(d) ?? [])].sort()).toEqual([...(fresh.portsOf(d) ?? [])].sort());
        for (const r of ['r1', 'r2']) expect(topo.routes(r)?.map((x) => x.id).sort()).toEqual(fresh.routes(r)?.map((x) => x.id).sort());
        for (const p of ['p1', 'p2', 'p3', 'p4']) expect([...topo.portGroupsOf(p)].sort()).toEqual([...fresh.portGroupsOf(p)].sort());
      }),
      { numRuns: 200 },
    );
  });
});
