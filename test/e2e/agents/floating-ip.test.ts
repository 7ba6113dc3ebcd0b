// Issue 4 e2e: traffic from the internet to a VM's floating IP and back, through a gateway agent
// (uplink A) and the compute agent, tunnelled between them.
import { LAB } from '../../../src/gateway/lab/lab-topology.js';
import { AgentWorld } from './agent-world.js';
import { startHttpServer } from './servers.js';

let world: AgentWorld;

beforeAll(async () => {
  world = await AgentWorld.create();
  await world.startAll();
}, 120_000);

afterAll(async () => {
  await world?.teardown();
}, 60_000);

test('ping from the internet to vm1 floating IP gets replies', async () => {
  await world.warmUp(world.ns.inet, LAB.floatingIp, LAB.internetHost);
  expect(await world.ping(world.ns.inet, LAB.floatingIp, { src: LAB.internetHost, count: 5 })).toBe(5);
  // The gateway simulated the first packets and tunnelled them; later ones took the installed flow.
  const gw = await world.status('gwA');
  expect(gw.datapath.tunnelSent).toBeGreaterThan(0);
  expect(gw.datapath.hits).toBeGreaterThan(0);
  const compute = await world.status('compute');
  expect(compute.datapath.tunnelDelivered).toBeGreaterThan(0);
}, 60_000);

test('HTTP from the internet to a server on vm1 through its floating IP', async () => {
  await startHttpServer(world.lab, world.ns.vm1, '0.0.0.0', 8080, 'vm1');
  const body = await world.curl(world.ns.inet, `http://${LAB.floatingIp}:8080/`);
  expect(body).toBe('hello from vm1\n');
}, 60_000);

test('vm1 reaches the internet from its floating IP (static SNAT), replies come back', async () => {
  await startHttpServer(world.lab, world.ns.inet, LAB.internetHost, 8081, 'internet');
  const body = await world.curl(world.ns.vm1, `http://${LAB.internetHost}:8081/`);
  expect(body).toBe('hello from internet\n');
}, 60_000);

test('a large DF packet after small ones gets fragmentation needed from the tenant router, on the installed flow', async () => {
  // vm1's network gets a smaller MTU than the veths carry, so that an oversized packet can reach it.
  const netA = (await world.store.get('port', LAB.netA.gatewayPort))?.object;
  if (netA === undefined) throw new Error('no net-a port in the store');
  await world.store.put({ ...netA, mtu: 1400 });
  try {
    // Small pings install the flows again (the port change invalidated them), now bound to 1400 bytes.
    await world.warmUp(world.ns.inet, LAB.floatingIp, LAB.internetHost);
    expect(await world.ping(world.ns.inet, LAB.floatingIp, { src: LAB.internetHost, count: 3 })).toBe(3);
    const before = (await world.status('gwA')).datapath;
    // 1300 bytes of payload: 1328-byte packets fit; 1400: 1428 bytes do not, and DF is set.
    const fits = await world.lab.exec(world.ns.inet, 'ping', ['-n', '-c', '2', '-W', '2', '-i', '0.3', '-M', 'do', '-s', '1300', '-I', LAB.internetHost, LAB.floatingIp], { allowFail: true, timeoutMs: 30_000 });
    expect(fits.stdout).toMatch(/2 received/);
    const big = await world.lab.exec(world.ns.inet, 'ping', ['-n', '-c', '2', '-W', '2', '-i', '0.3', '-M', 'do', '-s', '1400', '-I', LAB.internetHost, LAB.floatingIp], { allowFail: true, timeoutMs: 30_000 });
    expect(big.stdout).toMatch(/Frag needed and DF set \(mtu = 1400\)/);
    const after = (await world.status('gwA')).datapath;
    // The large packet matched the installed flow and went up for the router to judge.
    expect(after.oversizeUpcalls - before.oversizeUpcalls).toBeGreaterThanOrEqual(1);
    expect(after.hits - before.hits).toBeGreaterThanOrEqual(2);
  } finally {
    await world.store.put(netA);
  }
}, 90_000);
