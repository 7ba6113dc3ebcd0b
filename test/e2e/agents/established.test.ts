// Issue 4 e2e: what happens to established connections — a rule added to a chain takes effect on
// a flow already installed; an agent restarted while a TCP connection is open keeps it alive (the
// gateway holds no per-connection state for a floating IP; the compute host restores its SNAT
// binding from disk).
import { existsSync, rmSync } from 'node:fs';
import type { Rule } from '../../../src/agent-core/topology/index.js';
import { LAB } from '../../../src/gateway/lab/lab-topology.js';
import type { ChildHandle } from '../../helpers/netns.js';
import { waitFor } from '../../helpers/netns.js';
import { AgentWorld } from './agent-world.js';
import { lastEcho, startEchoClient, startEchoServer } from './servers.js';

let world: AgentWorld;

beforeAll(async () => {
  world = await AgentWorld.create();
  await world.startAll();
  await startEchoServer(world.lab, world.ns.vm1, '0.0.0.0', 7007);
  await startEchoServer(world.lab, world.ns.inet, LAB.internetHost, 7008);
}, 120_000);

afterAll(async () => {
  await world?.teardown();
}, 60_000);

/** Resolves once the client's echoes pass `n` (bounded), or rejects naming what happened. */
async function echoesPass(client: ChildHandle, n: number, timeoutMs = 15_000): Promise<void> {
  await waitFor(() => {
    if (client.lines.some((l) => l.startsWith('closed'))) throw new Error(`connection closed: ${client.lines.filter((l) => l.startsWith('closed')).join(', ')}`);
    return lastEcho(client) > n;
  }, { timeoutMs, what: `echoes past ${n}` });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('a drop rule added to the tenant chain stops an established TCP flow; removing it lets the flow resume', async () => {
  const client = startEchoClient(world.lab, world.ns.inet, LAB.floatingIp, 7007);
  await echoesPass(client, 5);
  const rule: Rule = {
    id: 'e2e-drop-7007', chainId: LAB.chains.tenantPre, kind: 'literal', action: 'drop',
    condition: { nwProto: { value: 6 }, tpDst: { value: { start: 7007, end: 7007 } } },
  };
  await world.store.insertRule(rule, 0);
  await sleep(500); // the watch reaches the agents, the installed flows are invalidated
  const stalledAt = lastEcho(client);
  await sleep(1500);
  expect(lastEcho(client)).toBe(stalledAt);
  await world.store.delete('rule', rule.id);
  // TCP retransmits what was dropped; the connection carries on.
  await echoesPass(client, stalledAt + 5);
  client.proc.kill('SIGKILL');
}, 60_000);

test('the gateway agent restarted while a TCP connection to a floating IP is open: the connection survives', async () => {
  const client = startEchoClient(world.lab, world.ns.inet, LAB.floatingIp, 7007);
  await echoesPass(client, 5);
  await world.stopAgent('gwA');
  await world.startAgent('gwA');
  const after = lastEcho(client);
  await echoesPass(client, after + 10, 20_000);
  client.proc.kill('SIGKILL');
}, 60_000);

test('the compute agent restarted while a VM holds an SNAT connection: the binding comes back from disk, the connection survives', async () => {
  const client = startEchoClient(world.lab, world.ns.vm2, LAB.internetHost, 7008);
  await echoesPass(client, 5);
  await world.stopAgent('compute');
  await world.startAgent('compute');
  const after = lastEcho(client);
  await echoesPass(client, after + 10, 20_000);
  client.proc.kill('SIGKILL');
}, 60_000);

test('the same restart with the state file removed breaks the SNAT connection (the restore is what kept it)', async () => {
  const client = startEchoClient(world.lab, world.ns.vm2, LAB.internetHost, 7008);
  await echoesPass(client, 5);
  await world.stopAgent('compute');
  expect(existsSync(world.stateFile('compute'))).toBe(true);
  rmSync(world.stateFile('compute'));
  await world.startAgent('compute');
  // A new binding takes a port of a newly leased block: the server sees a stranger and resets it.
  await waitFor(() => client.lines.some((l) => l.startsWith('closed')), { timeoutMs: 20_000, what: 'the connection to break' });
}, 60_000);
