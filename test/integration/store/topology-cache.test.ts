// ZkTopologyCache against a real ZooKeeper: on-demand loading, watches re-armed by re-reading,
// object identity and derived arrays, change events, and malformed znodes skipped with a log.
import { TopologyStore, ZkTopologyCache, type TopologyLoadEvent, type ZkClient } from '../../../src/agent-core/store/index.js';
import type { TopologyChange } from '../../../src/agent-core/topology/index.js';
import { acceptRule, bridge, bridgePort, capturingLogger, chain, router, routerPort, startWorld, waitFor, type StoreWorld } from './store-kit.js';

let world: StoreWorld;
let writer: ZkClient;
let reader: ZkClient;

beforeAll(async () => {
  world = await startWorld();
  writer = await world.connect();
  reader = await world.connect();
});
afterAll(async () => {
  await world?.teardown();
});

async function setup(): Promise<{ store: TopologyStore; cache: ZkTopologyCache; changes: TopologyChange[]; loads: TopologyLoadEvent[]; root: string }> {
  const root = world.root();
  const store = new TopologyStore(writer, { root });
  await store.ensureLayout();
  const cache = new ZkTopologyCache(reader, { root, learnedRoutes: false });
  const changes: TopologyChange[] = [];
  const loads: TopologyLoadEvent[] = [];
  cache.onChange((c) => changes.push(c));
  cache.onLoaded((e) => loads.push(e));
  return { store, cache, changes, loads, root };
}

test('a miss answers undefined, starts a load and reports its arrival', async () => {
  const { store, cache, loads } = await setup();
  await store.create(bridge('b1'));
  expect(cache.bridge('b1')).toBeUndefined();
  expect(cache.isLoaded('bridge', 'b1')).toBe(false);
  const b = await cache.whenLoaded('bridge', 'b1');
  expect(b).toEqual(bridge('b1'));
  expect(cache.bridge('b1')).toBe(b);
  expect(loads).toContainEqual({ objectType: 'bridge', id: 'b1', present: true });
  // An absent object is loaded as absent, and appears once created (the type directory is watched).
  expect(await cache.ensure('router', 'r-later')).toBeUndefined();
  expect(loads).toContainEqual({ objectType: 'router', id: 'r-later', present: false });
  await store.create(router('r-later'));
  await waitFor('router to appear', () => cache.router('r-later'));
  cache.close();
});

test('unchanged objects keep their identity; a change gives a new object and an event with tags', async () => {
  const { store, cache, changes } = await setup();
  await store.createDevice(bridge('b1'), [bridgePort('p1', 'b1')]);
  await store.create(chain('c1'));
  const p1 = await cache.ensure('port', 'p1');
  const c1 = await cache.ensure('chain', 'c1');
  await store.insertRule(acceptRule('r1', 'c1'));
  await waitFor('chain update', () => cache.chain('c1') !== c1 && cache.chain('c1'));
  expect(cache.chain('c1')?.ruleIds).toEqual(['r1']);
  expect(cache.port('p1')).toBe(p1);
  expect(changes).toContainEqual({ objectType: 'chain', id: 'c1', change: 'updated', tags: ['device:c1'] });
  await store.update({ ...bridgePort('p1', 'b1'), inboundChainId: 'c1' });
  await waitFor('port update', () => cache.port('p1')?.inboundChainId === 'c1');
  expect(cache.port('p1')).not.toBe(p1);
  expect(changes).toContainEqual({ objectType: 'port', id: 'p1', change: 'updated', tags: ['device:p1', 'device:b1'] });
  cache.close();
});

test('every change of a burst is caught: the last value always wins', async () => {
  const { store, cache } = await setup();
  await store.create(bridge('b1', { name: 'v0' }));
  await cache.ensure('bridge', 'b1');
  for (let i = 1; i <= 30; i++) await store.update(bridge('b1', { name: `v${i}` }));
  await waitFor('last value', () => cache.bridge('b1')?.name === 'v30');
  // And changes made after the burst still arrive: the watch was re-armed.
  await store.update(bridge('b1', { name: 'after' }));
  await waitFor('value after the burst', () => cache.bridge('b1')?.name === 'after');
  cache.close();
});

test('portsOf, routes and portGroupsOf: the same array while unchanged, a new one after a change', async () => {
  const { store, cache, changes } = await setup();
  await store.createDevice(bridge('b1'), [bridgePort('p1', 'b1'), bridgePort('p2', 'b1')]);
  await store.createDevice(router('r1'), [routerPort('rp1', 'r1', '10.0.0.1/24')]);
  await store.create({ type: 'route', id: 'rt1', routerId: 'r1', dst: '0.0.0.0/0', nextHop: 'port', egressPortId: 'rp1', gateway: '10.0.0.254', weight: 1, origin: 'static' });
  await cache.ensure('bridge', 'b1');
  const ports = cache.portsOf('b1');
  expect(ports).toEqual(['p1', 'p2']);
  expect(cache.portsOf('b1')).toBe(ports);
  const routes = await cache.ensureRoutes('r1');
  expect(routes?.map((r) => r.id)).toEqual(['rt1']);
  expect(cache.routes('r1')).toBe(routes);
  expect(cache.portGroupsOf('p1')).toEqual([]);

  await store.create(bridgePort('p3', 'b1'));
  await waitFor('new port listed', () => cache.portsOf('b1')?.length === 3);
  expect(cache.portsOf('b1')).not.toBe(ports);
  expect(cache.portsOf('b1')).toEqual(['p1', 'p2', 'p3']);
  await waitFor('new port loaded', () => cache.port('p3'));
  expect(changes).toContainEqual({ objectType: 'port', id: 'p3', change: 'created', tags: ['device:p3', 'device:b1'] });

  await store.create({ type: 'route', id: 'rt2', routerId: 'r1', dst: '192.0.2.0/24', nextHop: 'blackhole', weight: 1, origin: 'static' });
  await waitFor('second route', () => cache.routes('r1')?.length === 2);
  expect(cache.routes('r1')).not.toBe(routes);
  expect(changes.some((c) => c.objectType === 'route' && c.id === 'rt2' && c.tags.includes('route:r1'))).toBe(true);

  await cache.ensure('port', 'p2');
  await store.create({ type: 'portGroup', id: 'g1', stateful: true, portIds: ['p1', 'p2'] });
  await waitFor('group of p1', () => cache.portGroupsOf('p1').length === 1);
  await waitFor('group of p2', () => cache.portGroupsOf('p2').length === 1);
  expect(cache.portGroupsOf('p1')).toEqual(['g1']);
  const groups = cache.portGroupsOf('p1');
  await store.update({ type: 'portGroup', id: 'g1', stateful: true, portIds: ['p2'] });
  await waitFor('p1 left the group', () => cache.portGroupsOf('p1').length === 0);
  expect(cache.portGroupsOf('p2')).toEqual(['g1']);
  expect(groups).toEqual(['g1']);
  cache.close();
});

test('a deleted object disappears with an event and comes back when created again', async () => {
  const { store, cache, changes } = await setup();
  await store.createDevice(bridge('b1'), [bridgePort('p1', 'b1')]);
  await cache.ensure('bridge', 'b1');
  await cache.ensure('port', 'p1');
  await store.delete('bridge', 'b1');
  await waitFor('bridge gone', () => cache.bridge('b1') === undefined && cache.port('p1') === undefined);
  expect(cache.portsOf('b1')).toBeUndefined();
  expect(changes).toContainEqual({ objectType: 'port', id: 'p1', change: 'deleted', tags: ['device:p1', 'device:b1'] });
  await store.createDevice(bridge('b1'), [bridgePort('p9', 'b1')]);
  await waitFor('bridge back with its new port', () => cache.portsOf('b1')?.[0] === 'p9');
  cache.close();
});

test('malformed or foreign data in a znode is logged, skipped as absent, and picked up once fixed', async () => {
  const root = world.root();
  const store = new TopologyStore(writer, { root });
  await store.ensureLayout();
  const { logger, records } = capturingLogger();
  const cache = new ZkTopologyCache(reader, { root, logger, learnedRoutes: false });
  const path = (id: string): string => `${root}/topology/bridge/${id}`;
  await writer.create(path('junk'), Buffer.from('this is not json'));
  await writer.create(path('old'), Buffer.from(JSON.stringify({ schemaVersion: 99, object: bridge('old') })));
  await writer.create(path('bad'), Buffer.from(JSON.stringify({ schemaVersion: 1, object: { ...bridge('bad'), adminStateUp: 'yes' } })));
  await writer.create(path('alien'), Buffer.from(JSON.stringify({ schemaVersion: 1, object: router('alien') })));
  for (const id of ['junk', 'old', 'bad', 'alien']) expect(await cache.ensure('bridge', id)).toBeUndefined();
  const errors = records.filter((r) => r.level === 50).map((r) => String(r.msg));
  expect(errors).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/^skipping bridge junk: not JSON/),
      'skipping bridge old: schema version 99, expected 1',
      expect.stringContaining('skipping bridge bad: invalid: bridge bad: adminStateUp "yes" is not true or false'),
      'skipping bridge alien: holds a router, not a bridge',
    ]),
  );
  await writer.setData(path('junk'), Buffer.from(JSON.stringify({ schemaVersion: 1, object: bridge('junk') })));
  await waitFor('fixed znode loaded', () => cache.bridge('junk'));
  cache.close();
});
