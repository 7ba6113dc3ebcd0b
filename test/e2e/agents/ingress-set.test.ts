// Issue 4 e2e: a VM behind dynamic SNAT reaches the internet; with asymmetric routing (out through
// uplink A on gateway A, back through uplink B on gateway B) the reply only finds its reverse NAT
// because the compute agent pushed the NAT state to every member of the ingress set. The same with
// the push disabled fails, which proves the mechanism.
import { LAB } from '../../../src/gateway/lab/lab-topology.js';
import { AgentWorld } from './agent-world.js';
import { startHttpServer } from './servers.js';

let world: AgentWorld;

beforeAll(async () => {
  // Only uplink A carries the default route out; the internet sends the floating range back via B.
  world = await AgentWorld.create((objects) => objects.filter((o) => o.id !== 'provider-default-b'));
  await world.startAll();
  await world.routeInternetVia('B');
  await startHttpServer(world.lab, world.ns.inet, LAB.internetHost, 8080, 'internet');
}, 120_000);

afterAll(async () => {
  await world?.teardown();
}, 60_000);

test('SNAT out through gateway A, the reply back through gateway B thanks to the pushed state', async () => {
  const body = await world.curl(world.ns.vm2, `http://${LAB.internetHost}:8080/`);
  expect(body).toBe('hello from internet\n');
  const gwB = await world.status('gwB');
  expect(gwB.counters.stateImported).toBeGreaterThan(0);
  const gwA = await world.status('gwA');
  expect(gwA.counters.stateImported).toBeGreaterThan(0);
  const compute = await world.status('compute');
  expect(compute.push.acksReceived).toBeGreaterThan(0);
  expect(compute.push.lost).toBe(0);
}, 60_000);

test('with the push disabled on the compute host, the same request through gateway B fails', async () => {
  await world.stopAgent('compute');
  await world.startAgent('compute', { push: false });
  const importedBefore = (await world.status('gwB')).counters.stateImported;
  const body = await world.curl(world.ns.vm2, `http://${LAB.internetHost}:8080/`, 4);
  expect(body).toBeUndefined();
  expect((await world.status('gwB')).counters.stateImported).toBe(importedBefore);
  // The reply did reach gateway B: its simulation found no reverse NAT for it.
  expect((await world.status('gwB')).counters.simulations).toBeGreaterThan(0);
}, 60_000);

test('the push enabled again: new connections work again', async () => {
  await world.stopAgent('compute');
  await world.startAgent('compute');
  const body = await world.curl(world.ns.vm2, `http://${LAB.internetHost}:8080/`);
  expect(body).toBe('hello from internet\n');
}, 60_000);
