// Issue 4 e2e (DESIGN: Threads and isolation): a sustained flood of new flows on gateway A's uplink
// — every frame an upcall — must not starve its control work: its ZooKeeper session stays the same,
// a chain change still reaches an established flow through the gateway, and flow state pushed by
// another host is still imported in time for a new connection's reply.
import { join } from 'node:path';
import type { Rule } from '../../../src/agent-core/topology/index.js';
import { LAB } from '../../../src/gateway/lab/lab-topology.js';
import { type ChildHandle, waitFor } from '../../helpers/netns.js';
import { AgentWorld } from './agent-world.js';
import { lastEcho, startEchoClient, startEchoServer, startHttpServer } from './servers.js';

let world: AgentWorld;
const FLOOD_SECONDS = 12;

beforeAll(async () => {
  world = await AgentWorld.create();
  await world.startAll();
  await world.warmUp(world.ns.inet, LAB.floatingIp, LAB.internetHost);
  await startEchoServer(world.lab, world.ns.vm1, '0.0.0.0', 7007);
  await startHttpServer(world.lab, world.ns.inet, LAB.internetHost, 8080, 'internet');
  // Replies to SNAT come back through gateway A, the one flooded.
  await world.routeInternetVia('A');
}, 120_000);

afterAll(async () => {
  await world?.teardown();
}, 60_000);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('under a flood of new flows on its uplink, gateway A keeps its session, applies a rule change and imports pushed state', async () => {
  const session = await world.hostSession('gwA');
  expect(session).toBeDefined();
  const client: ChildHandle = startEchoClient(world.lab, world.ns.inet, LAB.floatingIp, 7007);
  await waitFor(() => lastEcho(client) > 5, { timeoutMs: 15_000, what: 'the echo connection' });
  const before = await world.status('gwA');

  // Unsolicited UDP to the SNAT address from many sources: each frame a new 5-tuple the tenant's
  // reverse NAT must look up, so each is an upcall and a simulation on gateway A.
  const flood = world.lab.spawn(undefined, process.execPath, [
    '--import', 'tsx', join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, 'flood-generator.ts'),
    world.ns.inet, 'upa', LAB.uplinkA.mac, LAB.snatIp, String(FLOOD_SECONDS),
  ]);
  await sleep(2000);

  // A new connection from vm2: the compute host pushes its SNAT state to gateway A (and B), which
  // must import and acknowledge it while flooded. (Whether the reply's own upcall wins a place in the
  // flooded queue is up to chance, as on any gateway under a flood: not asserted.)
  const importedBefore = (await world.status('gwA')).counters.stateImported;
  const pushBefore = (await world.status('compute')).push;
  const body = await world.curl(world.ns.vm2, `http://${LAB.internetHost}:8080/`, 8);
  console.log(`HTTP through the flooded gateway: ${body === undefined ? 'failed' : 'ok'}`);
  await waitFor(async () => (await world.status('gwA')).counters.stateImported > importedBefore, { timeoutMs: 10_000, what: 'gateway A to import the pushed state' });
  const pushAfter = (await world.status('compute')).push;
  expect(pushAfter.messagesSent).toBeGreaterThan(pushBefore.messagesSent);
  expect(pushAfter.lost).toBe(pushBefore.lost);

  // A chain change reaches the established flow through gateway A while the flood goes on.
  const rule: Rule = {
    id: 'flood-drop-7007', chainId: LAB.chains.tenantPre, kind: 'literal', action: 'drop',
    condition: { nwProto: { value: 6 }, tpDst: { value: { start: 7007, end: 7007 } } },
  };
  await world.store.insertRule(rule, 0);
  await sleep(1500);
  const stalledAt = lastEcho(client);
  await sleep(1500);
  expect(lastEcho(client)).toBe(stalledAt);
  await world.store.delete('rule', rule.id);
  await waitFor(() => lastEcho(client) > stalledAt + 3, { timeoutMs: 15_000, what: 'the echoes to resume' });

  const sent = await flood.waitForLine((l) => l.startsWith('sent '), (FLOOD_SECONDS + 10) * 1000);
  const after = await world.status('gwA');
  // The flood really loaded the slow path...
  const upcalls = after.datapath.upcalls - before.datapath.upcalls;
  const dropped = after.datapath.upcallQueueDropped - before.datapath.upcallQueueDropped;
  console.log(`flood: ${sent}; gateway A upcalls ${upcalls}, upcalls dropped ${dropped}, simulations ${after.counters.simulations - before.counters.simulations}`);
  expect(upcalls).toBeGreaterThan(10_000);
  // ...and the session never changed: no expiry wiped the host's ephemeral state.
  expect(await world.hostSession('gwA')).toBe(session);
  expect(client.lines.some((l) => l.startsWith('closed'))).toBe(false);
  client.proc.kill('SIGKILL');
}, 120_000);
