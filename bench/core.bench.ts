// Core throughput on one core, each figure beside a naive baseline measured in the same run (STYLE:
// 12; DESIGN: Flows): simulations/s bridged and routed with SNAT on the lab world, megaflow lookups/s.
// Run: npm run bench:core  (about 1.5 minutes; it prints, it never fails on a figure)
import { cpus } from 'node:os';
import {
  ETHERTYPE_IPV4,
  FlowMatch,
  IPPROTO_UDP,
  VLAN_NONE,
  encodeFrame,
  flowMatchFromFrame,
  isDecodeError,
  parseIp,
  parseMac,
  type IpAddr,
  type Mac,
} from '../src/agent-core/packet/index.js';
import { simulate, type SimulationResult, type SimulationViews } from '../src/agent-core/simulation/index.js';
import { InMemoryTopology, type Id, type TopologyView } from '../src/agent-core/topology/index.js';
import { LAB, buildLabTopology } from '../src/gateway/lab/lab-topology.js';
import { benchFlowLookup, memoryReadLatencyNs, thpNote } from './flow-lookup.js';

const ROUNDS = 3;
// Steady state, as in an agent that runs for days: the routed path's generated chain code and the
// optimising compiler take a few seconds to settle (53-65k/s in its first second, 83-91k/s from
// the fourth on, measured here).
const WARMUP_MS = 4_000;
const ROUND_MS = 1_000;
const LOOKUP_FLOWS = 1_000_000;
const LOOKUPS = 5_000_000;

const TARGET_BRIDGED = 100_000;
const TARGET_ROUTED = 50_000;
const TARGET_LOOKUPS = 3_000_000;

const mac = (t: string): Mac => parseMac(t) as Mac;
const ip = (t: string): IpAddr => parseIp(t) as IpAddr;

// ---- the naive baseline: a view that hands out fresh copies ------------------------------------------

/**
 * Every call returns a fresh deep copy, as a view that re-read its objects from storage on each call
 * would: nothing the simulator memoizes by identity (parsed addresses, compiled rule conditions,
 * routing tables, port lists) survives from one packet to the next, so each walk starts from scratch.
 */
class FreshCopyView implements TopologyView {
  constructor(private readonly inner: TopologyView) {}
  bridge(id: Id) { return fresh(this.inner.bridge(id)); }
  router(id: Id) { return fresh(this.inner.router(id)); }
  port(id: Id) { return fresh(this.inner.port(id)); }
  chain(id: Id) { return fresh(this.inner.chain(id)); }
  rule(id: Id) { return fresh(this.inner.rule(id)); }
  portGroup(id: Id) { return fresh(this.inner.portGroup(id)); }
  portsOf(id: Id) { return fresh(this.inner.portsOf(id)); }
  routes(id: Id) { return fresh(this.inner.routes(id)); }
  portGroupsOf(id: Id) { return [...this.inner.portGroupsOf(id)]; }
}

function fresh<T>(o: T | undefined): T | undefined {
  return o === undefined ? undefined : structuredClone(o);
}

// ---- the lab world with its tables filled ------------------------------------------------------------

function labViews(topology: TopologyView): SimulationViews {
  const macs = new Map<string, Id>();
  const arp = new Map<string, Mac>();
  for (const vm of [LAB.vm1, LAB.vm2, LAB.vm3]) {
    macs.set(`${vm.bridge}|${VLAN_NONE}|${mac(vm.mac)}`, vm.port);
    arp.set(`${LAB.tenant}|${ip(vm.ip)}`, mac(vm.mac));
  }
  arp.set(`${LAB.tenant}|${ip('198.18.0.1')}`, mac('02:00:00:00:01:01'));
  arp.set(`${LAB.provider}|${ip('198.18.0.2')}`, mac('02:00:00:00:02:00'));
  arp.set(`${LAB.provider}|${ip(LAB.uplinkA.peer)}`, mac(LAB.uplinkA.peerMac));
  arp.set(`${LAB.provider}|${ip(LAB.uplinkB.peer)}`, mac(LAB.uplinkB.peerMac));
  return {
    topology,
    macs: { lookup: (b, v, m) => macs.get(`${b}|${v}|${m}`) ?? null },
    arp: { lookup: (r, a) => arp.get(`${r}|${a}`) },
    // No state is applied between runs: every routed packet is a new connection's first packet,
    // which is what reaches the simulator (later packets take the flow table).
    conntrack: { has: () => false },
    nat: { get: () => undefined },
    natPorts: { pickPort: (_d, _a, from, to, hash) => from + ((hash >>> 0) % (to - from + 1)), exhausted: () => false },
  };
}

function udpFrame(srcMac: string, dstMac: string, src: string, dst: string): Uint8Array {
  return encodeFrame({
    eth: { dst: mac(dstMac), src: mac(srcMac), etherType: ETHERTYPE_IPV4 },
    ip4: { tos: 0, id: 1, df: false, mf: false, fragOffset: 0, ttl: 64, proto: IPPROTO_UDP, src: ip(src) as number, dst: ip(dst) as number, options: new Uint8Array(0) },
    l4: { kind: 'udp', srcPort: 40000, dstPort: 53, payload: new Uint8Array(18) },
  });
}

// ---- measuring ---------------------------------------------------------------------------------------

interface Rate {
  readonly perSec: number;
  /** Process CPU time over wall time while measuring: ~1.0 = one core busy. */
  readonly cpuShare: number;
}

/** Calls `op` in chunks until `ms` have passed; operations per second and the CPU share used. */
function timeFor(op: () => void, ms: number): Rate {
  let n = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < 200; i++) op();
    n += 200;
    elapsed = performance.now() - t0;
  }
  const cpu = process.cpuUsage(cpu0);
  return { perSec: (n / elapsed) * 1000, cpuShare: (cpu.user + cpu.system) / 1000 / elapsed };
}

/** Warm-up, then the best of ROUNDS rounds. */
function bestRate(op: () => void): Rate {
  timeFor(op, WARMUP_MS);
  let best: Rate = { perSec: 0, cpuShare: 0 };
  for (let r = 0; r < ROUNDS; r++) {
    const x = timeFor(op, ROUND_MS);
    if (x.perSec > best.perSec) best = x;
  }
  return best;
}

/**
 * One simulation as the packet workflow runs it: a fresh match from the frame's key each time, no
 * trace (as an agent simulates unless it logs at debug level). `probe` is the same walk traced, for
 * checking the path.
 */
function simulation(frame: Uint8Array, port: Id, views: SimulationViews): { op: () => void; probe: () => SimulationResult } {
  const m0 = flowMatchFromFrame(frame, 1);
  if (isDecodeError(m0)) throw new Error('bench frame does not decode');
  const run = (trace: boolean): SimulationResult => simulate({ frame, match: new FlowMatch(m0.orig), ingressPortId: port, trace }, views);
  return { op: () => { sink += run(false).actions.length; }, probe: () => run(true) };
}

/** Keeps every result observable (printed at the end) so no run can be optimised away. */
let sink = 0;

/** Refuses to time a path that does not do what the figure claims (a drop is cheap and fast). */
function checkPath(label: string, r: SimulationResult, wantOut: Id, wantRewrite: boolean): string {
  const outs = r.actions.flatMap((a) => (a.kind === 'output' ? [a.portId] : []));
  const rewrites = r.actions.filter((a) => a.kind === 'setField').length;
  if (r.outcome.kind !== 'forward' || outs.join() !== wantOut || (wantRewrite && rewrites === 0)) {
    throw new Error(`${label}: unexpected path ${JSON.stringify(r.outcome)} -> ${outs.join(',')}\n${r.trace.join('\n')}`);
  }
  return `${r.outcome.kind} -> ${outs.join(',')}, ${r.actions.length} actions`;
}

// ---- output ------------------------------------------------------------------------------------------

const fmt = (x: number): string => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1));
const fmtRatio = (x: number): string => (x >= 100 ? `${Math.round(x).toLocaleString('en-US')}x` : `${x.toFixed(1)}x`);

interface Row {
  readonly what: string;
  readonly value: number;
  readonly baseline: number;
  readonly target: number;
  readonly unit: string;
}

function printRow(r: Row): void {
  const verdict = r.value >= r.target ? 'meets target' : 'BELOW target';
  console.log(
    `  ${r.what.padEnd(48)} ${fmt(r.value).padStart(12)} ${r.unit}  baseline ${fmt(r.baseline).padStart(10)} ${r.unit}` +
      `  ratio ${fmtRatio(r.value / r.baseline).padStart(9)}  target >= ${fmt(r.target)} ${r.unit}: ${verdict}`,
  );
}

async function main(): Promise<void> {
  const started = performance.now();
  console.log(`tollgate core bench: node ${process.version}, ${cpus()[0]?.model ?? 'cpu'}; one core: this process's main thread, no workers`);
  console.log(`simulations: ${WARMUP_MS} ms warm-up, best of ${ROUNDS} rounds; lookups: the median of all rounds (best beside it); each baseline measured the same way in this run`);
  console.log('simulation baseline = "fresh unoptimised walk": the same simulate() over a TopologyView that returns a fresh');
  console.log('  deep copy of every object on each call, so no memoized parse, compiled rule or routing table survives between packets');
  console.log('');

  const rows: Row[] = [];

  // Bridged: vm1 -> vm2 on net-a, both MACs learned.
  const bridgedTopo = new InMemoryTopology(buildLabTopology());
  const bridgedFrame = udpFrame(LAB.vm1.mac, LAB.vm2.mac, LAB.vm1.ip, LAB.vm2.ip);
  const bridged = simulation(bridgedFrame, LAB.vm1.port, labViews(bridgedTopo));
  console.log(`bridged vm1 -> vm2: ${checkPath('bridged', bridged.probe(), LAB.vm2.port, false)}`);
  // Routed with SNAT: vm2 -> internet through a 100-rule post-routing chain (98 extra + floating + SNAT).
  const routedTopo = new InMemoryTopology(buildLabTopology({ extraPostRoutingRules: 98 }));
  const rules = routedTopo.chain(LAB.chains.tenantPost)?.ruleIds.length ?? 0;
  const routedFrame = udpFrame(LAB.vm2.mac, LAB.netA.mac, LAB.vm2.ip, LAB.internetHost);
  const routed = simulation(routedFrame, LAB.vm2.port, labViews(routedTopo));
  const routedProbe = routed.probe();
  const routedOut = routedProbe.actions.flatMap((a) => (a.kind === 'output' ? [a.portId] : []))[0] ?? '';
  console.log(`routed vm2 -> ${LAB.internetHost} with SNAT, ${rules}-rule post-routing chain: ${checkPath('routed', routedProbe, routedOut, true)}`);

  // Tollgate's paths are measured before any baseline runs: the baseline's fresh copies have other
  // hidden classes, and the type feedback they leave in the shared simulate() code would slow the
  // measured path afterwards (an agent never sees such objects). Seen here: routed + SNAT 55k/s
  // measured after the bridged baseline, 85-104k/s before it.
  const fastBridged = bestRate(bridged.op);
  const fastRouted = bestRate(routed.op);
  const naiveBridged = simulation(bridgedFrame, LAB.vm1.port, labViews(new FreshCopyView(bridgedTopo)));
  checkPath('bridged (baseline)', naiveBridged.probe(), LAB.vm2.port, false);
  const naiveRouted = simulation(routedFrame, LAB.vm2.port, labViews(new FreshCopyView(routedTopo)));
  checkPath('routed (baseline)', naiveRouted.probe(), routedOut, true);
  const slowBridged = bestRate(naiveBridged.op);
  const slowRouted = bestRate(naiveRouted.op);
  console.log(`  cpu/wall: bridged tollgate ${fastBridged.cpuShare.toFixed(2)}, baseline ${slowBridged.cpuShare.toFixed(2)}; ` +
    `routed tollgate ${fastRouted.cpuShare.toFixed(2)}, baseline ${slowRouted.cpuShare.toFixed(2)}`);
  rows.push({ what: 'simulations/s, bridged (vm1 -> vm2 on net-a)', value: fastBridged.perSec, baseline: slowBridged.perSec, target: TARGET_BRIDGED, unit: '/s' });
  rows.push({ what: `simulations/s, routed + SNAT, ${rules}-rule chain`, value: fastRouted.perSec, baseline: slowRouted.perSec, target: TARGET_ROUTED, unit: '/s' });

  // Megaflow lookups with 1M flows against the linear scan of the same flows (bench/flow-lookup.ts):
  // ROUNDS fresh tables, each measured in rounds alternating with lookups through the flow; the figure is
  // the median of all those rounds (the best is printed beside it).
  {
    console.log(`megaflow lookups: ${LOOKUP_FLOWS.toLocaleString('en-US')} flows; run 1 also measures the linear-scan baseline`);
    const first = await benchFlowLookup({ flows: LOOKUP_FLOWS, lookups: LOOKUPS });
    const single = [...first.roundsOpsPerSec];
    for (let r = 1; r < ROUNDS; r++) {
      const again = await benchFlowLookup({ flows: LOOKUP_FLOWS, lookups: LOOKUPS, baseline: false });
      single.push(...again.roundsOpsPerSec);
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    console.log(
      `  ${first.flows.toLocaleString('en-US')} flows in ${first.masks} masks, ${Math.round(first.missShare * 100)}% misses, ` +
        `installs ${fmt(first.installsPerSec)}/s, longest probe ${first.maxProbeLength}, cpu/wall ${first.cpuShare}, ${thpNote(first.hugePageMiB)}; ` +
        `baseline over ${first.baselineLookups} lookups`,
    );
    console.log(`  single-key: median of ${single.length} rounds ${fmt(median(single))}/s, best ${fmt(Math.max(...single))}/s`);
    // A reference for the machine's state in this run: at 1M flows a lookup's time is mostly such reads.
    const readNs = memoryReadLatencyNs();
    const lookupNs = 1e9 / median(single);
    console.log(`  this run's memory: ${readNs.toFixed(0)} ns a dependent random read over 256 MiB; a median lookup took ${lookupNs.toFixed(0)} ns (${(lookupNs / readNs).toFixed(2)} reads)`);
    rows.push({ what: 'megaflow lookups/s, 1M flows (vs linear scan)', value: median(single), baseline: first.baselineOpsPerSec, target: TARGET_LOOKUPS, unit: '/s' });
  }

  console.log('');
  console.log('results (tollgate | naive baseline, same run | ratio | target):');
  for (const r of rows) printRow(r);
  console.log(`\nbench took ${((performance.now() - started) / 1000).toFixed(0)} s (checksum ${sink})`);
}

await main();
