// Reads the V8 CPU profiles `node --cpu-prof` wrote for the agent under bench/datapath.bench.ts
// (one file per thread: the main loop, the datapath worker, loader threads) and lists the frames
// with the most self time within each phase of the bench, so that it can say where the time went.
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  /** µs on the monotonic clock (CLOCK_MONOTONIC, as process.hrtime). */
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Stretches of the bench, [from, to] in µs of process.hrtime (the clock the profile's timestamps use). */
export interface PhaseWindow {
  readonly name: string;
  readonly intervals: readonly (readonly [number, number])[];
}

export interface ProfileFrame {
  readonly frame: string;
  /** Share of the thread's non-idle samples in the phase. */
  readonly percentOfBusy: number;
}

export interface PhaseProfile {
  readonly phase: string;
  readonly thread: string;
  /** Share of the phase the thread was running (not idle). */
  readonly busyPercent: number;
  readonly top: readonly ProfileFrame[];
}

/** Now on the profile's clock. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

function frameName(n: ProfileNode): string {
  const { functionName, url, lineNumber } = n.callFrame;
  const fn = functionName === '' ? '(anonymous)' : functionName;
  if (url === '') return fn;
  const path = url.replace(/^file:\/\//, '');
  const short = path.startsWith('node:') ? path : path.split('/').slice(-2).join('/');
  return lineNumber > 0 ? `${fn} ${short}:${lineNumber + 1}` : `${fn} ${short}`;
}

function summarize(thread: string, p: CpuProfile, w: PhaseWindow, topN: number): PhaseProfile | undefined {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let t = p.startTime;
  let total = 0;
  let idle = 0;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    if (!w.intervals.some(([from, to]) => t >= from && t <= to)) continue;
    const node = byId.get(p.samples[i]!);
    if (node === undefined) continue;
    total++;
    if (node.callFrame.functionName === '(idle)') {
      idle++;
      continue;
    }
    const k = frameName(node);
    self.set(k, (self.get(k) ?? 0) + 1);
  }
  const busy = total - idle;
  if (total === 0) return undefined;
  const top = [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, topN)
    .map(([frame, n]) => ({ frame, percentOfBusy: Math.round((n / Math.max(1, busy)) * 1000) / 10 }));
  return { phase: w.name, thread, busyPercent: Math.round((busy / total) * 100), top };
}

/**
 * For each phase, each thread's top frames by self time (busiest thread first; threads idle in
 * the phase are left out). A native call's time counts as the self time of the JS function that
 * made it (e.g. the addon's sendmmsg shows as the arrow in AfPacketPort.send).
 */
export function summarizeProfiles(dir: string, phases: readonly PhaseWindow[], topN = 10): PhaseProfile[] {
  const profiles = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => ({ thread: basename(f), p: JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile }));
  const out: PhaseProfile[] = [];
  for (const w of phases) {
    const rows = profiles
      .map(({ thread, p }) => summarize(thread, p, w, topN))
      .filter((r): r is PhaseProfile => r !== undefined && r.busyPercent >= 5)
      .sort((a, b) => b.busyPercent - a.busyPercent);
    out.push(...rows);
  }
  return out;
}
