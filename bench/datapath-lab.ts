// The two gateways of bench/datapath.bench.ts side by side: one Tollgate agent that is both the
// compute host and the gateway (AgentWorld of the e2e tests, re-bound), and the kernel reference
// (a gateway namespace forwarding with nftables masquerade) in the same namespace layout, plus the
// counters both are judged by (STACK-NOTES: Packets: same generator, same pinning).
//   agent:  vm2 ns eth0 ─veth─ [root: agent, AF_PACKET] ─veth─ inet ns upa
//   kernel: ksrc ns eth0 ─veth─ [kgw ns: forward + masquerade] ─veth─ kdst ns upa
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { TopologyObject } from '../src/agent-core/topology/index.js';
import { LAB } from '../src/gateway/lab/lab-topology.js';
import { AgentWorld } from '../test/e2e/agents/agent-world.js';
import { type ChildHandle, type NetnsLab, run } from '../test/helpers/netns.js';

export const REPO = resolve(new URL('..', import.meta.url).pathname);
/** The gateway's core (the agent, or the kernel gateway's receive work) and the generator's. */
export const GATEWAY_CPU = 0;
export const GENERATOR_CPU = 1;
/** Nice value of the agent: it must win its core against the kernel's receive work (STACK-NOTES). */
export const AGENT_NICE = -10;
/** Nice value of the generator's session (its autogroup's weight against other sessions on its core). */
export const GENERATOR_NICE = -5;

/** Packet and drop counters of one link, read from /proc/<pid>/net/dev of a process in its namespace. */
export interface LinkCounters {
  rxPackets: number;
  rxDropped: number;
  txPackets: number;
  txDropped: number;
}

export function readLinkCounters(pidInNamespace: number | 'self', ifname: string): LinkCounters {
  const text = readFileSync(`/proc/${pidInNamespace}/net/dev`, 'utf8');
  for (const line of text.split('\n')) {
    const [name, rest] = line.split(':');
    if (name?.trim() !== ifname || rest === undefined) continue;
    const f = rest.trim().split(/\s+/).map(Number);
    return { rxPackets: f[1]!, rxDropped: f[3]!, txPackets: f[9]!, txDropped: f[11]! };
  }
  throw new Error(`no link ${ifname} in /proc/${pidInNamespace}/net/dev`);
}

/** Frames the CPU's backlog refused (netdev_max_backlog), from /proc/net/softnet_stat. */
export function softnetDropped(cpu: number): number {
  const row = readFileSync('/proc/net/softnet_stat', 'utf8').trim().split('\n')[cpu];
  if (row === undefined) throw new Error(`no softnet_stat row for CPU ${cpu}`);
  return parseInt(row.trim().split(/\s+/)[1]!, 16);
}

/** The PID of the kernel thread that runs deferred softirq work (packet receive under load) on cpu. */
export function ksoftirqdPid(cpu: number): number {
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === `ksoftirqd/${cpu}`) return Number(pid);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`no ksoftirqd/${cpu}`);
}

/** A thread's nice value (field 19 of /proc/<pid>/stat). */
export function niceOf(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
}

export async function setNice(pid: number, nice: number): Promise<void> {
  await run('renice', ['-n', String(nice), '-p', String(pid)]);
}

/** Ticks (USER_HZ) of one CPU from /proc/stat: where its time went. */
export interface CpuTicks {
  user: number;
  system: number;
  softirq: number;
  idle: number;
  total: number;
}

export function cpuTicks(cpu: number): CpuTicks {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${cpu} `));
  if (line === undefined) throw new Error(`no cpu${cpu} in /proc/stat`);
  // user nice system idle iowait irq softirq steal
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  return { user: f[0]! + f[1]!, system: f[2]! + f[5]!, softirq: f[6]!, idle: f[3]! + f[4]!, total: f.reduce((a, b) => a + b, 0) };
}

/** A process's user and system ticks over all its threads (/proc/<pid>/stat fields 14 and 15). */
export function processTicks(pid: number): { user: number; system: number } {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { user: Number(f[11]), system: Number(f[12]) };
}

/** A sleeping process inside ns: its /proc/<pid>/net shows the namespace's links without a spawn per read. */
export async function namespaceAnchor(lab: NetnsLab, ns: string): Promise<number> {
  const child = lab.spawn(ns, 'sh', ['-c', 'echo up; exec sleep 3600']);
  await child.waitForLine((l) => l === 'up');
  if (child.proc.pid === undefined) throw new Error(`no anchor process in ${ns}`);
  // `ip netns exec` execs sh, and sh execs sleep: the PID stays the one spawned.
  return child.proc.pid;
}

/** Receive Packet Steering: the link's receive work runs on these CPUs (a veth has one queue). */
export async function steerReceive(lab: NetnsLab, ns: string | undefined, ifname: string, cpu: number): Promise<void> {
  const mask = (1 << cpu).toString(16);
  await lab.exec(ns, 'sh', ['-c', `echo ${mask} > /sys/class/net/${ifname}/queues/rx-0/rps_cpus`]);
}

/**
 * The destination drops IPv4 frames at its ingress hook, counted: the cheapest end for both
 * gateways (no socket, no ICMP port unreachable back through them). ARP still gets through.
 */
export async function installSink(lab: NetnsLab, ns: string, ifname: string): Promise<void> {
  await lab.exec(ns, 'nft', ['-f', '-'], {
    input: `table netdev bench_sink {\n  chain in {\n    type filter hook ingress device "${ifname}" priority 0;\n    ether type ip counter drop\n  }\n}\n`,
  });
}

export interface GatewaySide {
  /** Also the generator's id for this source. */
  readonly name: string;
  /** The generator's namespace, link and the VM it stands for (its MAC and address go into the frames). */
  readonly source: { readonly ns: string; readonly ifname: string; readonly anchor: number; readonly vm: typeof LAB.vm1 | typeof LAB.vm2 };
  readonly destination: { readonly ns: string; readonly ifname: string; readonly anchor: number };
}

/** The kernel gateway: the same addresses and MACs as the agent's side, so the generator sends identical frames. */
export async function createKernelGateway(lab: NetnsLab): Promise<GatewaySide & { gw: string }> {
  const src = await lab.addNamespace('ksrc');
  const gw = await lab.addNamespace('kgw');
  const dst = await lab.addNamespace('kdst');
  await lab.addVeth({ ns: src, ifname: 'eth0', addrs: [`${LAB.vm2.ip}/24`], mac: LAB.vm2.mac }, { ns: gw, ifname: 'gin', addrs: [LAB.netA.address], mac: LAB.netA.mac });
  await lab.addVeth({ ns: gw, ifname: 'gout', addrs: [LAB.uplinkA.address], mac: LAB.uplinkA.mac }, { ns: dst, ifname: 'upa', addrs: ['192.0.2.1/28'], mac: LAB.uplinkA.peerMac });
  await lab.addAddress(dst, 'lo', `${LAB.internetHost}/32`);
  await lab.exec(dst, 'ip', ['route', 'add', LAB.floatingRange, 'via', '192.0.2.2']);
  await lab.exec(src, 'ip', ['route', 'add', 'default', 'via', LAB.netA.address.split('/')[0]!]);
  await lab.sysctl(gw, 'net.ipv4.ip_forward', '1');
  await lab.exec(gw, 'ip', ['route', 'add', 'default', 'via', LAB.uplinkA.peer]);
  await lab.exec(gw, 'nft', ['-f', '-'], {
    input: 'table ip bench_nat {\n  chain post {\n    type nat hook postrouting priority srcnat;\n    oifname "gout" masquerade\n  }\n}\n',
  });
  await steerReceive(lab, gw, 'gin', GATEWAY_CPU);
  await installSink(lab, dst, 'upa');
  return {
    name: 'kernel', gw,
    source: { ns: src, ifname: 'eth0', anchor: await namespaceAnchor(lab, src), vm: LAB.vm2 },
    destination: { ns: dst, ifname: 'upa', anchor: await namespaceAnchor(lab, dst) },
  };
}

/** A rule that only reads vm1's connection state: its flows become tracked (a conntrack key to push), with no NAT lease. */
export const TRACK_VM1_RULE = 'bench-track-vm1';

/**
 * The lab topology for the bench: egress only through uplink A (no ECMP over gateway B's uplink);
 * vm1's traffic (floating IP, static NAT) tracked by a rule that reads its connection state, so that
 * each new vm1 flow is a simulation, an install and a conntrack push without a SNAT port lease; and
 * optionally more dynamic SNAT addresses than the lab's one (203.0.113.1..N).
 */
function benchTopology(snatAddresses: number): (objects: TopologyObject[]) => TopologyObject[] {
  const last = `203.0.113.${snatAddresses}`;
  const track: TopologyObject = {
    id: TRACK_VM1_RULE, chainId: LAB.chains.tenantPost, kind: 'literal', action: 'continue',
    condition: { nwSrc: { value: `${LAB.vm1.ip}/32` }, connState: 'forward' },
  };
  return (objects) => [
    ...objects
      .filter((o) => o.id !== 'provider-default-b')
      .map((o): TopologyObject => {
        if ('kind' in o && o.kind === 'nat') return { ...o, targets: o.targets.map((t) => ({ ...t, addressTo: last })) };
        if ('type' in o && o.type === 'chain' && o.id === LAB.chains.tenantPost) return { ...o, ruleIds: [TRACK_VM1_RULE, ...o.ruleIds] };
        return o;
      }),
    track,
  ];
}

export interface AgentSide extends GatewaySide {
  readonly world: AgentWorld;
  readonly agent: ChildHandle;
  /** vm1 as the source: its floating IP is a static NAT (no port lease), its connections tracked (TRACK_VM1_RULE). */
  readonly vm1Source: GatewaySide['source'];
}

/**
 * ZooKeeper, the lab topology, and one agent binding vm1, vm2 and uplink A (compute host and
 * gateway at once) on the gateway core, in its own session with a lower nice value; gateway B runs
 * too (on the generator's core, like ZooKeeper: "other hosts") so that new flows have state to push.
 */
export async function createAgentSide(opts: { cpuProfileDir?: string; snatAddresses?: number }): Promise<AgentSide> {
  const snat = opts.snatAddresses ?? 1;
  if (!Number.isInteger(snat) || snat < 1 || snat > 9) throw new RangeError(`SNAT addresses must be 1..9 (203.0.113.10 is the floating IP), not ${snat}`);
  const world = await AgentWorld.create(benchTopology(snat));
  try {
    world.specs.compute = {
      ...world.specs.compute,
      bindings: [
        { port: LAB.vm1.port, interface: world.ifs.vm1 },
        { port: LAB.vm2.port, interface: world.ifs.vm2 },
        { port: LAB.uplinkA.port, interface: world.ifs.upA },
      ],
    };
    if (world.zk.pid !== undefined) await run('taskset', ['-a', '-pc', String(GENERATOR_CPU), String(world.zk.pid)]);
    // The agent's receive work (the copy into its ring) happens on its own core, as the kernel gateway's does.
    await steerReceive(world.lab, undefined, world.ifs.vm2, GATEWAY_CPU);
    await steerReceive(world.lab, undefined, world.ifs.vm1, GATEWAY_CPU);
    await installSink(world.lab, world.ns.inet, 'upa');
    const prof = opts.cpuProfileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfileDir];
    const agent = world.lab.spawn(undefined, 'setsid', [
      'nice', '-n', String(AGENT_NICE), 'taskset', '-c', String(GATEWAY_CPU),
      process.execPath, ...prof, '--import', 'tsx', resolve(REPO, 'src/gateway/cli.ts'), 'agent', '--config', world.configFile('compute'),
    ]);
    world.agents.set('compute', agent);
    await agent.waitForLine((l) => l.includes('ready'), 30_000);
    // setsid gave it its own autogroup: lower that group's nice too, or the session's share caps it.
    await run('sh', ['-c', `echo ${AGENT_NICE} > /proc/${agent.proc.pid}/autogroup`], { allowFail: true });
    const gwB = await world.startAgent('gwB');
    await run('taskset', ['-a', '-pc', String(GENERATOR_CPU), String(gwB.proc.pid)]);
    return {
      name: 'agent', world, agent,
      source: { ns: world.ns.vm2, ifname: 'eth0', anchor: await namespaceAnchor(world.lab, world.ns.vm2), vm: LAB.vm2 },
      vm1Source: { ns: world.ns.vm1, ifname: 'eth0', anchor: await namespaceAnchor(world.lab, world.ns.vm1), vm: LAB.vm1 },
      destination: { ns: world.ns.inet, ifname: 'upa', anchor: await namespaceAnchor(world.lab, world.ns.inet) },
    };
  } catch (e) {
    await world.teardown();
    throw e;
  }
}
