// Flow-table lookup rate: the megaflow table against the linear-scan reference, same flows,
// same keys, same run (DESIGN: Flows; STYLE: 12 — benchmarks print ratios to a baseline).
import {
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  FIELD_OFFSET,
  FRAG_NONE,
  Field,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  KEY_WORDS,
  VLAN_NONE,
  fieldBit,
  setKeyField,
  type FieldMask,
} from '../src/agent-core/packet/flow-match.js';
import { type Flow, type FlowTable, LinearFlowTable, MegaflowTable } from '../src/agent-core/flows/index.js';

export interface FlowLookupResult {
  name: string;
  /** Megaflow lookups per second at `flows` installed flows (hits and misses mixed). */
  opsPerSec: number;
  /** Linear-scan lookups per second at the same installed flows. */
  baselineOpsPerSec: number;
  ratio: number;
  flows: number;
  masks: number;
  missShare: number;
  installsPerSec: number;
  baselineLookups: number;
  maxProbeLength: number;
  /** lookupBatch() of 32 keys at a time, per key. */
  batchOpsPerSec: number;
  /** CPU time over wall time in the reported rounds (below ~0.9: something else shared the core). */
  cpuShare: number;
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
  setKeyField(key, Field.IpTtl, 2);
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

/** Rounds each measurement is split into; the best round is reported (others may share the CPU). */
const ROUNDS = 5;
/** Keys a batched lookup takes at once (a datapath ring holds a few hundred frames). */
const BATCH = 32;

interface Rate {
  perSec: number;
  done: number;
  /** CPU time over wall time during the round: ~1.0 means the core was ours. */
  cpuShare: number;
}

/**
 * Single-key lookups/s over `total` lookups cycling through the pool, stopping early after
 * `budgetMs`. Each hit's actions are read, as the datapath would, so the flow itself is fetched.
 */
function timeLookups(
  table: FlowTable<number>,
  pool: Float64Array[],
  total: number,
  budgetMs: number,
  chunk = 1000,
): Rate & { sink: number } {
  let sink = 0;
  let done = 0;
  let idx = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let elapsed = 0;
  while (done < total && elapsed <= budgetMs) {
    const n = Math.min(chunk, total - done);
    for (let p = 0; p < n; p++) {
      const f = table.lookup(pool[idx]);
      if (f !== undefined) sink += f.actions;
      if (++idx === pool.length) idx = 0;
    }
    done += n;
    elapsed = performance.now() - t0;
  }
  const cpu = process.cpuUsage(cpu0);
  return { perSec: (done / elapsed) * 1000, done, cpuShare: (cpu.user + cpu.system) / 1000 / elapsed, sink };
}

/** Batched lookups/s: the table gets BATCH keys at a time, as the datapath hands over a ring. */
function timeBatchLookups(table: MegaflowTable<number>, batches: Float64Array[][], total: number): Rate & { sink: number } {
  const out = new Array<Flow<number> | undefined>(BATCH).fill(undefined);
  let sink = 0;
  let done = 0;
  let b = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  while (done < total) {
    table.lookupBatch(batches[b], out, BATCH);
    for (let q = 0; q < BATCH; q++) {
      const f = out[q];
      if (f !== undefined) sink += f.actions;
    }
    done += BATCH;
    if (++b === batches.length) b = 0;
  }
  const elapsed = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { perSec: (done / elapsed) * 1000, done, cpuShare: (cpu.user + cpu.system) / 1000 / elapsed, sink };
}

/** A warm-up, then the best of ROUNDS rounds of `total / ROUNDS` operations. */
function bestOf(round: (n: number) => Rate, total: number): Rate {
  round(Math.min(total, 200_000));
  let best: Rate = { perSec: 0, done: 0, cpuShare: 0 };
  for (let r = 0; r < ROUNDS; r++) {
    const x = round(Math.ceil(total / ROUNDS));
    if (x.perSec > best.perSec) best = x;
  }
  return best;
}

export async function benchFlowLookup(opts: {
  flows: number;
  lookups: number;
  missShare?: number;
  /** Set false to skip the linear-scan baseline (repeat rounds, profiling). */
  baseline?: boolean;
}): Promise<FlowLookupResult> {
  const flows = opts.flows;
  const missShare = opts.missShare ?? 0.1;

  let mega: MegaflowTable<number> | undefined = new MegaflowTable<number>();
  const t0 = performance.now();
  installAll(mega, flows);
  const installsPerSec = (flows / (performance.now() - t0)) * 1000;

  // A pool of keys read in order (as frames arrive), each a random flow's or a miss.
  const pool = lookupPool(flows, Math.min(opts.lookups, 1 << 18), missShare, 0x5eed);
  const table = mega;
  const single = bestOf((n) => timeLookups(table, pool, n, Infinity), opts.lookups);
  const batches: Float64Array[][] = [];
  for (let p = 0; p + BATCH <= pool.length; p += BATCH) batches.push(pool.slice(p, p + BATCH));
  const batched = bestOf((n) => timeBatchLookups(table, batches, n), opts.lookups);

  const sample = pool.slice(0, 2000);
  const expected = sample.map((k) => table.lookup(k)?.actions);
  const stats = mega.stats();
  const maxProbeLength = mega.maxProbeLength();
  const masks = mega.masks;
  mega = undefined; // the baseline's million flows need the memory

  // The baseline scans every flow per lookup: what a few seconds of lookups at the same size give.
  let slow: Rate = { perSec: NaN, done: 0, cpuShare: NaN };
  if (opts.baseline !== false) {
    const linear = new LinearFlowTable<number>();
    installAll(linear, flows);
    slow = timeLookups(linear, sample, sample.length, 4_000, 1);
    for (let i = 0; i < Math.min(slow.done, 20); i++) {
      if (linear.lookup(sample[i])?.actions !== expected[i]) throw new Error(`flow-lookup: the tables disagree on key ${i}`);
    }
  }

  return {
    name: `flow-lookup ${stats.flows} flows / ${masks} masks (megaflow vs linear scan)`,
    opsPerSec: Math.round(single.perSec),
    baselineOpsPerSec: Math.round(slow.perSec * 10) / 10,
    ratio: Math.round(single.perSec / slow.perSec),
    flows: stats.flows,
    masks,
    missShare,
    installsPerSec: Math.round(installsPerSec),
    baselineLookups: slow.done,
    maxProbeLength,
    batchOpsPerSec: Math.round(batched.perSec),
    cpuShare: Math.round(Math.min(single.cpuShare, batched.cpuShare) * 100) / 100,
  };
}
