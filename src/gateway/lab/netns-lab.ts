// `tollgate lab` on this machine (DESIGN: Interfaces for people): ZooKeeper, three real agents (two
// gateways in one ingress set, a compute host), VMs and an internet host as network namespaces,
// real traffic (ping, HTTP) through them, and a report of what worked and what the agents counted.
import type { LabCase } from './sim-lab.js';
import { LAB } from './lab-topology.js';
import { LabWorld, type AgentStatus, type HostName } from './lab-world.js';
import { startHttpServer } from './lab-servers.js';

export interface NetnsLabReport {
  readonly cases: LabCase[];
  readonly agents: Record<HostName, AgentStatus>;
}

export async function runNetnsLab(progress: (line: string) => void = () => undefined): Promise<NetnsLabReport> {
  progress('building the world: ZooKeeper, namespaces, the lab topology in the store');
  // Out through uplink A only (gateway A); the internet routes the floating range back through B:
  // every reply to SNAT needs the state the compute host pushed to the whole ingress set.
  const world = await LabWorld.create((objects) => objects.filter((o) => o.id !== 'provider-default-b'));
  const cases: LabCase[] = [];
  const check = (name: string, ok: boolean, detail: string): void => {
    cases.push({ name, ok, detail });
    progress(`${ok ? 'PASS' : 'FAIL'}  ${name}: ${detail}`);
  };
  try {
    progress('starting three agents: gw-a (uplink-a), gw-b (uplink-b), compute-1 (vm1, vm2)');
    await world.startAll();
    await world.routeInternetVia('A');
    await startHttpServer(world.lab, world.ns.vm1, '0.0.0.0', 8080, 'vm1');
    await startHttpServer(world.lab, world.ns.inet, LAB.internetHost, 8080, 'internet');

    await world.warmUp(world.ns.inet, LAB.floatingIp, LAB.internetHost).catch(() => undefined);
    const replies = await world.ping(world.ns.inet, LAB.floatingIp, { src: LAB.internetHost, count: 5 });
    check('ping internet -> vm1 floating IP', replies === 5, `${replies}/5 replies (via gw-a, tunnel to compute-1, DNAT to ${LAB.vm1.ip})`);

    const http = await world.curl(world.ns.inet, `http://${LAB.floatingIp}:8080/`);
    check('HTTP internet -> vm1 floating IP', http === 'hello from vm1\n', http === undefined ? 'no answer' : JSON.stringify(http.trim()));

    const out = await world.curl(world.ns.vm1, `http://${LAB.internetHost}:8080/`);
    check('HTTP vm1 -> internet (floating IP source)', out === 'hello from internet\n', out === undefined ? 'no answer' : JSON.stringify(out.trim()));

    await world.routeInternetVia('B');
    const snat = await world.curl(world.ns.vm2, `http://${LAB.internetHost}:8080/`);
    const gwB = await world.status('gwB');
    check(
      'HTTP vm2 -> internet via SNAT, reply via gw-b',
      snat === 'hello from internet\n' && gwB.counters.stateImported! > 0,
      `${snat === undefined ? 'no answer' : JSON.stringify(snat.trim())}; out via gw-a, back via gw-b with ${gwB.counters.stateImported} NAT/conntrack keys pushed to it`,
    );

    const agents = {} as Record<HostName, AgentStatus>;
    for (const h of ['gwA', 'gwB', 'compute'] as const) agents[h] = await world.status(h);
    return { cases, agents };
  } finally {
    progress('tearing the world down');
    await world.teardown();
  }
}

export function formatNetnsLabReport(r: NetnsLabReport): string {
  const lines = ['Tollgate lab (network namespaces on this machine: ZooKeeper, 2 gateways in one ingress set, 1 compute host, 2 VMs, an internet host)', ''];
  for (const c of r.cases) lines.push(`  ${c.ok ? 'PASS' : 'FAIL'}  ${c.name.padEnd(48)} ${c.detail}`);
  lines.push('');
  for (const [h, s] of Object.entries(r.agents)) {
    const c = s.counters;
    lines.push(`  ${h.padEnd(8)} upcalls ${c.upcalls}, simulations ${c.simulations}, flows installed ${c.installs}, fast-path hits ${s.datapath.hits}, `
      + `tunnelled ${s.datapath.tunnelSent} out / ${s.datapath.tunnelDelivered} in, state pushed ${s.push.entriesSent ?? 0} / imported ${c.stateImported}`);
  }
  const failed = r.cases.filter((c) => !c.ok).length;
  lines.push('', failed === 0 ? `all ${r.cases.length} cases passed` : `${failed} of ${r.cases.length} cases FAILED`);
  return lines.join('\n');
}
