// Issue 4 e2e: traffic from the internet to a VM's floating IP and back through three agents.
import { LAB } from '../../../src/gateway/lab/lab-topology.js';
import { AgentWorld } from './agent-world.js';

let world: AgentWorld;

beforeAll(async () => {
  world = await AgentWorld.create();
  await world.startAll();
}, 120_000);

afterAll(async () => {
  await world?.teardown();
}, 60_000);

test('ping from the internet to vm1 floating IP gets replies', async () => {
  const replies = await world.ping(world.ns.inet, LAB.floatingIp, { src: LAB.internetHost, count: 5 });
  if (replies < 3) console.log(JSON.stringify(await world.status('gwA')), JSON.stringify(await world.status('compute')));
  expect(replies).toBeGreaterThanOrEqual(3);
}, 60_000);
