// MAC and ARP tables, host registration and port active state across two clients of a real
// ZooKeeper: propagation, highest sequence wins, and entries vanishing with their owner's session.
import { ArpTable, HostState, HostStateView, LearnedRoutesReader, MacTable, type MacChange } from '../../../src/agent-core/store/index.js';
import { parseIp, parseMac } from '../../../src/agent-core/packet/addr.js';
import { capturingLogger, startWorld, waitFor, type StoreWorld } from './store-kit.js';

let world: StoreWorld;
beforeAll(async () => {
  world = await startWorld();
});
afterAll(async () => {
  await world?.teardown();
});

const MAC_A = parseMac('02:00:00:00:00:0a') as number;
const MAC_B = parseMac('02:00:00:00:00:0b') as number;
const VLAN = 4096;

test('a learned MAC reaches the other host; unknown is null once loaded, undefined before', async () => {
  const root = world.root();
  const [a, b] = [await world.connect(), await world.connect()];
  const ta = new MacTable(a, { root });
  const tb = new MacTable(b, { root });
  const changes: MacChange[] = [];
  tb.onChange((c) => changes.push(c));
  expect(tb.lookup('br1', VLAN, MAC_A)).toBeUndefined();
  await tb.ensure('br1', VLAN);
  expect(tb.lookup('br1', VLAN, MAC_A)).toBeNull();
  await ta.learn('br1', VLAN, MAC_A, 'port-1');
  await waitFor('entry at b', () => tb.lookup('br1', VLAN, MAC_A) === 'port-1');
  expect(tb.lookup('br1', VLAN, MAC_A)).toBe('port-1');
  expect(changes).toContainEqual({ bridgeId: 'br1', vlanId: VLAN, mac: MAC_A, portId: 'port-1', tag: 'mac:br1:4096:02:00:00:00:00:0a' });
  // Another VLAN is another table.
  await tb.ensure('br1', 7);
  expect(tb.lookup('br1', 7, MAC_A)).toBeNull();
  // A MAC moving: the newer entry (higher sequence) wins everywhere, and the old owner removes its own.
  await tb.learn('br1', VLAN, MAC_A, 'port-2');
  await waitFor('move seen at a', () => ta.lookup('br1', VLAN, MAC_A) === 'port-2');
  await waitFor('old entry cleaned up', async () => (await a.getChildren(`${root}/tables/bridges/br1/mac/${VLAN}`))?.children.length === 1);
  await tb.forget('br1', VLAN, MAC_A);
  await waitFor('forgotten at a', () => ta.lookup('br1', VLAN, MAC_A) === null);
  ta.close();
  tb.close();
});

test("when a host's session ends its MAC and ARP entries vanish from the other host's view", async () => {
  const root = world.root();
  const [a, b] = [await world.connect(), await world.connect()];
  const [ma, mb] = [new MacTable(a, { root }), new MacTable(b, { root })];
  const [aa, ab] = [new ArpTable(a, { root }), new ArpTable(b, { root })];
  await ma.learn('br1', VLAN, MAC_A, 'pa');
  await mb.learn('br1', VLAN, MAC_B, 'pb');
  const ip4 = parseIp('192.0.2.7') as number;
  const ip6 = parseIp('2001:db8::7') as bigint;
  await aa.learn('r1', ip4, MAC_A);
  await aa.learn('r1', ip6, MAC_A);
  expect(ab.lookup('r1', ip4)).toBeUndefined();
  await ab.ensure('r1');
  await waitFor('arp at b', () => ab.lookup('r1', ip4) === MAC_A && ab.lookup('r1', ip6) === MAC_A);
  await waitFor('mac at b', () => mb.lookup('br1', VLAN, MAC_A) === 'pa');
  const gone: string[] = [];
  mb.onChange((c) => c.portId === null && gone.push(c.tag));
  ab.onChange((c) => c.mac === null && gone.push(c.tag));
  await a.close();
  await waitFor('a entries gone at b', () => mb.lookup('br1', VLAN, MAC_A) === null && ab.lookup('r1', ip4) === undefined);
  expect(ab.lookup('r1', ip6)).toBeUndefined();
  expect(mb.lookup('br1', VLAN, MAC_B)).toBe('pb');
  expect(gone.sort()).toEqual(['arp:r1:192.0.2.7', 'arp:r1:2001:db8::7', 'mac:br1:4096:02:00:00:00:00:0a']);
  for (const t of [ma, mb, aa, ab]) t.close();
});

test('host registration and port active state are seen by others and vanish with the session', async () => {
  const root = world.root();
  const [a, b] = [await world.connect(), await world.connect()];
  const host = new HostState(a, { hostId: 'host-a', tunnelIp: '10.9.0.1', agentVersion: '0.1.0' }, { root });
  await host.register();
  await host.setPortActive('vm-port-1', 42);
  const view = new HostStateView(b, { root });
  expect(await view.ensureHost('host-a')).toEqual({ hostId: 'host-a', tunnelIp: '10.9.0.1', agentVersion: '0.1.0', alive: true });
  expect(await view.ensurePortActive('vm-port-1')).toEqual({ portId: 'vm-port-1', hostId: 'host-a', tunnelKey: 42 });
  expect(await view.ensurePortActive('vm-port-2')).toBeNull();
  await host.setPortActive('vm-port-2', 43);
  await waitFor('second port active', () => view.portActive('vm-port-2')?.tunnelKey === 43);
  await host.clearPortActive('vm-port-2');
  await waitFor('second port inactive', () => view.portActive('vm-port-2') === null);
  await a.close();
  await waitFor('host gone', () => view.host('host-a') === null && view.portActive('vm-port-1') === null);
  view.close();
  host.close();
});

test('a host restarting within its old session timeout takes its registration over', async () => {
  const root = world.root();
  const old = await world.connect();
  await new HostState(old, { hostId: 'h', tunnelIp: '10.0.0.1', agentVersion: '1' }, { root }).register();
  const fresh = await world.connect();
  const host = new HostState(fresh, { hostId: 'h', tunnelIp: '10.0.0.2', agentVersion: '2' }, { root });
  await host.register();
  const node = await fresh.getData(`${root}/state/hosts/h`);
  expect(node?.stat.ephemeralOwner.equals(fresh.sessionId)).toBe(true);
  expect(JSON.parse(node?.data.toString() ?? '').host.tunnelIp).toBe('10.0.0.2');
  host.close();
});

test('malformed table entries, host records and route batches are logged and skipped, not fatal', async () => {
  const root = world.root();
  const [a, b] = [await world.connect(), await world.connect()];
  const { logger, records } = capturingLogger();
  const macDir = `${root}/tables/bridges/br1/mac/4096`;
  await a.mkdirp(macDir);
  await a.create(`${macDir}/garbage`, Buffer.alloc(0), 'ephemeral');
  await a.create(`${macDir}/02:00:00:00:00:0a,p%zz,`, Buffer.alloc(0), 'ephemeralSequential');
  await a.mkdirp(`${root}/state/hosts`);
  await a.create(`${root}/state/hosts/h1`, Buffer.from('{"schemaVersion":1,"host":{"hostId":"h1"}}'), 'ephemeral');
  await a.create(`${root}/state/hosts/h2`, Buffer.from('\u0000\u0001binary'), 'ephemeral');
  const routesDir = `${root}/tables/routers/r1/routes/gw`;
  await a.mkdirp(routesDir);
  await a.create(`${routesDir}/1-0`, Buffer.from('{"schemaVersion":1,"routes":[["10.0.0.0/8","up",null,1]]}'), 'ephemeral');
  await a.create(`${routesDir}/junk`, Buffer.from('[not json'), 'ephemeral');

  const macs = new MacTable(b, { root, logger });
  await macs.ensure('br1', 4096);
  // The entry with a value that is not percent-encoding still answers (as the raw text).
  expect(macs.lookup('br1', 4096, MAC_A)).toBe('p%zz');
  const view = new HostStateView(b, { root, logger });
  expect(await view.ensureHost('h1')).toBeNull();
  expect(await view.ensureHost('h2')).toBeNull();
  const reader = new LearnedRoutesReader(b, { root, logger });
  expect((await reader.ensure('r1')).map((r) => r.dst)).toEqual(['10.0.0.0/8']);
  const errors = records.filter((r) => r.level === 50).map((r) => String(r.msg));
  expect(errors).toEqual(
    expect.arrayContaining([
      'skipping table entry garbage: not "{key},{value},{seq}"',
      expect.stringMatching(/h1: "host" has missing or mistyped fields$/),
      expect.stringMatching(/h2: not JSON/),
      expect.stringMatching(/skipping learned route batch .*\/junk: not JSON/),
    ]),
  );
  // A fixed host record is picked up.
  await a.setData(`${root}/state/hosts/h1`, Buffer.from('{"schemaVersion":1,"host":{"hostId":"h1","alive":true,"tunnelIp":"10.0.0.1","agentVersion":"1"}}'));
  await waitFor('fixed host record', () => view.host('h1')?.tunnelIp === '10.0.0.1');
  macs.close();
  view.close();
  reader.close();
});
