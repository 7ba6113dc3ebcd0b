// `tollgate lab` on this machine (DESIGN: Interfaces for people): ZooKeeper, three real agents (two
// gateways in one ingress set, a compute host), VMs and an internet host as network namespaces,
// real traffic (ping, HTTP) through them, and a report of what worked and what the agents counted.
// With `bgp`, the internet is BIRD, an upstream BGP router both gateways peer with (lab-upstream.ts).
import type { LabCase } from './sim-lab.js';
import { LAB } from './lab-topology.js';
import { LAB_BGP } from './lab-upstream.js';
import { LabWorld, type AgentStatus, type HostName } from './lab-world.js';
import { startHttpServer } from './lab-servers.js';
import { waitFor } from './netns.js';

export interface NetnsLabOptions {
  /** BIRD as the upstream router: every route between the overlay and the internet is learned by BGP. */
  readonly bgp?: boolean;
}

/** What the BGP lab shows besides its cases: BIRD's sessions and routes, and what the overlay learned. */
export interface NetnsLabBgpView {
  readonly sessions: Record<string, string>;
  readonly birdRoutes: string;
  /** The internet namespace's kernel route to the floating range (installed by BIRD). */
  readonly internetRoute: string;
  /** The provider router's learned routes as the agents read them from the store. */
  readonly learned: string[];
}

export interface NetnsLabReport {
  readonly cases: LabCase[];
  readonly agents: Record<HostName, AgentStatus>;
  readonly bgp?: NetnsLabBgpView;
}

type Check = (name: string, ok: boolean, detail: string) => void;

const said = (body: string | undefined): string => (body === undefined ? 'no answer' : JSON.stringify(body.trim()));

export async function runNetnsLab(progress: (line: string) => void = () => undefined, opts: NetnsLabOptions = {}): Promise<NetnsLabReport> {
  const bgp = opts.bgp === true;
  progress(`building the world: ZooKeeper, namespaces, the lab topology in the store${bgp ? ', BIRD as the upstream router' : ''}`);
  // Static routes: out through uplink A only (gateway A); the internet routes the floating range back
  // through B: every reply to SNAT needs the state the compute host pushed to the whole ingress set.
  const world = bgp
    ? await LabWorld.create({ bgp: true })
    : await LabWorld.create((objects) => objects.filter((o) => o.id !== 'provider-default-b'));
  const cases: LabCase[] = [];
  const check: Check = (name, ok, detail) => {
    cases.push({ name, ok, detail });
    progress(`${ok ? 'PASS' : 'FAIL'}  ${name}: ${detail}`);
  };
  try {
    progress('starting three agents: gw-a (uplink-a), gw-b (uplink-b), compute-1 (vm1, vm2)');
    await world.startAll();
    let view: NetnsLabBgpView | undefined;
    if (bgp) view = await checkSessions(world, check, progress);
    else await world.routeInternetVia('A');
    await startHttpServer(world.lab, world.ns.vm1, '0.0.0.0', 8080, 'vm1');
    await startHttpServer(world.lab, world.ns.inet, LAB.internetHost, 8080, 'internet');

    await world.warmUp(world.ns.inet, LAB.floatingIp, LAB.internetHost).catch(() => undefined);
    const replies = await world.ping(world.ns.inet, LAB.floatingIp, { src: LAB.internetHost, count: 5 });
    const inVia = bgp ? 'via a gateway the internet learned it from' : 'via gw-a';
    check('ping internet -> vm1 floating IP', replies === 5, `${replies}/5 replies (${inVia}, tunnel to compute-1, DNAT to ${LAB.vm1.ip})`);

    const http = await world.curl(world.ns.inet, `http://${LAB.floatingIp}:8080/`);
    check('HTTP internet -> vm1 floating IP', http === 'hello from vm1\n', said(http));

    const out = await world.curl(world.ns.vm1, `http://${LAB.internetHost}:8080/`);
    check(`HTTP vm1 -> internet (floating IP source${bgp ? ', learned default' : ''})`, out === 'hello from internet\n', said(out));

    if (bgp) {
      await world.warmUp(world.ns.vm1, LAB_BGP.internetHostV6).catch(() => undefined);
      const v6 = await world.ping(world.ns.vm1, LAB_BGP.internetHostV6, { count: 3 });
      check('ping vm1 -> internet over IPv6 (learned ::/0)', v6 === 3, `${v6}/3 replies from ${LAB_BGP.internetHostV6} (back by ${LAB.vm1.ip6.replace(/::\w+$/, '::/64')} announced by gw-a)`);
    }

    if (!bgp) await world.routeInternetVia('B');
    const snat = await world.curl(world.ns.vm2, `http://${LAB.internetHost}:8080/`);
    if (bgp) {
      // Either gateway may carry either direction (ECMP on both sides): the state must reach both,
      // and the one the reply did not take may import it a moment after the transfer is over.
      const imported = async (): Promise<number[]> => [(await world.status('gwA')).counters.stateImported!, (await world.status('gwB')).counters.stateImported!];
      await waitFor(async () => (await imported()).every((n) => n > 0), { timeoutMs: 5000, intervalMs: 100 }).catch(() => undefined);
      const [a, b] = await imported();
      check('HTTP vm2 -> internet via SNAT, state at both gateways', snat === 'hello from internet\n' && a! > 0 && b! > 0,
        `${said(snat)}; out and back by ECMP over both gateways, NAT/conntrack keys pushed to gw-a ${a}, gw-b ${b}`);
    } else {
      const gwB = await world.status('gwB');
      check('HTTP vm2 -> internet via SNAT, reply via gw-b', snat === 'hello from internet\n' && gwB.counters.stateImported! > 0,
        `${said(snat)}; out via gw-a, back via gw-b with ${gwB.counters.stateImported} NAT/conntrack keys pushed to gw-b`);
    }

    if (bgp) {
      await checkSessionLoss(world, check, progress);
      view = { ...view!, sessions: await world.bgpStates(), learned: await world.learnedRoutes(), birdRoutes: await world.birdRoutes() };
    }
    const agents = {} as Record<HostName, AgentStatus>;
    for (const h of ['gwA', 'gwB', 'compute'] as const) agents[h] = await world.status(h);
    return { cases, agents, bgp: view };
  } finally {
    progress('tearing the world down');
    await world.teardown();
  }
}

/** The sessions come up, the floating range reaches the internet, the default reaches the provider router. */
async function checkSessions(world: LabWorld, check: Check, progress: (line: string) => void): Promise<NetnsLabBgpView> {
  progress('waiting for the BGP sessions between BIRD and the gateways');
  const established = await world.waitForBgp({ timeoutMs: 30_000 }).then(() => undefined, (e: unknown) => (e as Error).message);
  const sessions = await world.bgpStates();
  check('BGP sessions BIRD <-> gw-a, gw-b', established === undefined, Object.entries(sessions).map(([p, s]) => `${p} ${s}`).join(', '));

  const internetRoute = async (): Promise<string> => (await world.lab.exec(world.ns.inet, 'ip', ['route', 'show', LAB.floatingRange])).stdout.trim();
  const bothWays = (r: string): boolean => r.includes('via 192.0.2.2') && r.includes('via 198.51.100.2');
  await waitFor(async () => bothWays(await internetRoute()), { timeoutMs: 15_000, intervalMs: 200 }).catch(() => undefined);
  const route = await internetRoute();
  check(`${LAB.floatingRange} learned by the internet`, bothWays(route), route === '' ? 'no route in the internet namespace' : route.replace(/\s+/g, ' '));

  const defaults = async (): Promise<string[]> => (await world.learnedRoutes()).filter((r) => r.startsWith('0.0.0.0/0 '));
  await waitFor(async () => (await defaults()).length === 2, { timeoutMs: 15_000, intervalMs: 200 }).catch(() => undefined);
  const learned = await defaults();
  check('default route learned by the provider router', learned.length === 2, learned.length === 0 ? 'none in the store' : learned.join('; '));
  return { sessions, internetRoute: route, learned, birdRoutes: '' };
}

/** Both IPv4 sessions disabled in BIRD: the learned defaults go and vm1 loses the internet; enabled: back. */
async function checkSessionLoss(world: LabWorld, check: Check, progress: (line: string) => void): Promise<void> {
  progress('disabling BIRD\'s IPv4 sessions with both gateways, then enabling them again');
  const bird = world.upstream!.bird;
  const sessions = ['gw_a', 'gw_b'];
  const defaults = async (): Promise<number> => (await world.learnedRoutes()).filter((r) => r.startsWith('0.0.0.0/0 ')).length;
  let down: string;
  try {
    for (const p of sessions) await bird.birdc(`disable ${p}`);
    await waitFor(async () => (await defaults()) === 0, { timeoutMs: 15_000, intervalMs: 200 }).catch(() => undefined);
    const left = await defaults();
    const replies = await world.ping(world.ns.vm1, LAB.internetHost, { count: 2 });
    down = `${left} learned defaults left, ${replies}/2 replies`;
    check('sessions down: routes withdrawn, vm1 cut off', left === 0 && replies === 0, down);
  } finally {
    for (const p of sessions) await bird.birdc(`enable ${p}`);
  }
  const up = await world.waitForBgp({ protocols: sessions, timeoutMs: 30_000 }).then(() => true, () => false);
  await waitFor(async () => (await defaults()) === 2, { timeoutMs: 15_000, intervalMs: 200 }).catch(() => undefined);
  await world.warmUp(world.ns.vm1, LAB.internetHost).catch(() => undefined);
  const replies = await world.ping(world.ns.vm1, LAB.internetHost, { count: 3 });
  check('sessions up again: vm1 back on the internet', up && replies === 3, `sessions ${up ? 'Established' : 'not Established'}, ${await defaults()} learned defaults, ${replies}/3 replies`);
}

export function formatNetnsLabReport(r: NetnsLabReport): string {
  const world = r.bgp === undefined ? 'an internet host' : 'an internet host behind BIRD, the upstream BGP router';
  const lines = [`Tollgate lab (network namespaces on this machine: ZooKeeper, 2 gateways in one ingress set, 1 compute host, 2 VMs, ${world})`, ''];
  for (const c of r.cases) lines.push(`  ${c.ok ? 'PASS' : 'FAIL'}  ${c.name.padEnd(48)} ${c.detail}`);
  lines.push('');
  for (const [h, s] of Object.entries(r.agents)) {
    const c = s.counters;
    lines.push(`  ${h.padEnd(8)} upcalls ${c.upcalls}, simulations ${c.simulations}, flows installed ${c.installs}, fast-path hits ${s.datapath.hits}, `
      + `tunnelled ${s.datapath.tunnelSent} out / ${s.datapath.tunnelDelivered} in, state pushed ${s.push.entriesSent ?? 0} / imported ${c.stateImported}`);
  }
  if (r.bgp !== undefined) {
    lines.push('', '  BGP sessions (BIRD AS 64496 <-> gateways AS 64512):');
    for (const [p, s] of Object.entries(r.bgp.sessions)) lines.push(`    ${p.padEnd(8)} ${s}`);
    lines.push('  routes learned by the provider router (from the store):', ...r.bgp.learned.map((l) => `    ${l}`));
    lines.push(`  the internet's kernel route to ${LAB.floatingRange}: ${r.bgp.internetRoute.replace(/\s+/g, ' ')}`);
    lines.push('  BIRD (birdc show route):', ...r.bgp.birdRoutes.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('BIRD ')).map((l) => `    ${l.replace(/\t/g, '  ')}`));
  }
  const failed = r.cases.filter((c) => !c.ok).length;
  lines.push('', failed === 0 ? `all ${r.cases.length} cases passed` : `${failed} of ${r.cases.length} cases FAILED`);
  return lines.join('\n');
}
