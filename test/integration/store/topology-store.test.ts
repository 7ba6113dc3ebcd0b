// TopologyStore against a real ZooKeeper: CRUD of every type, validation, atomic multi-object
// changes under concurrent writers, and referential integrity (refusals and cascades).
import {
  ConcurrentModificationError,
  ObjectExistsError,
  ObjectInUseError,
  ObjectNotFoundError,
  PortPeeredError,
  TopologyStore,
  ValidationError,
  type ZkClient,
} from '../../../src/agent-core/store/index.js';
import type { PortGroup, Route, TopologyObject } from '../../../src/agent-core/topology/index.js';
import { acceptRule, bridge, bridgePort, chain, router, routerPort, startWorld, type StoreWorld } from './store-kit.js';

let world: StoreWorld;
let zk: ZkClient;

beforeAll(async () => {
  world = await startWorld();
  zk = await world.connect();
});
afterAll(async () => {
  await world?.teardown();
});

async function freshStore(client: ZkClient = zk, root = world.root()): Promise<TopologyStore> {
  const s = new TopologyStore(client, { root });
  await s.ensureLayout();
  return s;
}

/** Every znode under the root's topology, as paths (to prove a failed change left nothing). */
async function tree(client: ZkClient, path: string): Promise<string[]> {
  const res = await client.getChildren(path);
  if (res === undefined) return [];
  const out: string[] = [];
  for (const c of res.children.sort()) {
    out.push(`${path}/${c}`);
    out.push(...(await tree(client, `${path}/${c}`)));
  }
  return out;
}

describe('CRUD of every object type', () => {
  test('create, read, update and delete round-trip each type as JSON with a schema version', async () => {
    const s = await freshStore();
    const r = router('r1');
    const p = routerPort('rp1', 'r1', '192.0.2.1/24');
    const b = bridge('b1');
    const bp = bridgePort('bp1', 'b1');
    const c = chain('c1');
    const rule = acceptRule('rule1', 'c1');
    const g: PortGroup = { type: 'portGroup', id: 'g1', stateful: true, portIds: ['rp1'] };
    const route: Route = { type: 'route', id: 'rt1', routerId: 'r1', dst: '198.51.100.0/24', nextHop: 'port', egressPortId: 'rp1', gateway: '192.0.2.254', weight: 10, origin: 'static' };
    for (const o of [r, p, b, bp, c] as TopologyObject[]) await s.create(o);
    await s.insertRule(rule);
    await s.create(g);
    await s.create(route);

    expect((await s.get('router', 'r1'))?.object).toEqual(r);
    expect((await s.get('port', 'rp1'))?.object).toEqual(p);
    expect((await s.get('bridge', 'b1'))?.object).toEqual(b);
    expect((await s.get('chain', 'c1'))?.object).toEqual({ ...c, ruleIds: ['rule1'] });
    expect((await s.get('rule', 'rule1'))?.object).toEqual(rule);
    expect((await s.get('portGroup', 'g1'))?.object).toEqual(g);
    expect((await s.get('route', 'rt1'))?.object).toEqual(route);
    const raw = await zk.getData(`${s.paths.root}/topology/route/rt1`);
    expect(JSON.parse(raw?.data.toString() ?? '')).toEqual({ schemaVersion: 1, object: route });

    const before = await s.get('bridge', 'b1');
    await s.update({ ...b, name: 'tenant' });
    const after = await s.get('bridge', 'b1');
    expect(after?.object.name).toBe('tenant');
    expect(after?.version).toBe((before?.version ?? 0) + 1);
    expect(await s.list('port')).toEqual(['bp1', 'rp1']);
    // An update against a version that is no longer current is refused.
    await expect(s.update({ ...b, name: 'stale' }, before?.version)).rejects.toBeInstanceOf(ConcurrentModificationError);
    await s.update({ ...b, name: 'fresh' }, after?.version);
    expect((await s.get('bridge', 'b1'))?.object.name).toBe('fresh');

    await expect(s.create(b)).rejects.toBeInstanceOf(ObjectExistsError);
    await expect(s.update(bridge('nope'))).rejects.toBeInstanceOf(ObjectNotFoundError);
    await s.delete('route', 'rt1');
    await s.delete('portGroup', 'g1');
    expect(await s.get('route', 'rt1')).toBeUndefined();
    expect(await s.get('portGroup', 'g1')).toBeUndefined();
  });

  test('ids that are not plain text round-trip through the path encoding', async () => {
    const s = await freshStore();
    await s.create(bridge('tenant/a,b:c'));
    expect(await s.list('bridge')).toEqual(['tenant/a,b:c']);
    expect((await s.get('bridge', 'tenant/a,b:c'))?.object.id).toBe('tenant/a,b:c');
  });

  test('an invalid object is refused with the validation messages and nothing is written', async () => {
    const s = await freshStore();
    const bad = routerPort('p1', 'missing-router', '192.0.2.0/24');
    const err = await s.create(bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).message).toContain('port p1: deviceId "missing-router" names no router');
    expect((err as ValidationError).message).toContain('is the network address of its subnet');
    expect(await s.get('port', 'p1')).toBeUndefined();
    await expect(s.create(router('r', { preRoutingChainId: 'no-chain' }))).rejects.toThrow('preRoutingChainId "no-chain" names no chain');
  });
});

describe('atomic multi-object changes', () => {
  test('a router with its ports is created together, or not at all', async () => {
    const s = await freshStore();
    await s.createDevice(router('r1'), [routerPort('p1', 'r1', '10.0.0.1/24'), routerPort('p2', 'r1', '10.0.1.1/24')]);
    expect(await s.list('port')).toEqual(['p1', 'p2']);
    const before = await tree(zk, `${s.paths.root}/topology`);
    // The second port is invalid: neither the router nor the first port may appear.
    const err = await s.createDevice(router('r2'), [routerPort('q1', 'r2', '10.0.2.1/24'), routerPort('q2', 'r2', 'not-an-address')]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect(await tree(zk, `${s.paths.root}/topology`)).toEqual(before);
  });

  test('peering updates both ports together; concurrent peering attempts on one port: exactly one wins', async () => {
    const clients = [zk, await world.connect(), await world.connect()];
    const root = world.root();
    const stores = await Promise.all(clients.map((c) => freshStore(c, root)));
    const s = stores[0];
    await s.create(router('r1'));
    await s.create(bridge('b1'));
    await s.create(bridge('b2'));
    await s.create(bridge('b3'));
    await s.create(routerPort('rp', 'r1', '10.0.0.1/24'));
    for (const b of ['b1', 'b2', 'b3']) await s.create(bridgePort(`${b}p`, b));
    const results = await Promise.allSettled(['b1p', 'b2p', 'b3p'].map((bp, i) => stores[i].peerPorts('rp', bp)));
    const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [['b1p', 'b2p', 'b3p'][i]] : []));
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(PortPeeredError);
    const rp = (await s.get('port', 'rp'))?.object;
    expect(rp?.peerId).toBe(won[0]);
    for (const bp of ['b1p', 'b2p', 'b3p']) expect((await s.get('port', bp))?.object.peerId).toBe(bp === won[0] ? 'rp' : undefined);
    await s.unpeerPort('rp');
    expect((await s.get('port', 'rp'))?.object.peerId).toBeUndefined();
    expect((await s.get('port', won[0]))?.object.peerId).toBeUndefined();
  });

  test('20 concurrent rule inserts into one chain from 4 clients all land exactly once', async () => {
    const clients = [zk, ...(await Promise.all([1, 2, 3].map(() => world.connect())))];
    const root = world.root();
    const stores = await Promise.all(clients.map((c) => freshStore(c, root)));
    await stores[0].create(chain('c1'));
    const ids = Array.from({ length: 20 }, (_, i) => `rule-${i}`);
    await Promise.all(ids.map((id, i) => stores[i % stores.length].insertRule(acceptRule(id, 'c1'))));
    const c = (await stores[0].get('chain', 'c1'))?.object;
    expect([...(c?.ruleIds ?? [])].sort()).toEqual([...ids].sort());
    expect(c?.ruleIds).toHaveLength(20);
    for (const id of ids) expect((await stores[1].get('rule', id))?.object.chainId).toBe('c1');
  });

  test('inserting at a position and deleting a rule keep the chain and its rules consistent', async () => {
    const s = await freshStore();
    await s.create(chain('c1'));
    await s.insertRule(acceptRule('a', 'c1'));
    await s.insertRule(acceptRule('c', 'c1'));
    await s.insertRule(acceptRule('b', 'c1'), 1);
    expect((await s.get('chain', 'c1'))?.object.ruleIds).toEqual(['a', 'b', 'c']);
    await s.delete('rule', 'b');
    expect((await s.get('chain', 'c1'))?.object.ruleIds).toEqual(['a', 'c']);
    expect(await s.get('rule', 'b')).toBeUndefined();
  });

  test('concurrent inserts and a chain delete never leave a rule without its chain', async () => {
    const clients = [zk, await world.connect()];
    const root = world.root();
    const [s1, s2] = await Promise.all(clients.map((c) => freshStore(c, root)));
    await s1.create(chain('c1'));
    const inserts = Array.from({ length: 10 }, (_, i) => s1.insertRule(acceptRule(`r${i}`, 'c1')).then(() => 'ok', (e: unknown) => e));
    const del = (async () => {
      await new Promise((r) => setTimeout(r, 5));
      return s2.delete('chain', 'c1').then(() => 'deleted', (e: unknown) => e);
    })();
    const outcomes = await Promise.all([...inserts, del]);
    for (const o of outcomes) if (o !== 'ok' && o !== 'deleted') expect(o).toBeInstanceOf(ObjectNotFoundError);
    const chainNow = (await s1.get('chain', 'c1'))?.object;
    const rules = await s1.list('rule');
    if (chainNow === undefined) expect(rules).toEqual([]);
    else expect([...chainNow.ruleIds].sort()).toEqual(rules);
  });
});

describe('referential integrity', () => {
  test('a chain used by a router cannot be deleted; the error names the router', async () => {
    const s = await freshStore();
    await s.create(chain('pre'));
    await s.create(router('r1', { preRoutingChainId: 'pre' }));
    const err = await s.delete('chain', 'pre').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ObjectInUseError);
    expect((err as ObjectInUseError).referrers).toEqual([{ objectType: 'router', id: 'r1' }]);
    expect((err as Error).message).toBe('chain pre is in use by router r1; change or delete those first');
    await s.update(router('r1'));
    await s.delete('chain', 'pre');
    expect(await s.get('chain', 'pre')).toBeUndefined();
  });

  test('a peered port cannot be deleted, nor the bridge holding it; nothing is deleted', async () => {
    const s = await freshStore();
    await s.create(router('r1'));
    await s.create(bridge('b1'));
    await s.create(routerPort('rp', 'r1', '10.0.0.1/24'));
    await s.create(bridgePort('bp', 'b1'));
    await s.create(bridgePort('bp2', 'b1'));
    await s.peerPorts('rp', 'bp');
    const before = await tree(zk, `${s.paths.root}/topology`);
    await expect(s.delete('port', 'bp')).rejects.toThrow('port bp is peered with port rp; unpeer it before deleting it');
    await expect(s.delete('bridge', 'b1')).rejects.toBeInstanceOf(PortPeeredError);
    expect(await tree(zk, `${s.paths.root}/topology`)).toEqual(before);
  });

  test('deleting a bridge deletes its ports; deleting a router its ports and routes', async () => {
    const s = await freshStore();
    await s.createDevice(bridge('b1'), [bridgePort('p1', 'b1'), bridgePort('p2', 'b1')]);
    await s.createDevice(router('r1'), [routerPort('rp1', 'r1', '10.0.0.1/24')]);
    await s.create({ type: 'route', id: 'rt', routerId: 'r1', dst: '0.0.0.0/0', nextHop: 'port', egressPortId: 'rp1', weight: 1, origin: 'static' });
    await s.delete('bridge', 'b1');
    expect(await s.list('port')).toEqual(['rp1']);
    await s.delete('router', 'r1');
    expect(await s.list('port')).toEqual([]);
    expect(await s.list('route')).toEqual([]);
    // Nothing but the empty type directories is left: the reference znodes went with the objects.
    expect((await tree(zk, `${s.paths.root}/topology`)).filter((p) => p.split('/').length > 4)).toEqual([]);
  });

  test('deleting a chain deletes its rules; a chain another chain jumps to is refused', async () => {
    const s = await freshStore();
    await s.create(chain('c1'));
    await s.create(chain('target'));
    await s.insertRule(acceptRule('r1', 'c1'));
    await s.insertRule({ id: 'j', chainId: 'c1', kind: 'jump', jumpChainId: 'target', condition: {} });
    await expect(s.delete('chain', 'target')).rejects.toThrow('chain target is in use by rule j');
    await s.delete('chain', 'c1');
    expect(await s.list('rule')).toEqual([]);
    await s.delete('chain', 'target');
  });

  test('deleting a port takes it out of its port groups and deletes routes through it', async () => {
    const s = await freshStore();
    await s.createDevice(router('r1'), [routerPort('p1', 'r1', '10.0.0.1/24'), routerPort('p2', 'r1', '10.0.1.1/24')]);
    await s.create({ type: 'portGroup', id: 'g', stateful: true, portIds: ['p1', 'p2'] });
    await s.create({ type: 'route', id: 'via-p1', routerId: 'r1', dst: '0.0.0.0/0', nextHop: 'port', egressPortId: 'p1', weight: 1, origin: 'static' });
    await s.delete('port', 'p1');
    expect((await s.get('portGroup', 'g'))?.object.portIds).toEqual(['p2']);
    expect(await s.get('route', 'via-p1')).toBeUndefined();
  });

  test('a port named by a rule condition cannot be deleted', async () => {
    const s = await freshStore();
    await s.createDevice(bridge('b1'), [bridgePort('p1', 'b1')]);
    await s.create(chain('c1'));
    await s.insertRule({ id: 'only-p1', chainId: 'c1', kind: 'literal', action: 'drop', condition: { inPorts: { value: ['p1'] } } });
    await expect(s.delete('bridge', 'b1')).rejects.toThrow('port p1 is in use by rule only-p1');
    expect(await s.list('port')).toEqual(['p1']);
  });
});
