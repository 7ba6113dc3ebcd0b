// Uplinks reconciled into a real ZooKeeper (issue 5: "Reconciled on start and on reload into the
// store: port exists, bound here, member of the ingress set"), writing only the difference.
import { TopologyStore } from '../../../src/agent-core/store/index.js';
import { TopologyBuilder } from '../../../src/agent-core/topology/index.js';
import type { UplinkConfig } from '../../../src/gateway/config/index.js';
import { UplinkConfigError, reconcileUplinks } from '../../../src/gateway/uplinks.js';
import { startWorld, type StoreWorld } from '../store/store-kit.js';

let world: StoreWorld;
let store: TopologyStore;

beforeAll(async () => {
  world = await startWorld();
}, 60_000);

afterAll(async () => {
  await world?.teardown();
});

beforeEach(async () => {
  store = new TopologyStore(await world.connect(), { root: world.root() });
  await store.ensureLayout();
  const b = new TopologyBuilder();
  b.router({ id: 'provider' });
  await store.transact('router', async (tx) => {
    for (const o of b.objects()) tx.put(o);
  });
});

function uplink(name: string, portId: string, address: string, mac: string): UplinkConfig {
  return { name, interface: `eth-${name}`, router: 'provider', port: { id: portId, address: [address], mac }, ingressSet: 'ingress-1', advertise: [], peers: [] };
}

test('creates the ports on the provider router, bound to this host, and the ingress set with both', async () => {
  const ups = [uplink('a', 'up-a', '192.0.2.2/28', '02:00:00:00:01:0a'), uplink('b', 'up-b', '198.51.100.2/28', '02:00:00:00:01:0b')];
  const r = await reconcileUplinks(store, ups, 'gw-1');
  expect(r).toEqual({ portsWritten: ['up-a', 'up-b'], groupsWritten: ['ingress-1'] });
  const port = (await store.get('port', 'up-a'))?.object;
  expect(port).toMatchObject({ deviceId: 'provider', deviceType: 'router', hostId: 'gw-1', interfaceName: 'eth-a', addresses: ['192.0.2.2/28'], mac: '02:00:00:00:01:0a' });
  expect((await store.get('portGroup', 'ingress-1'))?.object).toMatchObject({ stateful: true, portIds: ['up-a', 'up-b'] });
});

test('a second run with the same uplinks writes nothing; a changed address rewrites only that port', async () => {
  const ups = [uplink('a', 'up-a', '192.0.2.2/28', '02:00:00:00:01:0a'), uplink('b', 'up-b', '198.51.100.2/28', '02:00:00:00:01:0b')];
  await reconcileUplinks(store, ups, 'gw-1');
  const v = (await store.get('port', 'up-b'))?.version;
  expect(await reconcileUplinks(store, ups, 'gw-1')).toEqual({ portsWritten: [], groupsWritten: [] });
  const changed = [ups[0]!, uplink('b', 'up-b', '198.51.100.3/28', '02:00:00:00:01:0b')];
  expect(await reconcileUplinks(store, changed, 'gw-1')).toEqual({ portsWritten: ['up-b'], groupsWritten: [] });
  expect((await store.get('port', 'up-b'))?.version).toBe(v! + 1);
});

test('another gateway joins the same ingress set with its own uplink', async () => {
  await reconcileUplinks(store, [uplink('a', 'up-a', '192.0.2.2/28', '02:00:00:00:01:0a')], 'gw-1');
  await reconcileUplinks(store, [uplink('b', 'up-b', '198.51.100.2/28', '02:00:00:00:01:0b')], 'gw-2');
  expect((await store.get('portGroup', 'ingress-1'))?.object.portIds).toEqual(['up-a', 'up-b']);
  expect((await store.get('port', 'up-b'))?.object.hostId).toBe('gw-2');
});

test('clear errors, nothing written: a missing router, a port another host binds', async () => {
  await expect(reconcileUplinks(store, [{ ...uplink('a', 'up-a', '192.0.2.2/28', '02:00:00:00:01:0a'), router: 'nope' }], 'gw-1'))
    .rejects.toThrow(new UplinkConfigError('uplink a: router nope does not exist in the topology'));
  await reconcileUplinks(store, [uplink('a', 'up-a', '192.0.2.2/28', '02:00:00:00:01:0a')], 'gw-1');
  await expect(reconcileUplinks(store, [uplink('a', 'up-a', '192.0.2.2/28', '02:00:00:00:01:0a'), uplink('c', 'up-c', '203.0.113.2/28', '02:00:00:00:01:0c')], 'gw-2'))
    .rejects.toThrow('uplink a: port up-a is bound to host gw-1, not gw-2');
  expect(await store.get('port', 'up-c')).toBeUndefined();
});
