// SNAT port-block leases on a real ZooKeeper: allocation within leased blocks, never-used then
// least-recently-used order that survives clients, release when unused, and racing hosts.
import { NAT_BLOCK_SIZE, NatBlocksExhaustedError, NatLeases, blockOfPort } from '../../../src/agent-core/store/index.js';
import { parseIp } from '../../../src/agent-core/packet/addr.js';
import { sleep, startWorld, waitFor, type StoreWorld } from './store-kit.js';

let world: StoreWorld;
beforeAll(async () => {
  world = await startWorld();
});
afterAll(async () => {
  await world?.teardown();
});

const IP = parseIp('203.0.113.10') as number;

test('ports are picked only from leased blocks, in range, never a port in use', async () => {
  const zk = await world.connect();
  const nat = new NatLeases(zk, { root: world.root(), releaseIdleAfterMs: 0 });
  expect(nat.pickPort('r1', IP, 1024, 65535, 7)).toBeUndefined();
  const block = await nat.leaseNatBlock('r1', IP, 1024, 65535);
  expect(block).toBe(16);
  const seen = new Set<number>();
  for (let h = 0; h < NAT_BLOCK_SIZE; h++) {
    const p = nat.pickPort('r1', IP, 1024, 65535, h * 7919);
    expect(p).toBeDefined();
    expect(blockOfPort(p as number)).toBe(16);
    expect(nat.pickPort('r1', IP, 1024, 65535, h * 7919)).toBe(p);
    expect(nat.markPortUsed('r1', IP, p as number)).toBe(true);
    seen.add(p as number);
  }
  expect(seen.size).toBe(NAT_BLOCK_SIZE);
  expect(nat.pickPort('r1', IP, 1024, 65535, 1)).toBeUndefined();
  // A narrower range only sees the part of the block inside it.
  nat.markPortFree('r1', IP, 1030);
  expect(nat.pickPort('r1', IP, 1030, 1030, 99)).toBe(1030);
  expect(nat.pickPort('r1', IP, 2000, 3000, 99)).toBeUndefined();
  nat.close();
});

test('never-used blocks first, then the least recently used; the record survives other clients', async () => {
  const root = world.root();
  const zk = await world.connect();
  const nat = new NatLeases(zk, { root, releaseIdleAfterMs: 0 });
  // Ports 1024..1407 are blocks 16..21.
  const range = [1024, 1407] as const;
  expect([await nat.leaseNatBlock('r', IP, ...range), await nat.leaseNatBlock('r', IP, ...range), await nat.leaseNatBlock('r', IP, ...range)]).toEqual([16, 17, 18]);
  await sleep(5);
  await nat.releaseNatBlock('r', IP, 17);
  await sleep(5);
  await nat.releaseNatBlock('r', IP, 16);
  expect(nat.leasedBlocks('r', IP)).toEqual([18]);
  const other = new NatLeases(await world.connect(), { root, releaseIdleAfterMs: 0 });
  const order: number[] = [];
  for (let i = 0; i < 5; i++) order.push(await other.leaseNatBlock('r', IP, ...range));
  expect(order).toEqual([19, 20, 21, 17, 16]);
  await expect(other.leaseNatBlock('r', IP, ...range)).rejects.toBeInstanceOf(NatBlocksExhaustedError);
  nat.close();
  other.close();
});

test('a block is released when its last port is freed, and all blocks vanish with the session', async () => {
  const root = world.root();
  const zk = await world.connect();
  const observer = await world.connect();
  const nat = new NatLeases(zk, { root, releaseIdleAfterMs: 0 });
  const dir = `${root}/nat/r/203.0.113.10`;
  const b1 = await nat.leaseNatBlock('r', IP);
  const b2 = await nat.leaseNatBlock('r', IP);
  const port = b1 * NAT_BLOCK_SIZE + 3;
  nat.markPortUsed('r', IP, port);
  expect((await observer.getChildren(dir))?.children.sort()).toEqual([String(b1), String(b2)].sort());
  nat.markPortFree('r', IP, port);
  await waitFor('block released', async () => (await observer.getChildren(dir))?.children.join() === String(b2));
  expect(nat.leasedBlocks('r', IP)).toEqual([b2]);
  await zk.close();
  await waitFor('leases gone with the session', async () => (await observer.getChildren(dir))?.children.length === 0);
  nat.close();
});

test('hosts racing for blocks of one IP never hold the same block', async () => {
  const root = world.root();
  const hosts = await Promise.all([0, 1, 2, 3].map(async () => new NatLeases(await world.connect(), { root, releaseIdleAfterMs: 0 })));
  const PER_HOST = 30;
  const leased = await Promise.all(hosts.map((h) => Promise.all(Array.from({ length: PER_HOST }, () => h.leaseNatBlock('r', IP)))));
  const all = leased.flat();
  expect(new Set(all).size).toBe(hosts.length * PER_HOST);
  hosts.forEach((h, i) => expect(h.leasedBlocks('r', IP)).toEqual([...leased[i]].sort((a, b) => a - b)));
  const zk = await world.connect();
  expect((await zk.getChildren(`${root}/nat/r/203.0.113.10`))?.children.length).toBe(hosts.length * PER_HOST);
  for (const h of hosts) h.close();
});

test('a range whose blocks another host holds is exhausted for a while: no lease is tried, then one is, and a released block ends it', async () => {
  const root = world.root();
  const a = new NatLeases(await world.connect(), { root, releaseIdleAfterMs: 0, exhaustedRetryMs: 300 });
  const b = new NatLeases(await world.connect(), { root, releaseIdleAfterMs: 0 });
  // Ports 1024..1151 are blocks 16 and 17: host b takes both.
  const range = [1024, 1151] as const;
  expect([await b.leaseNatBlock('r', IP, ...range), await b.leaseNatBlock('r', IP, ...range)]).toEqual([16, 17]);
  expect(a.exhausted('r', IP, ...range)).toBe(false);
  await expect(a.leaseNatBlock('r', IP, ...range)).rejects.toBeInstanceOf(NatBlocksExhaustedError);
  expect(a.exhausted('r', IP, ...range)).toBe(true);
  expect(a.exhausted('r', IP, 1024, 1087)).toBe(true);
  // A range reaching past the taken blocks was not found exhausted.
  expect(a.exhausted('r', IP, 1024, 2047)).toBe(false);
  expect(a.exhausted('r', parseIp('203.0.113.11') as number, ...range)).toBe(false);
  // The mark lapses: the next simulation asks for a lease again (which fails again and marks it again).
  await waitFor('the exhausted mark to lapse', () => !a.exhausted('r', IP, ...range), 2_000);
  await expect(a.leaseNatBlock('r', IP, ...range)).rejects.toBeInstanceOf(NatBlocksExhaustedError);
  expect(a.exhausted('r', IP, ...range)).toBe(true);
  // b gives a block back: a's next lease succeeds and the range is no longer exhausted.
  await b.releaseNatBlock('r', IP, 17);
  await waitFor('the exhausted mark to lapse again', () => !a.exhausted('r', IP, ...range), 2_000);
  expect(await a.leaseNatBlock('r', IP, ...range)).toBe(17);
  expect(a.exhausted('r', IP, ...range)).toBe(false);
  expect(a.pickPort('r', IP, ...range, 5)).toBeGreaterThanOrEqual(17 * NAT_BLOCK_SIZE);
  a.close();
  b.close();
});
