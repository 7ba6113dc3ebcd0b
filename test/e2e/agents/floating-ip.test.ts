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
