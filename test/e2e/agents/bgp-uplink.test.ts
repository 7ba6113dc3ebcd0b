// Issue 5 e2e: the gateways peer over their uplinks with a real upstream router (BIRD in the
// internet namespace; the lab's static defaults removed), learn the default route from it and
// announce the floating range to it; a VM's traffic follows the learned route out and back, and
// stops when the sessions go down (routes withdrawn), resuming when they come back. Peers follow a
// reload (SIGHUP) as a difference, and an agent killed outright takes gobgpd along so that BIRD sees
// the connection close rather than waiting out its hold timer.
import { LAB } from '../../../src/gateway/lab/lab-topology.js';
import { LAB_BGP } from '../../../src/gateway/lab/lab-upstream.js';
import { netnsUnavailableReason, waitFor } from '../../helpers/netns.js';
import { bgpTestsUnavailableReason, isRunning } from '../../integration/bgp/bird-kit.js';
import { AgentWorld } from './agent-world.js';
import { startHttpServer } from './servers.js';

const why = netnsUnavailableReason() ?? bgpTestsUnavailableReason();
if (why !== undefined) console.warn(`bgp-uplink e2e skipped: ${why}`);
const describeBgp = why === undefined ? describe : describe.skip;

/** The learned defaults, one per gateway: BIRD is the next hop on each uplink. */
const LEARNED_DEFAULTS = [
  `0.0.0.0/0 via ${LAB.uplinkA.peer} on ${LAB.uplinkA.port}`,
  `0.0.0.0/0 via ${LAB.uplinkB.peer} on ${LAB.uplinkB.port}`,
];
const IPV4_SESSIONS = ['gw_a', 'gw_b'];

describeBgp('gateways peering with an upstream BGP router over their uplinks', () => {
  let world: AgentWorld;

  beforeAll(async () => {
    world = await AgentWorld.create({ bgp: true });
    await world.startAll();
    await startHttpServer(world.lab, world.ns.inet, LAB.internetHost, 8080, 'internet');
  }, 120_000);

  afterAll(async () => {
    await world?.teardown();
  }, 60_000);

  const defaultsLearned = async (): Promise<string[]> => (await world.learnedRoutes()).filter((r) => r.startsWith('0.0.0.0/0 '));

  test('BIRD has its sessions with both gateways Established (IPv4 with each, IPv6 with gateway A)', async () => {
    await world.waitForBgp({ timeoutMs: 30_000 });
    expect(await world.bgpStates()).toEqual({ gw_a: 'Established', gw_a6: 'Established', gw_b: 'Established' });
  }, 40_000);

  test('the floating range comes from both gateways into BIRD and into the internet namespace\'s kernel table', async () => {
    const bird = world.upstream!.bird;
    await waitFor(async () => (await bird.routesFrom('gw_a', 'master4')).includes(LAB.floatingRange)
      && (await bird.routesFrom('gw_b', 'master4')).includes(LAB.floatingRange), { timeoutMs: 15_000, intervalMs: 200, what: `${LAB.floatingRange} from both gateways in BIRD` });
    expect(await world.birdRoutes()).toContain(LAB.floatingRange);
    const kernel = (await world.lab.exec(world.ns.inet, 'ip', ['route', 'show', LAB.floatingRange])).stdout;
    expect(kernel).toContain('proto bird');
    // Equal paths merged: the internet sends to the floating range through either gateway.
    expect(kernel).toContain('via 192.0.2.2 dev upa');
    expect(kernel).toContain('via 198.51.100.2 dev upb');
  }, 30_000);

  test('the provider router learns the default route from BIRD through both gateways; vm1 reaches the internet by it', async () => {
    await waitFor(async () => (await defaultsLearned()).length === 2, { timeoutMs: 15_000, intervalMs: 200, what: 'both learned defaults in the store' });
    expect(await defaultsLearned()).toEqual(LEARNED_DEFAULTS);
    // No static default exists: these replies come back only because the provider router routes
    // vm1's packets (from its floating IP) by the learned default, and the internet routes the
    // floating range by what the gateways announced.
    await world.warmUp(world.ns.vm1, LAB.internetHost);
    expect(await world.ping(world.ns.vm1, LAB.internetHost, { count: 3 })).toBe(3);
    expect(await world.curl(world.ns.vm1, `http://${LAB.internetHost}:8080/`)).toBe('hello from internet\n');
  }, 60_000);

  test('over IPv6 too: vm1 reaches the internet by the learned ::/0, the internet reaches vm1 by the prefix gateway A announced', async () => {
    await waitFor(async () => (await world.learnedRoutes()).includes(`::/0 via ${LAB.uplinkV6.peer} on ${LAB.uplinkA.port}`), { timeoutMs: 15_000, intervalMs: 200, what: 'the learned ::/0 in the store' });
    const kernel = (await world.lab.exec(world.ns.inet, 'ip', ['-6', 'route', 'show', '2001:db8:1::/64'])).stdout;
    expect(kernel).toContain(`via ${LAB.uplinkV6.address.split('/')[0]} dev upa proto bird`);
    await world.warmUp(world.ns.vm1, LAB_BGP.internetHostV6);
    expect(await world.ping(world.ns.vm1, LAB_BGP.internetHostV6, { count: 3 })).toBe(3);
  }, 60_000);

  test('both sessions disabled in BIRD: the learned routes are withdrawn and vm1 loses the internet; enabled again: it is back', async () => {
    const bird = world.upstream!.bird;
    try {
      for (const p of IPV4_SESSIONS) await bird.birdc(`disable ${p}`);
      await waitFor(async () => (await defaultsLearned()).length === 0, { timeoutMs: 15_000, intervalMs: 200, what: 'the learned defaults to be withdrawn' });
      // The provider router has no route to the internet now: the ping gets an ICMP error, not a reply.
      const r = await world.lab.exec(world.ns.vm1, 'ping', ['-n', '-c', '2', '-W', '2', '-i', '0.3', LAB.internetHost], { allowFail: true, timeoutMs: 15_000 });
      expect(r.stdout).toMatch(/ 0 received/);
      expect(r.stdout).toMatch(/Destination Net Unreachable/);
    } finally {
      for (const p of IPV4_SESSIONS) await bird.birdc(`enable ${p}`);
    }
    await world.waitForBgp({ protocols: IPV4_SESSIONS, timeoutMs: 30_000 });
    await waitFor(async () => (await defaultsLearned()).length === 2, { timeoutMs: 15_000, intervalMs: 200, what: 'the learned defaults to come back' });
    await world.warmUp(world.ns.vm1, LAB.internetHost);
    expect(await world.ping(world.ns.vm1, LAB.internetHost, { count: 3 })).toBe(3);
  }, 90_000);

  test('the advertised set follows the topology: a provider route marked advertise appears in BIRD from both gateways, and goes when it is deleted', async () => {
    const bird = world.upstream!.bird;
    const prefix = '198.18.200.0/24';
    const fromBoth = async (): Promise<boolean> =>
      (await bird.routesFrom('gw_a', 'master4')).includes(prefix) && (await bird.routesFrom('gw_b', 'master4')).includes(prefix);
    const anywhere = async (): Promise<boolean> =>
      (await bird.routesFrom('gw_a', 'master4')).includes(prefix) || (await bird.routesFrom('gw_b', 'master4')).includes(prefix);
    expect(await anywhere()).toBe(false);
    await world.store.put({ type: 'route', id: 'e2e-advertised', routerId: LAB.provider, dst: prefix, nextHop: 'blackhole', weight: 0, origin: 'static', advertise: true });
    await waitFor(fromBoth, { timeoutMs: 15_000, intervalMs: 200, what: `${prefix} in BIRD from both gateways` });
    await world.store.delete('route', 'e2e-advertised');
    await waitFor(async () => !(await anywhere()), { timeoutMs: 15_000, intervalMs: 200, what: `${prefix} withdrawn from BIRD` });
  }, 40_000);

  test('a reload (SIGHUP) applies peers as a difference: timers tuned keep the session, a peer removed gets a Cease, put back it peers again', async () => {
    const bird = world.upstream!.bird;
    await world.waitForBgp({ protocols: ['gw_a', 'gw_a6'], timeoutMs: 30_000 });
    const flapsOf = async (address: string): Promise<number | undefined> => (await world.status('gwA')).bgp?.peers.find((p) => p.address === address)?.flaps;
    const flapsBefore = await flapsOf(LAB.uplinkA.peer);
    expect(flapsBefore).toBeDefined();
    // holdTime 9 -> 12 for the IPv4 peer only: gobgpd updates the peer in place.
    await world.reloadWith('gwA', (yaml) => yaml.replace(`address: "${LAB.uplinkA.peer}"\n        asn: ${LAB_BGP.upstreamAsn}\n        holdTime: ${LAB_BGP.holdTime}`, `address: "${LAB.uplinkA.peer}"\n        asn: ${LAB_BGP.upstreamAsn}\n        holdTime: 12`));
    expect(await bird.bgpState('gw_a')).toBe('Established');
    expect(await flapsOf(LAB.uplinkA.peer)).toBe(flapsBefore);
    // The IPv6 peer removed: its session is closed by gobgpd (BIRD reads a Cease), the IPv4 one stays.
    const v6Peer = `      - address: "${LAB.uplinkV6.peer}"\n        asn: ${LAB_BGP.upstreamAsn}\n        holdTime: ${LAB_BGP.holdTime}\n        keepalive: ${LAB_BGP.keepalive}\n`;
    await world.reloadWith('gwA', (yaml) => {
      expect(yaml).toContain(v6Peer);
      return yaml.replace(v6Peer, '');
    });
    await waitFor(async () => (await bird.bgpState('gw_a6')) !== 'Established', { timeoutMs: 10_000, intervalMs: 100, what: 'BIRD to lose the IPv6 session' });
    expect(await bird.birdc('show protocols all gw_a6')).toMatch(/Received: Peer de-configured/); // Cease, subcode 3 (RFC 4486)
    expect(await bird.bgpState('gw_a')).toBe('Established');
    await waitFor(async () => !(await world.learnedRoutes()).some((r) => r.startsWith('::/0 ')), { timeoutMs: 15_000, intervalMs: 200, what: 'the learned ::/0 to be withdrawn' });
    // Back as it was (configFile() rewrites the lab's own config).
    await world.reloadWith('gwA', (yaml) => yaml);
    await world.waitForBgp({ protocols: ['gw_a', 'gw_a6'], timeoutMs: 30_000 });
  }, 90_000);

  test('gateway B\'s agent killed outright: gobgpd dies with it and BIRD sees the connection close, not a hold-timer expiry; restarted, it peers again', async () => {
    await world.waitForBgp({ protocols: ['gw_b'], timeoutMs: 30_000 });
    const pid = (await world.status('gwB')).bgp?.gobgpd.pid;
    expect(pid).toBeDefined();
    world.agents.get('gwB')!.proc.kill('SIGKILL');
    await expectGwBClosedAndBack(pid!);
  }, 90_000);

  test('gateway B\'s datapath dies: the agent stops its BGP first (BIRD reads a Cease, not a hold-timer expiry) and exits non-zero; started again, it peers again', async () => {
    const bird = world.upstream!.bird;
    await world.stopAgent('gwB');
    // Fault injection (agent-command.ts): SIGWINCH makes the datapath's thread throw.
    const child = await world.startAgent('gwB', { env: { TOLLGATE_TEST_FAULTS: 'datapath-crash-on-sigwinch' } });
    await world.waitForBgp({ protocols: ['gw_b'], timeoutMs: 30_000 });
    child.proc.kill('SIGWINCH');
    await waitFor(() => child.exitCode !== undefined, { timeoutMs: 20_000, what: 'gateway B to exit after its datapath died' });
    expect(child.exitCode).toBe(1);
    expect(child.stderr).toContain('the datapath died');
    expect(await bird.bgpState('gw_b')).not.toBe('Established');
    // gobgpd removed its peers before it stopped: a Cease (Peer De-configured), not a lost connection.
    expect(await bird.birdc('show protocols all gw_b')).toMatch(/Last error:\s+Received: Peer de-configured/);
    await world.stopAgent('gwB');
    await world.startAgent('gwB');
    await world.waitForBgp({ protocols: ['gw_b'], timeoutMs: 30_000 });
  }, 120_000);

  test('gateway B\'s main loop hangs: the watchdog kills the agent and says why, gobgpd dies with it and BIRD sees the connection close; started again, it peers again', async () => {
    await world.stopAgent('gwB');
    // Fault injection (agent-command.ts): SIGWINCH blocks the main loop for good; the datapath thread and gobgpd go on.
    const child = await world.startAgent('gwB', { env: { TOLLGATE_TEST_FAULTS: 'main-loop-hang-on-sigwinch' } });
    await world.waitForBgp({ protocols: ['gw_b'], timeoutMs: 30_000 });
    const pid = (await world.status('gwB')).bgp?.gobgpd.pid;
    expect(pid).toBeDefined();
    child.proc.kill('SIGWINCH');
    // The default stall is 5 s; BIRD's hold time here is 9 s, but the session must end by a closed connection.
    await waitFor(() => child.exitCode !== undefined, { timeoutMs: 20_000, what: 'the watchdog to kill gateway B\'s hung agent' });
    expect(child.proc.signalCode).toBe('SIGKILL');
    expect(child.stderr).toMatch(/"component":"watchdog".*the main loop has not run for/);
    await expectGwBClosedAndBack(pid!);
  }, 120_000);

  /**
   * After gateway B's agent died at once: BIRD sees the session end by a closed connection, well
   * before its hold time (9 s here), and gobgpd is gone; the agent started again finds its namespace
   * left behind, replaces it and peers again with a new gobgpd.
   */
  async function expectGwBClosedAndBack(gobgpdPid: number): Promise<void> {
    const bird = world.upstream!.bird;
    await waitFor(async () => (await bird.bgpState('gw_b')) !== 'Established', { timeoutMs: 5_000, intervalMs: 50, what: 'BIRD to see gateway B\'s session end' });
    expect(await bird.birdc('show protocols all gw_b')).toMatch(/Last error:\s+Socket: Connection closed/);
    await waitFor(() => !isRunning(gobgpdPid), { timeoutMs: 5_000, what: `gobgpd ${gobgpdPid} to die with its agent` });
    await world.stopAgent('gwB');
    await world.startAgent('gwB');
    await world.waitForBgp({ protocols: ['gw_b'], timeoutMs: 30_000 });
    expect((await world.status('gwB')).bgp?.gobgpd.pid).not.toBe(gobgpdPid);
  }
});
