// Flow-table lookup rate: the megaflow table against the linear-scan reference, same flows,
// same keys, same run (DESIGN: Flows; STYLE: 12 — benchmarks print ratios to a baseline).
// Run alone: npx tsx bench/flow-lookup.ts [--flows N] [--rounds N] [--no-baseline]
// (1M flows by default; about a minute; it prints, it never fails on a figure).
import {
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  FIELD_OFFSET,
  FRAG_NONE,
  Field,
  IP_TTL_CLAMP,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  KEY_WORDS,
  VLAN_NONE,
  fieldBit,
  setKeyField,
  type FieldMask,
} from '../src/agent-core/packet/flow-match.js';
import { pathToFileURL } from 'node:url';
import { type FlowTable, LinearFlowTable, MegaflowTable } from '../src/agent-core/flows/index.js';
import { hugePageBytes } from '../src/gateway/huge-pages.js';

export interface FlowLookupResult {
  name: string;
  /** Megaflow single-key lookups per second at `flows` installed flows (hits and misses mixed): the median round. */
  opsPerSec: number;
  /** The best round of single-key lookups (the one least disturbed by whatever else shared the machine). */
  bestOpsPerSec: number;
  /** Every round's single-key rate, in the order measured. */
  roundsOpsPerSec: number[];
  /** Linear-scan lookups per second at the same installed flows. */
  baselineOpsPerSec: number;
  ratio: number;
  flows: number;
  masks: number;
  missShare: number;
  installsPerSec: number;
  baselineLookups: number;
  maxProbeLength: number;
  /** CPU time over wall time in the reported rounds (below ~0.9: something else shared the core). */
  cpuShare: number;
  /**
   * Median single-key lookups per second of this process's CPU time: what the rate would be had
   * the core been ours alone (caches and memory bandwidth may still have been shared).
   */
  cpuOpsPerSec: number;
  /** Median single-key lookups/s through lookup() and the flow object (the path before slot payloads). */
  viaFlowOpsPerSec: number;
  /**
   * MiB of this process in transparent huge pages once the table is built: the table's typed arrays
   * are there when glibc's malloc is told to (GLIBC_TUNABLES, as bin/tollgate starts the agent).
   */
  hugePageMiB: number;
}

const maskOf = (...fields: Field[]): FieldMask => fields.reduce<FieldMask>((m, f) => m | fieldBit(f), 0);

/** The shapes of megaflow a gateway carries, with the share of flows of each. */
interface FlowKind {
  readonly name: string;
  readonly mask: FieldMask;
  readonly share: number;
  readonly fill: (key: Float64Array, r: () => number) => void;
}

/** An IPv4 5-tuple; `proto` 0 picks TCP or UDP at random. */
const v4Tuple = (proto: number) => (k: Float64Array, r: () => number): void => {
  setKeyField(k, Field.EthType, ETHERTYPE_IPV4);
  setKeyField(k, Field.IpProto, proto !== 0 ? proto : r() % 3 === 0 ? IPPROTO_UDP : IPPROTO_TCP);
  setKeyField(k, Field.IpSrc, r() >>> 0);
  setKeyField(k, Field.IpDst, r() >>> 0);
  setKeyField(k, Field.L4Src, 1024 + (r() % 64000));
  setKeyField(k, Field.L4Dst, r() % 2 === 0 ? 443 : 1 + (r() % 65535));
};

const KINDS: readonly FlowKind[] = [
  {
    name: 'nat-egress',
    mask: maskOf(Field.InPort, Field.EthSrc, Field.EthType, Field.IpProto, Field.IpFrag, Field.IpSrc, Field.IpDst, Field.L4Src, Field.L4Dst),
    share: 0.4,
    fill: v4Tuple(0),
  },
  {
    name: 'conntrack-return',
    mask: maskOf(Field.InPort, Field.EthType, Field.IpProto, Field.IpTtl, Field.IpSrc, Field.IpDst, Field.L4Src, Field.L4Dst),
    share: 0.22,
    fill: v4Tuple(IPPROTO_UDP),
  },
  {
    name: 'ipv6-5tuple',
    mask: maskOf(Field.InPort, Field.EthType, Field.IpProto, Field.IpSrc, Field.IpDst, Field.L4Src, Field.L4Dst),
    share: 0.1,
    fill: (k, r) => {
      setKeyField(k, Field.EthType, ETHERTYPE_IPV6);
      setKeyField(k, Field.IpProto, IPPROTO_TCP);
      // 2001:db8::/32 and 2a00:1450::/32, the rest random.
      for (let w = 0; w < 4; w++) k[FIELD_OFFSET[Field.IpSrc] + w] = w === 0 ? 0x20010db8 : r() >>> 0;
      for (let w = 0; w < 4; w++) k[FIELD_OFFSET[Field.IpDst] + w] = w === 0 ? 0x2a001450 : r() >>> 0;
      setKeyField(k, Field.L4Src, 1024 + (r() % 64000));
      setKeyField(k, Field.L4Dst, 443);
    },
  },
  {
    name: 'icmp-echo',
    mask: maskOf(Field.InPort, Field.EthType, Field.IpProto, Field.IpSrc, Field.IpDst, Field.L4Src, Field.IcmpId),
    share: 0.05,
    fill: (k, r) => {
      v4Tuple(IPPROTO_ICMP)(k, r);
      setKeyField(k, Field.L4Src, 8);
      setKeyField(k, Field.L4Dst, 0);
      setKeyField(k, Field.IcmpId, r() % 65536);
    },
  },
  {
    name: 'routed',
    mask: maskOf(Field.InPort, Field.EthType, Field.IpDst, Field.IpTtl),
    share: 0.1,
    fill: v4Tuple(IPPROTO_UDP),
  },
  {
    name: 'l2-bridged',
    mask: maskOf(Field.InPort, Field.EthDst, Field.VlanId),
    share: 0.09,
    fill: (k, r) => {
      v4Tuple(IPPROTO_TCP)(k, r);
      setKeyField(k, Field.VlanId, 1 + (r() % 4094));
    },
  },
  {
    name: 'tunnel-ingress',
    mask: maskOf(Field.InPort, Field.TunnelKey),
    share: 0.04,
    fill: (k, r) => {
      v4Tuple(IPPROTO_UDP)(k, r);
      setKeyField(k, Field.TunnelKey, r() & 0x7fffff);
    },
  },
];

/** splitmix32-style generator: flow i's key is a pure function of i. */
function rngFor(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function kindOf(u: number): FlowKind {
  let acc = 0;
  for (const k of KINDS) {
    acc += k.share;
    if (u < acc) return k;
  }
  return KINDS[KINDS.length - 1];
}

/** Fills `key` with flow i's full key (every field set, as a parsed frame would be). */
function flowKey(i: number, key: Float64Array): FlowKind {
  const r = rngFor(i * 7919 + 17);
  key.fill(0);
  const kind = kindOf(r() / 2 ** 32);
  setKeyField(key, Field.InPort, 1 + (r() % 48));
  setKeyField(key, Field.EthSrc, (r() % 0x10000) * 2 ** 32 + r());
  setKeyField(key, Field.EthDst, (r() % 0x10000) * 2 ** 32 + r());
  setKeyField(key, Field.VlanId, VLAN_NONE);
  setKeyField(key, Field.InnerVlanId, VLAN_NONE);
  setKeyField(key, Field.IpTtl, IP_TTL_CLAMP);
  setKeyField(key, Field.IpFrag, FRAG_NONE);
  kind.fill(key, r);
  return kind;
}

function installAll(table: FlowTable<number>, flows: number): void {
  const key = new Float64Array(KEY_WORDS);
  for (let i = 0; i < flows; i++) {
    const kind = flowKey(i, key);
    const tags = [`device:${i % 97}`, `port:${key[0]}`, `ct:${i}`];
    table.install(key, kind.mask, i, tags, { idleMs: 60_000, hardMs: 0 }, 0);
  }
}

/** Lookup keys: random installed flows' keys, and a share of keys no flow matches. */
function lookupPool(flows: number, count: number, missShare: number, seed: number): Float64Array[] {
  const r = rngFor(seed);
  const buf = new Float64Array(count * KEY_WORDS);
  const pool: Float64Array[] = [];
  for (let p = 0; p < count; p++) {
    const key = buf.subarray(p * KEY_WORDS, (p + 1) * KEY_WORDS);
    const miss = r() / 2 ** 32 < missShare;
    flowKey(miss ? flows + 1 + (r() % 1e9) : r() % flows, key);
    pool.push(key);
  }
  return pool;
}

/**
 * Rounds each measurement is split into, through lookupActions and through lookup() alternating, so that a disturbance
 * (another process on the core) hits both alike; the median round is the figure, the best is shown.
 */
const ROUNDS = 7;
interface Rate {
  perSec: number;
  done: number;
  /** CPU time over wall time during the round: ~1.0 means the core was ours. */
  cpuShare: number;
}

/**
 * Single-key lookups/s over `total` lookups cycling through the pool, stopping early after
 * `budgetMs`, each answering a hit's actions: through lookupActions (the datapath's call, which the
 * megaflow table answers from the flow's slot), or with `viaFlow` through lookup() and the flow.
 */
function timeLookups(
  table: MegaflowTable<number>,
  pool: Float64Array[],
  total: number,
  budgetMs: number,
  chunk = 1000,
  viaFlow = false,
): Rate & { sink: number } {
  let sink = 0;
  let done = 0;
  let idx = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let elapsed = 0;
  while (done < total && elapsed <= budgetMs) {
    const n = Math.min(chunk, total - done);
    if (viaFlow) {
      for (let p = 0; p < n; p++) {
        const f = table.lookup(pool[idx]);
        if (f !== undefined) sink += f.actions;
        if (++idx === pool.length) idx = 0;
      }
    } else {
      for (let p = 0; p < n; p++) {
        const a = table.lookupActions(pool[idx]);
        if (a !== undefined) sink += a;
        if (++idx === pool.length) idx = 0;
      }
    }
    done += n;
    elapsed = performance.now() - t0;
  }
  const cpu = process.cpuUsage(cpu0);
  return { perSec: (done / elapsed) * 1000, done, cpuShare: (cpu.user + cpu.system) / 1000 / elapsed, sink };
}

/**
 * The linear scan's lookups/s over `keys`, stopping after `budgetMs`. Its own function, not
 * timeLookups: a call site that has seen two table classes is polymorphic in V8, which would slow
 * the megaflow rounds measured after the baseline (the datapath only ever calls one class).
 */
function timeBaselineLookups(table: LinearFlowTable<number>, keys: Float64Array[], budgetMs: number): Rate {
  let sink = 0;
  let done = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let elapsed = 0;
  while (done < keys.length && elapsed <= budgetMs) {
    const f = table.lookup(keys[done]);
    if (f !== undefined) sink += f.actions;
    done++;
    elapsed = performance.now() - t0;
  }
  const cpu = process.cpuUsage(cpu0);
  if (sink < 0) throw new Error('flow-lookup: negative actions');
  return { perSec: (done / elapsed) * 1000, done, cpuShare: (cpu.user + cpu.system) / 1000 / elapsed };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function perCpuSecond(r: Rate): number {
  return r.perSec / r.cpuShare;
}

interface Rounds {
  single: Rate[];
  viaFlow: Rate[];
}

/** A warm-up of each, then `rounds` rounds of `total / rounds` operations each, alternating. */
function alternate(single: (n: number) => Rate, viaFlow: (n: number) => Rate, total: number, rounds: number): Rounds {
  single(Math.min(total, 200_000));
  viaFlow(Math.min(total, 200_000));
  const out: Rounds = { single: [], viaFlow: [] };
  const n = Math.ceil(total / rounds);
  for (let r = 0; r < rounds; r++) {
    out.single.push(single(n));
    out.viaFlow.push(viaFlow(n));
  }
  return out;
}

export async function benchFlowLookup(opts: {
  flows: number;
  /** Single-key lookups over all rounds (as many through lookup() and the flow again). */
  lookups: number;
  missShare?: number;
  /** Rounds of each kind (default ROUNDS). */
  rounds?: number;
  /** Set false to skip the linear-scan baseline (repeat rounds, profiling). */
  baseline?: boolean;
}): Promise<FlowLookupResult> {
  const flows = opts.flows;
  const missShare = opts.missShare ?? 0.1;

  let mega: MegaflowTable<number> | undefined = new MegaflowTable<number>();
  const t0 = performance.now();
  installAll(mega, flows);
  const installsPerSec = (flows / (performance.now() - t0)) * 1000;
  const hugePageMiB = Math.round(hugePageBytes() / 2 ** 20);

  // A pool of keys read in order (as frames arrive), each a random flow's or a miss.
  const pool = lookupPool(flows, Math.min(opts.lookups, 1 << 18), missShare, 0x5eed);
  const table = mega;
  const rounds = alternate(
    (n) => timeLookups(table, pool, n, Infinity),
    (n) => timeLookups(table, pool, n, Infinity, 1000, true),
    opts.lookups,
    opts.rounds ?? ROUNDS,
  );
  const singleRates = rounds.single.map((r) => r.perSec);

  const sample = pool.slice(0, 2000);
  const expected = sample.map((k) => table.lookup(k)?.actions);
  sample.forEach((k, i) => {
    if (table.lookupActions(k) !== expected[i]) throw new Error(`flow-lookup: lookupActions and lookup disagree on key ${i}`);
  });
  const stats = mega.stats();
  const maxProbeLength = mega.maxProbeLength();
  const masks = mega.masks;
  mega = undefined; // the baseline's million flows need the memory

  // The baseline scans every flow per lookup: what a few seconds of lookups at the same size give.
  let slow: Rate = { perSec: NaN, done: 0, cpuShare: NaN };
  if (opts.baseline !== false) {
    const linear = new LinearFlowTable<number>();
    installAll(linear, flows);
    slow = timeBaselineLookups(linear, sample, 4_000);
    for (let i = 0; i < Math.min(slow.done, 20); i++) {
      if (linear.lookup(sample[i])?.actions !== expected[i]) throw new Error(`flow-lookup: the tables disagree on key ${i}`);
    }
  }

  return {
    name: `flow-lookup ${stats.flows} flows / ${masks} masks (megaflow vs linear scan)`,
    opsPerSec: Math.round(median(singleRates)),
    bestOpsPerSec: Math.round(Math.max(...singleRates)),
    roundsOpsPerSec: singleRates.map(Math.round),
    baselineOpsPerSec: Math.round(slow.perSec * 10) / 10,
    ratio: Math.round(median(singleRates) / slow.perSec),
    flows: stats.flows,
    masks,
    missShare,
    installsPerSec: Math.round(installsPerSec),
    baselineLookups: slow.done,
    maxProbeLength,
    cpuShare: Math.round(median(rounds.single.map((r) => r.cpuShare)) * 100) / 100,
    cpuOpsPerSec: Math.round(median(rounds.single.map(perCpuSecond))),
    viaFlowOpsPerSec: Math.round(median(rounds.viaFlow.map((r) => r.perSec))),
    hugePageMiB,
  };
}

/** Whether the table's arrays sat in transparent huge pages, and how to get them there if not. */
export function thpNote(mib: number): string {
  return mib > 0 ? `${mib} MiB in transparent huge pages` : 'no transparent huge pages (run with GLIBC_TUNABLES=glibc.malloc.hugetlb=1, as bin/tollgate does)';
}

/**
 * The machine's memory as it is during this run: nanoseconds per read in a chain of dependent
 * random reads over `mib` MiB (each read's address comes from the previous one, one 64-byte line
 * each, as a lookup's slot read is at 1M flows). A reference for the lookup rate, whose time at
 * this size is mostly such reads: on this kind of shared host it varies with the neighbours.
 */
export function memoryReadLatencyNs(mib = 256, reads = 2_000_000): number {
  const lines = (mib * 2 ** 20) / 64;
  const next = new Int32Array(lines * 16);
  // One random cycle through every line (Sattolo's shuffle), stored at each line's first word.
  const order = new Int32Array(lines);
  for (let i = 0; i < lines; i++) order[i] = i;
  const r = rngFor(0xc0ffee);
  for (let i = lines - 1; i > 0; i--) {
    const j = r() % i;
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  for (let i = 0; i < lines; i++) next[order[i] * 16] = order[(i + 1) % lines] * 16;
  let p = 0;
  for (let i = 0; i < 100_000; i++) p = next[p];
  const t0 = performance.now();
  for (let i = 0; i < reads; i++) p = next[p];
  const ns = ((performance.now() - t0) * 1e6) / reads;
  if (p < 0) throw new Error('memoryReadLatencyNs: bad chain');
  return ns;
}

/** The single-key figure the flow table is held to (README, issue 2), on one core. */
export const TARGET_LOOKUPS_PER_SEC = 3_000_000;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const arg = (name: string, dflt: number): number => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : dflt;
  };
  const flows = arg('--flows', 1_000_000);
  const rounds = arg('--rounds', ROUNDS);
  const r = await benchFlowLookup({ flows, lookups: rounds * 1_000_000, rounds, baseline: !args.includes('--no-baseline') });
  const m = (x: number): string => `${(x / 1e6).toFixed(2)}M`;
  console.log(`${r.name}, node ${process.version}`);
  console.log(`  ${Math.round(r.missShare * 100)}% misses, installs ${Math.round(r.installsPerSec).toLocaleString('en-US')}/s, longest probe ${r.maxProbeLength}, cpu/wall ${r.cpuShare}, ${thpNote(r.hugePageMiB)}`);
  console.log(`  single-key lookups/s: median ${m(r.opsPerSec)}, best ${m(r.bestOpsPerSec)}  (rounds: ${r.roundsOpsPerSec.map(m).join(' ')})`);
  console.log(`  per second of CPU time (median): ${m(r.cpuOpsPerSec)}`);
  console.log(`  single-key through lookup() and the flow object (same rounds): median ${m(r.viaFlowOpsPerSec)} (x${(r.opsPerSec / r.viaFlowOpsPerSec).toFixed(2)} for the slot's payload)`);
  if (!Number.isNaN(r.baselineOpsPerSec)) {
    console.log(`  linear-scan baseline ${r.baselineOpsPerSec}/s over ${r.baselineLookups} lookups: ratio ${r.ratio.toLocaleString('en-US')}x`);
  }
  const readNs = memoryReadLatencyNs();
  console.log(`  this run's memory: ${readNs.toFixed(0)} ns a dependent random read over 256 MiB; a median lookup took ${(1e9 / r.opsPerSec).toFixed(0)} ns (${(1e9 / r.opsPerSec / readNs).toFixed(2)} reads)`);
  const verdict = r.opsPerSec >= TARGET_LOOKUPS_PER_SEC ? 'meets target' : 'BELOW target';
  console.log(`  target single-key >= ${m(TARGET_LOOKUPS_PER_SEC)}/s (median round): ${verdict}${r.cpuShare < 0.9 ? ' (cpu/wall < 0.9: the core was shared)' : ''}`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
