// Leasing SNAT blocks ahead of demand on a real ZooKeeper (the agent's mode): ports keep coming
// without a simulation waiting for ZooKeeper; a run dry makes the spare grow and several blocks are
// leased in one transaction; blocks nobody used go back after the idle time.
import { NAT_BLOCK_SIZE, NatLeases } from '../../../src/agent-core/store/index.js';
import { parseIp } from '../../../src/agent-core/packet/addr.js';
import { startWorld, waitFor, type StoreWorld } from './store-kit.js';

let world: StoreWorld;
beforeAll(async () => {
  world = await startWorld();
});
afterAll(async () => {
  await world?.teardown();
});

const IP = parseIp('203.0.113.20') as number;

/** Takes the ports a simulation would, one flow at a time; returns how many found none. */
function takePorts(nat: NatLeases, n: number, hash0: number): number {
  let dry = 0;
  for (let i = 0; i < n; i++) {
    const p = nat.pickPort('r', IP, 1024, 65535, hash0 + i);
    if (p === undefined) dry++;
    else nat.markPortUsed('r', IP, p);
  }
  return dry;
}

test('a spare block is leased before the last one runs out; a run dry doubles the spare', async () => {
  const zk = await world.connect();
  const root = world.root();
  const nat = new NatLeases(zk, { root, leaseAhead: true });
  const first = await nat.leaseNatBlock('r', IP, 1024, 65535);
  // Ports taken from the only block: the next one is on its way before it runs out.
  expect(takePorts(nat, NAT_BLOCK_SIZE, 0)).toBe(0);
  await waitFor('a block leased ahead', () => nat.leasedBlocks('r', IP).length >= 2);
  expect(takePorts(nat, NAT_BLOCK_SIZE, 1000)).toBe(0);
  await waitFor('free ports kept ahead', () => nat.leasedBlocks('r', IP).length * NAT_BLOCK_SIZE - 2 * NAT_BLOCK_SIZE >= NAT_BLOCK_SIZE);
  // A burst faster than one block at a time: the simulation finds no port, the shell leases on demand.
  let dry = takePorts(nat, 10 * NAT_BLOCK_SIZE, 2000);
  expect(dry).toBeGreaterThan(0);
  const before = nat.leasedBlocks('r', IP).length;
  await nat.leaseNatBlock('r', IP, 1024, 65535);
  dry = takePorts(nat, dry, 5000);
  await waitFor('several blocks at once after the run dry', () => nat.leasedBlocks('r', IP).length >= before + 3);
  const children = await zk.getChildren(`${root}/nat/r/203.0.113.20`);
  expect(children?.children.map(Number).sort((a, b) => a - b)).toEqual(nat.leasedBlocks('r', IP));
  expect(nat.leasedBlocks('r', IP)).toContain(first);
  nat.close();
});

test('blocks leased ahead that nobody used go back after the idle time', async () => {
  const zk = await world.connect();
  const root = world.root();
  const nat = new NatLeases(zk, { root, leaseAhead: true, releaseIdleAfterMs: 300 });
  await nat.leaseNatBlock('r', IP, 1024, 65535);
  expect(takePorts(nat, NAT_BLOCK_SIZE - 8, 0)).toBe(0);
  const used = nat.leasedBlocks('r', IP);
  await waitFor('blocks leased ahead', () => nat.leasedBlocks('r', IP).length >= 2);
  await waitFor('the unused spares released', () => nat.leasedBlocks('r', IP).length === 1);
  expect(nat.leasedBlocks('r', IP)).toEqual(used);
  await waitFor('gone from the store', async () => (await zk.getChildren(`${root}/nat/r/203.0.113.20`))?.children.join() === String(used[0]));
  nat.close();
});
