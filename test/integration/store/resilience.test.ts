// The store through ZooKeeper crashes and session expiry: a SIGKILLed server restarted on the same
// port and dataDir loses nothing persistent, caches serve while it is down and catch up after, and
// after an expiry owners re-create their ephemeral state (host, port active, learned routes, leases).
import {
  HostState,
  HostStateView,
  LearnedRoutesWriter,
  MacTable,
  NatLeases,
  TopologyStore,
  ZkTopologyCache,
} from '../../../src/agent-core/store/index.js';
import { parseIp, parseMac } from '../../../src/agent-core/packet/addr.js';
import { bridge, bridgePort, expireSession, quietLogger, router, routerPort, sleep, startProxy, startWorld, waitFor, type StoreWorld } from './store-kit.js';

/** Sessions expired through the proxy use a short timeout (ZooKeeper allows 2..20 ticks of 200 ms). */
const SHORT_SESSION_MS = 1000;

let world: StoreWorld;
beforeAll(async () => {
  world = await startWorld();
});
afterAll(async () => {
  await world?.teardown();
});

const MAC = parseMac('02:00:00:00:00:99') as number;
const NAT_IP = parseIp('203.0.113.5') as number;

test('a SIGKILLed ZooKeeper restarted on its dataDir: nothing persistent lost, caches serve meanwhile and catch up', async () => {
  const root = world.root();
  const [a, b] = [await world.connect(), await world.connect()];
  const store = new TopologyStore(a, { root });
  await store.ensureLayout();
  await store.createDevice(bridge('b1'), [bridgePort('p1', 'b1'), bridgePort('p2', 'b1')]);
  await store.createDevice(router('r1'), [routerPort('rp1', 'r1', '10.0.0.1/24')]);
  const host = new HostState(a, { hostId: 'ha', tunnelIp: '10.9.0.1', agentVersion: '1' }, { root });
  await host.register();
  await host.setPortActive('p1', 7);
  const cache = new ZkTopologyCache(b, { root, learnedRoutes: false });
  const b1 = await cache.ensure('bridge', 'b1');
  const ports = cache.portsOf('b1');
  const view = new HostStateView(b, { root });
  expect((await view.ensureHost('ha'))?.tunnelIp).toBe('10.9.0.1');

  const pid = world.zk.pid;
  await world.zk.kill();
  await waitFor('clients notice', () => a.state === 'suspended' && b.state === 'suspended');
  // Served from memory while the database is gone.
  expect(cache.bridge('b1')).toBe(b1);
  expect(cache.portsOf('b1')).toBe(ports);
  expect(view.host('ha')?.tunnelIp).toBe('10.9.0.1');

  await world.zk.restart();
  expect(world.zk.pid).not.toBe(pid);
  await waitFor('clients reconnect', () => a.state === 'connected' && b.state === 'connected', 20_000).catch((e: Error) => {
    throw new Error(`${e.message}: a ${a.state}, b ${b.state}; ZooKeeper log:\n${world.zk.log()}`);
  });
  expect(await store.list('port')).toEqual(['p1', 'p2', 'rp1']);
  expect((await store.get('router', 'r1'))?.object).toEqual(router('r1'));
  // The sessions survived the restart, and with them the ephemeral state.
  expect(view.host('ha')?.tunnelIp).toBe('10.9.0.1');
  expect((await view.ensurePortActive('p1'))?.tunnelKey).toBe(7);
  await store.update(bridge('b1', { name: 'after-restart' }));
  await store.create(bridgePort('p3', 'b1'));
  await waitFor('cache caught up', () => cache.bridge('b1')?.name === 'after-restart' && cache.portsOf('b1')?.length === 3);
  cache.close();
  view.close();
  host.close();
});

test('after a session expiry the owner re-creates its ephemeral state and other hosts see it again', async () => {
  const root = world.root();
  const proxy = await startProxy(world);
  const [a, b] = [await world.connect({ connectionString: proxy.connectionString, sessionTimeoutMs: SHORT_SESSION_MS }), await world.connect()];
  const host = new HostState(a, { hostId: 'ha', tunnelIp: '10.9.0.1', agentVersion: '1' }, { root, logger: quietLogger() });
  await host.register();
  await host.setPortActive('vm1', 11);
  const writer = new LearnedRoutesWriter(a, { routerId: 'prov', hostId: 'ha', root, logger: quietLogger() });
  await writer.replaceAll(Array.from({ length: 3000 }, (_, i) => ({ dst: `10.${i >> 8}.${i & 255}.0/24`, egressPortId: 'up', gateway: '192.0.2.1' })));
  const nat = new NatLeases(a, { root, releaseIdleAfterMs: 0, logger: quietLogger() });
  const block = await nat.leaseNatBlock('prov', NAT_IP);
  const macs = new MacTable(a, { root, logger: quietLogger() });
  await macs.learn('b1', 4096, MAC, 'vm1');

  const store = new TopologyStore(b, { root });
  await store.ensureLayout();
  await store.createDevice(router('prov'), []);
  const cache = new ZkTopologyCache(b, { root });
  const view = new HostStateView(b, { root });
  const macsB = new MacTable(b, { root });
  expect(await cache.ensureRoutes('prov')).toHaveLength(3000);
  await macsB.ensure('b1', 4096);
  await waitFor('mac at b', () => macsB.lookup('b1', 4096, MAC) === 'vm1');
  const oldSession = a.sessionIdHex;
  const generation = a.sessionGeneration;

  await expireSession(proxy, a, SHORT_SESSION_MS);
  expect(a.sessionGeneration).toBe(generation + 1);
  expect(a.sessionIdHex).not.toBe(oldSession);
  await waitFor('host registration re-created', async () => (await b.getData(`${root}/state/hosts/ha`))?.stat.ephemeralOwner.equals(a.sessionId) === true);
  await waitFor('b sees the host', () => view.host('ha')?.tunnelIp === '10.9.0.1' && view.portActive('vm1')?.tunnelKey === 11);
  await waitFor('routes re-created', () => cache.routes('prov')?.length === 3000);
  await waitFor('lease re-created', async () => (await b.exists(`${root}/nat/prov/203.0.113.5/${block}`))?.ephemeralOwner.equals(a.sessionId) === true);
  expect(nat.leasedBlocks('prov', NAT_IP)).toEqual([block]);
  // MAC entries are not re-created (documented): the next frame re-learns them.
  await waitFor('mac entry gone', () => macsB.lookup('b1', 4096, MAC) === null);
  await macs.learn('b1', 4096, MAC, 'vm1');
  await waitFor('mac re-learned', () => macsB.lookup('b1', 4096, MAC) === 'vm1');
  for (const x of [host, writer, nat, macs, cache, view, macsB]) x.close();
  await proxy.close();
});

test("a cache whose own session expired re-reads what it holds and follows changes again", async () => {
  const root = world.root();
  const proxy = await startProxy(world);
  const [a, b] = [await world.connect(), await world.connect({ connectionString: proxy.connectionString, sessionTimeoutMs: SHORT_SESSION_MS })];
  const store = new TopologyStore(a, { root });
  await store.ensureLayout();
  await store.createDevice(bridge('b1'), [bridgePort('p1', 'b1')]);
  const cache = new ZkTopologyCache(b, { root, learnedRoutes: false, logger: quietLogger() });
  await cache.ensure('bridge', 'b1');
  await cache.ensure('port', 'p1');
  const generation = b.sessionGeneration;
  // A change made while the cache's session is cut off and expiring must not be lost: the cache
  // re-reads everything it holds once its new session starts.
  const expiring = expireSession(proxy, b, SHORT_SESSION_MS);
  await sleep(200);
  await store.update(bridge('b1', { name: 'during' }));
  expect(cache.bridge('b1')?.name).toBeUndefined();
  await expiring;
  expect(b.sessionGeneration).toBe(generation + 1);
  await waitFor('change made during the partition', () => cache.bridge('b1')?.name === 'during');
  await sleep(50);
  await store.update(bridgePort('p1', 'b1', { vlanId: 5 }));
  await store.create(bridgePort('p2', 'b1'));
  await waitFor('watches re-armed in the new session', () => cache.port('p1')?.vlanId === 5 && cache.portsOf('b1')?.length === 2);
  cache.close();
  await proxy.close();
});
