// How bench/datapath.bench.ts measures one run: the generator process driven over stdin, counters
// sampled at both ends of a window (generator marks, /proc/<pid>/net/dev of each namespace,
// softnet_stat, nf_conntrack stats, the agent's SIGUSR2 status), and the rates and losses taken
// from them (STACK-NOTES: Packets: say which side limited each run).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { LAB } from '../src/gateway/lab/lab-topology.js';
import type { AgentStatus } from '../test/e2e/agents/agent-world.js';
import { type ChildHandle, type NetnsLab, run, waitFor } from '../test/helpers/netns.js';
import type { Mark, OpenCommand, SendReport } from './datapath-generator.js';
import {
  type CpuTicks, GATEWAY_CPU, GENERATOR_CPU, GENERATOR_NICE, type GatewaySide, REPO, cpuTicks, processTicks, readLinkCounters, softnetDropped,
} from './datapath-lab.js';
import { monotonicUs } from './datapath-profile.js';

/** Sending before a window opens, so that rings, backlogs and flows are in their steady state. */
const WARM_MS = 500;
/** Ingress loss above this share of the offered load means the gateway, not the generator, set the rate. */
const LOSS_LIMITED = 0.005;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The generator process (datapath-generator.ts) on its own core, one command at a time. */
export class Generator {
  #cursor = 0;

  private constructor(private readonly child: ChildHandle) {}

  static async start(lab: NetnsLab): Promise<Generator> {
    // Its own session (autogroup) with a lower nice value: the generator must outrun the gateway
    // although other work shares its core.
    const child = lab.spawn(undefined, 'setsid', [
      'taskset', '-c', String(GENERATOR_CPU), process.execPath, '--import', 'tsx', resolve(REPO, 'bench/datapath-generator.ts'),
    ]);
    await child.waitForLine((l) => l.includes('"ready"'), 30_000);
    await run('sh', ['-c', `echo ${GENERATOR_NICE} > /proc/${child.proc.pid}/autogroup`], { allowFail: true });
    const g = new Generator(child);
    g.#cursor = child.lines.length;
    return g;
  }

  async command<T>(c: object, timeoutMs = 30_000): Promise<T> {
    this.child.proc.stdin?.write(`${JSON.stringify(c)}\n`);
    let reply: { op: string; message?: string } | undefined;
    await this.child.waitForLine(() => {
      const l = this.child.lines[this.#cursor];
      if (l !== undefined) {
        this.#cursor++;
        reply = JSON.parse(l) as { op: string };
      }
      return reply !== undefined;
    }, timeoutMs);
    if (reply!.op === 'error') throw new Error(`generator: ${reply!.message}`);
    return reply as T;
  }

  open(side: GatewaySide): Promise<unknown> {
    const c: OpenCommand = {
      op: 'open', id: side.name, netns: side.source.ns, ifname: side.source.ifname,
      srcMac: side.source.vm.mac, dstMac: LAB.netA.mac, srcIp: side.source.vm.ip, dstIp: LAB.internetHost,
    };
    return this.command(c);
  }

  send(id: string, pps: number, ms: number, newFlows: boolean): Promise<SendReport> {
    return this.command<SendReport>({ op: 'send', id, pps, ms, newFlows }, ms + 30_000);
  }
}

interface Sample {
  t: number;
  srcTx: number;
  dstRx: number;
  softnetDropped: number;
  cpu: CpuTicks;
  agent?: AgentStatus;
  agentTicks?: { user: number; system: number };
  /** The kernel gateway's conntrack: its entry count (new connections, after a flush; the per-CPU insert counter stays 0 here) and failures. */
  conntrack?: { entries: number; insertFailed: number; drop: number; earlyDrop: number };
}

export interface Side extends GatewaySide {
  sample(): Promise<Sample>;
}

function conntrackStats(pid: number): NonNullable<Sample['conntrack']> {
  const rows = readFileSync(`/proc/${pid}/net/stat/nf_conntrack`, 'utf8').trim().split('\n').slice(1);
  const col = (i: number): number => rows.reduce((s, r) => s + parseInt(r.trim().split(/\s+/)[i]!, 16), 0);
  return { entries: parseInt(rows[0]!.trim().split(/\s+/)[0]!, 16), insertFailed: col(9), drop: col(10), earlyDrop: col(11) };
}

/** The agent's status, and its PID for its CPU time. */
export interface AgentProbe {
  readonly pid: number;
  status(): Promise<AgentStatus>;
}

export function sideOf(g: GatewaySide, agent?: AgentProbe, gwAnchor?: number): Side {
  return {
    ...g,
    async sample() {
      const src = readLinkCounters(g.source.anchor, g.source.ifname);
      const dst = readLinkCounters(g.destination.anchor, g.destination.ifname);
      const s: Sample = {
        t: performance.timeOrigin + performance.now(), srcTx: src.txPackets, dstRx: dst.rxPackets,
        softnetDropped: softnetDropped(GATEWAY_CPU), cpu: cpuTicks(GATEWAY_CPU),
      };
      if (gwAnchor !== undefined) s.conntrack = conntrackStats(gwAnchor);
      if (agent !== undefined) {
        s.agentTicks = processTicks(agent.pid);
        s.agent = await agent.status();
      }
      return s;
    },
  };
}

/** One of the agent's datapath ports in its status. */
function portOf(s: AgentStatus, ifname: string): { drops: number; txFailed: number } {
  const p = s.datapath.ports.find((x) => (x as unknown as { ifname: string }).ifname === ifname);
  return { drops: p?.kernelDrops ?? 0, txFailed: p?.txFailed ?? 0 };
}

/** The agent's links of a run: where the source's frames enter it, where they leave. */
export interface AgentLinks {
  readonly ingress: string;
  readonly egress: string;
}

export interface Point {
  side: string;
  requestedPps: number;
  /** Frames the generator tried to send a second (at max, refused sends cost it little: far above what is taken). */
  offeredPps: number;
  /** Frames the gateway's ingress took (the kernel accepted the send). */
  acceptedPps: number;
  deliveredPps: number;
  /** Sends refused: the generator's socket buffer was full because the gateway's core had not taken earlier frames. */
  refusedPps: number;
  /** Frames the kernel dropped because the agent's receive ring was full. */
  ringDropPps: number;
  /** Frames refused by the gateway core's backlog (netdev_max_backlog, softnet_stat of CPU 0). */
  backlogDropPps: number;
  limitedBy: 'generator' | 'gateway';
  /** The measuring window on the CPU profile's clock (µs). */
  windowUs: [number, number];
  /**
   * Where the gateway core's time went, % of the window: softirq (receive and forwarding work,
   * in ksoftirqd or on top of whatever ran), system, user (every process on it), idle; and the
   * agent's own user and system time (its system time also holds softirq work that interrupted it).
   */
  core: { softirq: number; system: number; user: number; idle: number; agentUser: number; agentSystem: number };
  agent?: Record<string, number>;
  kernel?: Record<string, number>;
}

/** The generator's counts at moment t, interpolated between its marks. */
function countsAt(marks: readonly Mark[], t: number): { attempted: number; sent: number } {
  const i = marks.findIndex((m) => m.at >= t);
  if (i <= 0) return i === 0 ? marks[0]! : marks[marks.length - 1]!;
  const [a, b] = [marks[i - 1]!, marks[i]!];
  const f = (t - a.at) / (b.at - a.at || 1);
  return { attempted: a.attempted + f * (b.attempted - a.attempted), sent: a.sent + f * (b.sent - a.sent) };
}

export async function measure(side: Side, gen: Generator, pps: number, newFlows: boolean, windowMs: number, links?: AgentLinks): Promise<Point> {
  const sending = gen.send(side.name, pps, WARM_MS + windowMs + 400, newFlows);
  // Awaited below; until then a failure (the generator killed by a cleanup) must not crash the process.
  sending.catch(() => undefined);
  await sleep(WARM_MS);
  const fromUs = monotonicUs();
  const a = await side.sample();
  await sleep(windowMs);
  const b = await side.sample();
  const windowUs: [number, number] = [fromUs, monotonicUs()];
  const report = await sending;
  const secs = (b.t - a.t) / 1000;
  const rate = (x: number): number => Math.round(x / secs);
  const [ga, gb] = [countsAt(report.marks, a.t), countsAt(report.marks, b.t)];
  const attempted = gb.attempted - ga.attempted;
  const refused = attempted - (gb.sent - ga.sent);
  let ringDrops = 0;
  let agent: Record<string, number> | undefined;
  if (a.agent !== undefined && b.agent !== undefined && links !== undefined) {
    ringDrops = portOf(b.agent, links.ingress).drops - portOf(a.agent, links.ingress).drops;
    const d = (f: (s: AgentStatus) => number | undefined): number => rate((f(b.agent!) ?? 0) - (f(a.agent!) ?? 0));
    agent = {
      hits: d((s) => s.datapath.hits), upcalls: d((s) => s.datapath.upcalls),
      upcallDrops: d((s) => (s.datapath.upcallQueueDropped ?? 0) + (s.counters.upcallsShed ?? 0)),
      simulations: d((s) => s.counters.simulations), installs: d((s) => s.counters.installs), parked: d((s) => s.counters.parked),
      givenUp: d((s) => s.counters.givenUp), pushMessages: d((s) => s.push.messagesSent), pushEntries: d((s) => s.push.entriesSent),
      egressSendFailed: rate(portOf(b.agent, links.egress).txFailed - portOf(a.agent, links.egress).txFailed),
      flows: b.agent.datapath.flows ?? 0, waiting: b.agent.waiting,
    };
  }
  let kernel: Record<string, number> | undefined;
  if (a.conntrack !== undefined && b.conntrack !== undefined) {
    kernel = {
      newEntries: rate(b.conntrack.entries - a.conntrack.entries), insertFailed: rate(b.conntrack.insertFailed - a.conntrack.insertFailed),
      conntrackDrops: rate(b.conntrack.drop - a.conntrack.drop + b.conntrack.earlyDrop - a.conntrack.earlyDrop), entries: b.conntrack.entries,
    };
  }
  const backlogDrops = b.softnetDropped - a.softnetDropped;
  const ticks = b.cpu.total - a.cpu.total || 1;
  const share = (x: number): number => Math.round((x / ticks) * 100);
  const core = {
    softirq: share(b.cpu.softirq - a.cpu.softirq), system: share(b.cpu.system - a.cpu.system), user: share(b.cpu.user - a.cpu.user),
    idle: share(b.cpu.idle - a.cpu.idle),
    agentUser: a.agentTicks && b.agentTicks ? share(b.agentTicks.user - a.agentTicks.user) : 0,
    agentSystem: a.agentTicks && b.agentTicks ? share(b.agentTicks.system - a.agentTicks.system) : 0,
  };
  return {
    side: side.name, requestedPps: pps, offeredPps: rate(attempted), acceptedPps: rate(b.srcTx - a.srcTx), deliveredPps: rate(b.dstRx - a.dstRx),
    refusedPps: rate(refused), ringDropPps: rate(ringDrops), backlogDropPps: rate(backlogDrops),
    limitedBy: refused + ringDrops + backlogDrops > attempted * LOSS_LIMITED ? 'gateway' : 'generator', windowUs, core, agent, kernel,
  };
}

/** Sends slowly until frames come out at the destination (ARP resolved, flow installed). */
export async function warmUp(side: Side, gen: Generator): Promise<void> {
  await waitFor(async () => {
    const before = readLinkCounters(side.destination.anchor, side.destination.ifname).rxPackets;
    await gen.send(side.name, 1000, 200, false);
    await sleep(100);
    return readLinkCounters(side.destination.anchor, side.destination.ifname).rxPackets - before > 150;
  }, { timeoutMs: 20_000, what: `${side.name} to forward the established flow` });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length === 0 ? 0 : s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
export function medianPoint(points: Point[]): Point {
  const m = (f: (p: Point) => number): number => Math.round(median(points.map(f)));
  const limited = points.filter((p) => p.limitedBy === 'gateway').length * 2 > points.length ? 'gateway' : 'generator';
  const sub = (f: (p: Point) => Record<string, number> | undefined): Record<string, number> | undefined => {
    const first = f(points[0]!);
    if (first === undefined) return undefined;
    return Object.fromEntries(Object.keys(first).map((k) => [k, m((p) => f(p)?.[k] ?? 0)]));
  };
  return {
    side: points[0]!.side, requestedPps: points[0]!.requestedPps, offeredPps: m((p) => p.offeredPps), acceptedPps: m((p) => p.acceptedPps),
    deliveredPps: m((p) => p.deliveredPps), refusedPps: m((p) => p.refusedPps), ringDropPps: m((p) => p.ringDropPps), backlogDropPps: m((p) => p.backlogDropPps), limitedBy: limited, windowUs: points[0]!.windowUs,
    core: {
      softirq: m((p) => p.core.softirq), system: m((p) => p.core.system), user: m((p) => p.core.user), idle: m((p) => p.core.idle),
      agentUser: m((p) => p.core.agentUser), agentSystem: m((p) => p.core.agentSystem),
    },
    agent: sub((p) => p.agent), kernel: sub((p) => p.kernel),
  };
}

