// Learned (BGP) routes: 100k routes of a gateway written in batch znodes, read by another agent's
// cache merged with static routes, updated incrementally, and gone with the gateway's session.
import { LearnedRoutesWriter, TopologyStore, ZkTopologyCache, type LearnedRoute } from '../../../src/agent-core/store/index.js';
import { router, routerPort, startWorld, waitFor, type StoreWorld } from './store-kit.js';

let world: StoreWorld;
beforeAll(async () => {
  world = await startWorld();
});
afterAll(async () => {
  await world?.teardown();
});

function routes(n: number, port: string, gateway: string, offset = 0): LearnedRoute[] {
  return Array.from({ length: n }, (_, i) => {
    const k = i + offset;
    return { dst: `${10 + (k >> 16)}.${(k >> 8) & 255}.${k & 255}.0/24`, egressPortId: port, gateway };
  });
}

test('100k routes of a gateway reach another agent as bgp routes of the router, and vanish with its session', async () => {
  const root = world.root();
  const [gwA, gwC, agent] = [await world.connect(), await world.connect(), await world.connect()];
  const store = new TopologyStore(agent, { root });
  await store.ensureLayout();
  await store.createDevice(router('provider'), [routerPort('up-a', 'provider', '203.0.113.1/24'), routerPort('up-c', 'provider', '198.51.100.1/24')]);
  await store.create({ type: 'route', id: 'static-default', routerId: 'provider', dst: '0.0.0.0/0', nextHop: 'port', egressPortId: 'up-a', gateway: '203.0.113.254', weight: 200, origin: 'static' });

  const writerA = new LearnedRoutesWriter(gwA, { routerId: 'provider', hostId: 'gw-a', root });
  const t0 = Date.now();
  await writerA.replaceAll(routes(100_000, 'up-a', '203.0.113.254'));
  const writeMs = Date.now() - t0;
  const dir = `${root}/tables/routers/provider/routes/gw-a`;
  const batches = (await agent.getChildren(dir))?.children ?? [];
  expect(batches.length).toBe(128);
  for (const name of batches.slice(0, 5)) {
    const d = await agent.getData(`${dir}/${name}`);
    expect(d?.stat.ephemeralOwner.equals(gwA.sessionId)).toBe(true);
    expect(JSON.parse(d?.data.toString() ?? '').routes.length).toBeLessThanOrEqual(1000);
  }

  const cache = new ZkTopologyCache(agent, { root });
  const t1 = Date.now();
  const all = await cache.ensureRoutes('provider');
  const readMs = Date.now() - t1;
  console.log(`100k learned routes: written in ${writeMs} ms, read into another cache in ${readMs} ms`);
  expect(all).toHaveLength(100_001);
  expect(all?.filter((r) => r.origin === 'static').map((r) => r.id)).toEqual(['static-default']);
  const one = all?.find((r) => r.dst === '10.1.2.0/24');
  expect(one).toMatchObject({ type: 'route', routerId: 'provider', nextHop: 'port', egressPortId: 'up-a', gateway: '203.0.113.254', origin: 'bgp', weight: 100 });
  expect(cache.routes('provider')).toBe(all);

  // An update rewrites only the batches it touches, and readers get a new array.
  const versions = new Map<string, number>();
  for (const name of batches) versions.set(name, (await agent.exists(`${dir}/${name}`))?.version ?? -1);
  await writerA.update({ add: routes(10, 'up-a', '203.0.113.254', 200_000), remove: routes(5, 'up-a', '203.0.113.254') });
  await waitFor('update seen', () => cache.routes('provider')?.length === 100_006);
  expect(cache.routes('provider')).not.toBe(all);
  expect(cache.routes('provider')?.some((r) => r.dst === '10.0.0.0/24')).toBe(false);
  let rewritten = 0;
  for (const name of batches) if ((await agent.exists(`${dir}/${name}`))?.version !== versions.get(name)) rewritten++;
  expect(rewritten).toBeGreaterThan(0);
  expect(rewritten).toBeLessThanOrEqual(15);

  // A second gateway's routes are merged; the first gateway's vanish with its session.
  const writerC = new LearnedRoutesWriter(gwC, { routerId: 'provider', hostId: 'gw-c', root });
  await writerC.replaceAll(routes(1000, 'up-c', '198.51.100.254'));
  await waitFor('both gateways', () => cache.routes('provider')?.length === 101_006);
  await gwA.close();
  await waitFor('gw-a routes gone', () => cache.routes('provider')?.length === 1001, 20_000);
  expect(new Set(cache.routes('provider')?.map((r) => r.egressPortId))).toEqual(new Set(['up-a', 'up-c']));
  expect(cache.routes('provider')?.filter((r) => r.origin === 'bgp').every((r) => r.egressPortId === 'up-c')).toBe(true);

  // Withdrawing everything (BGP session down) removes the batches.
  await writerC.clear();
  await waitFor('gw-c routes withdrawn', () => cache.routes('provider')?.length === 1);
  expect((await agent.getChildren(`${root}/tables/routers/provider/routes/gw-c`))?.children).toEqual([]);
  writerA.close();
  writerC.close();
  cache.close();
});

test('growing and shrinking re-buckets without losing or doubling routes', async () => {
  const root = world.root();
  const gw = await world.connect();
  const reader = await world.connect();
  const writer = new LearnedRoutesWriter(gw, { routerId: 'r', hostId: 'gw', root, routesPerBatch: 100 });
  await writer.replaceAll(routes(50, 'p', '192.0.2.1'));
  await writer.update({ add: routes(950, 'p', '192.0.2.1', 50) });
  const dir = `${root}/tables/routers/r/routes/gw`;
  const count = async (): Promise<number> => {
    let n = 0;
    for (const c of (await reader.getChildren(dir))?.children ?? []) n += JSON.parse((await reader.getData(`${dir}/${c}`))?.data.toString() ?? '').routes.length;
    return n;
  };
  expect(await count()).toBe(1000);
  expect((await reader.getChildren(dir))?.children.length).toBe(16);
  await writer.replaceAll(routes(30, 'p', '192.0.2.1'));
  expect(await count()).toBe(30);
  expect((await reader.getChildren(dir))?.children.length).toBe(1);
  writer.close();
});
