// TunnelPeers against a real ZooKeeper: the set of registered hosts' tunnel IPs follows hosts that
// register and whose sessions close, is served while the watcher's link is cut, and follows again
// after a reconnect and after its own session expired (DESIGN: Store; Tunnels).
import { HostState, HostStateView, TunnelPeers, type ZkClient } from '../../../src/agent-core/store/index.js';
import { capturingLogger, expireSession, quietLogger, sleep, startProxy, startWorld, waitFor, type StoreWorld } from './store-kit.js';

const SHORT_SESSION_MS = 1000;

let world: StoreWorld;
beforeAll(async () => {
  world = await startWorld();
});
afterAll(async () => {
  await world?.teardown();
});

async function register(zk: ZkClient, root: string, hostId: string, tunnelIp: string): Promise<HostState> {
  const h = new HostState(zk, { hostId, tunnelIp, agentVersion: '1' }, { root, logger: quietLogger() });
  await h.register();
  return h;
}

function watcher(zk: ZkClient, root: string, logger = quietLogger()): { peers: TunnelPeers; view: HostStateView; seen: string[][] } {
  const view = new HostStateView(zk, { root, logger });
  const peers = new TunnelPeers(zk, view, { root, logger });
  const seen: string[][] = [];
  peers.onChange((ips) => seen.push([...ips].sort()));
  return { peers, view, seen };
}

const sorted = (ips: ReadonlySet<string> | undefined): string[] | undefined => (ips === undefined ? undefined : [...ips].sort());

test('hosts that register join the set, hosts whose session closes leave it; unusable IPs are left out', async () => {
  const root = world.root();
  const w = watcher(await world.connect(), root);
  expect(w.peers.tunnelIps()).toBeUndefined();
  // No hosts directory yet: an empty set, and the directory's creation is watched.
  expect(sorted(await w.peers.ensure())).toEqual([]);

  const a = await world.connect();
  const hostA = await register(a, root, 'ha', '192.0.2.1');
  await waitFor('host a', () => w.peers.tunnelIps()?.has('192.0.2.1'));
  const b = await world.connect();
  await register(b, root, 'hb', '192.0.2.2');
  await waitFor('host b', () => w.peers.tunnelIps()?.has('192.0.2.2'));
  const { logger, records } = capturingLogger();
  const bad = await world.connect();
  await register(bad, root, 'hbad', 'not-an-address');
  await register(bad, root, 'hc', '2001:db8::3');
  await waitFor('host c', () => w.peers.tunnelIps()?.has('2001:db8::3'));
  expect(sorted(w.peers.tunnelIps())).toEqual(['192.0.2.1', '192.0.2.2', '2001:db8::3']);
  // The same store seen by a fresh watcher with a capturing logger: the bad address is logged.
  const w2 = watcher(await world.connect(), root, logger);
  expect(sorted(await w2.peers.ensure())).toEqual(['192.0.2.1', '192.0.2.2', '2001:db8::3']);
  expect(records.some((r) => r.level === 50 && r.tunnelIp === 'not-an-address' && r.hostId === 'hbad')).toBe(true);

  // A crash: the session closes without unregistering; the ephemeral node goes with it.
  await b.close();
  await waitFor('host b gone', () => w.peers.tunnelIps()?.has('192.0.2.2') === false);
  // A clean shutdown.
  await hostA.unregister();
  await waitFor('host a gone', () => w.peers.tunnelIps()?.has('192.0.2.1') === false);
  expect(sorted(w.peers.tunnelIps())).toEqual(['2001:db8::3']);
  // Every reported set differs from the one before, and the last report is the current set.
  for (let i = 1; i < w.seen.length; i++) expect(w.seen[i]).not.toEqual(w.seen[i - 1]);
  expect(w.seen.at(-1)).toEqual(['2001:db8::3']);
  for (const x of [w, w2]) {
    x.peers.close();
    x.view.close();
  }
});

test('while the link is cut the last set is served; after reconnect and after an expiry it follows again', async () => {
  const root = world.root();
  const proxy = await startProxy(world);
  const zk = await world.connect({ connectionString: proxy.connectionString, sessionTimeoutMs: SHORT_SESSION_MS * 4 });
  const w = watcher(zk, root);
  const a = await world.connect();
  await register(a, root, 'ha', '198.51.100.1');
  const b = await world.connect();
  await register(b, root, 'hb', '198.51.100.2');
  expect(sorted(await w.peers.ensure())).toEqual(['198.51.100.1', '198.51.100.2']);

  // A short partition (the session survives): changes made meanwhile arrive after it.
  proxy.partition();
  await waitFor('watcher suspended', () => zk.state === 'suspended');
  await b.close();
  const c = await world.connect();
  await register(c, root, 'hc', '198.51.100.3');
  await sleep(300);
  expect(sorted(w.peers.tunnelIps())).toEqual(['198.51.100.1', '198.51.100.2']);
  proxy.heal();
  await waitFor('set after reconnect', () => sorted(w.peers.tunnelIps())?.join() === '198.51.100.1,198.51.100.3', 20_000);

  // The watcher's own session expires (4 s timeout: the partition lasts past it).
  const generation = zk.sessionGeneration;
  await expireSession(proxy, zk, SHORT_SESSION_MS * 4);
  expect(zk.sessionGeneration).toBe(generation + 1);
  expect(sorted(w.peers.tunnelIps())).toEqual(['198.51.100.1', '198.51.100.3']);
  // Watches re-armed in the new session.
  const d = await world.connect();
  await register(d, root, 'hd', '198.51.100.4');
  await waitFor('host d after expiry', () => w.peers.tunnelIps()?.has('198.51.100.4'));
  await c.close();
  await waitFor('host c gone after expiry', () => w.peers.tunnelIps()?.has('198.51.100.3') === false);
  expect(sorted(w.peers.tunnelIps())).toEqual(['198.51.100.1', '198.51.100.4']);
  w.peers.close();
  w.view.close();
  await proxy.close();
}, 60_000);
