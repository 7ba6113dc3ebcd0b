// Store benchmark (DESIGN: Store; STYLE: benchmarks print ratios against a reference from the same
// run). Starts its own ZooKeeper and measures (1) how long a learned MAC entry takes to reach another
// client's MacTable, against a bare ZooKeeper create → child-watch notification → getChildren round,
// and (2) the learned-route write rate for 100k routes through LearnedRoutesWriter, against raw
// transaction() creates of one znode per route (1000 per transaction) of the same count.
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { LearnedRoutesWriter, MacTable, ZkClient, type LearnedRoute } from '../src/agent-core/store/index.js';
import { startZooKeeper } from '../test/helpers/zookeeper.js';

const MAC_ENTRIES = Number(process.env.MAC_ENTRIES ?? 2000);
const ROUTES = Number(process.env.ROUTES ?? 100_000);
const logger = pino({ level: 'silent' });

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function summary(samples: number[]): { p50: number; p99: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99) };
}

/** MAC entry: learn on A, time until B's table reports it. */
async function macPropagation(a: ZkClient, b: ZkClient): Promise<number[]> {
  const ta = new MacTable(a, { root: '/bench-mac', logger });
  const tb = new MacTable(b, { root: '/bench-mac', logger });
  await tb.ensure('br', 4096);
  let waiting: { mac: number; resolve: () => void } | undefined;
  tb.onChange((c) => {
    if (waiting !== undefined && c.mac === waiting.mac && c.portId !== null) waiting.resolve();
  });
  const samples: number[] = [];
  for (let i = 0; i < MAC_ENTRIES; i++) {
    const mac = 0x020000000000 + i;
    const seen = new Promise<void>((resolve) => (waiting = { mac, resolve }));
    const t0 = performance.now();
    await Promise.all([ta.learn('br', 4096, mac, `port-${i % 16}`), seen]);
    samples.push(performance.now() - t0);
  }
  ta.close();
  tb.close();
  return samples;
}

/** Reference: a raw ephemeral-sequential create on A, B's child watch fires and B lists the directory. */
async function rawPropagation(a: ZkClient, b: ZkClient): Promise<number[]> {
  const dir = '/bench-raw';
  await a.mkdirp(dir);
  await b.getChildren(dir, true);
  let fired: (() => void) | undefined;
  b.onWatch((e) => {
    if (e.path !== dir) return;
    void b.getChildren(dir, true).then(() => fired?.());
  });
  const samples: number[] = [];
  for (let i = 0; i < MAC_ENTRIES; i++) {
    const seen = new Promise<void>((resolve) => (fired = resolve));
    const t0 = performance.now();
    await Promise.all([a.create(`${dir}/02:00:00:00:00:00,port,`, Buffer.alloc(0), 'ephemeralSequential'), seen]);
    samples.push(performance.now() - t0);
  }
  return samples;
}

function routes(n: number): LearnedRoute[] {
  return Array.from({ length: n }, (_, i) => ({ dst: `${10 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24`, egressPortId: 'uplink-1', gateway: '203.0.113.254' }));
}

async function learnedRoutesWrite(zk: ZkClient): Promise<number> {
  const writer = new LearnedRoutesWriter(zk, { routerId: 'provider', hostId: 'gw-1', root: '/bench-routes', logger });
  const list = routes(ROUTES);
  const t0 = performance.now();
  await writer.replaceAll(list);
  const ms = performance.now() - t0;
  writer.close();
  return ms;
}

async function rawTransactionWrite(zk: ZkClient): Promise<number> {
  const dir = '/bench-raw-routes/provider/gw-1';
  await zk.mkdirp(dir);
  const list = routes(ROUTES);
  const t0 = performance.now();
  for (let i = 0; i < list.length; i += 1000) {
    await zk.multi(
      list.slice(i, i + 1000).map((r, j) => ({
        op: 'create' as const,
        path: `${dir}/${i + j}`,
        data: Buffer.from(JSON.stringify([r.dst, r.egressPortId, r.gateway, 100])),
        mode: 'ephemeral' as const,
      })),
    );
  }
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const server = await startZooKeeper({ tickTime: 500 });
  try {
    const [a, b] = await Promise.all([ZkClient.connect(server.connectionString, { logger }), ZkClient.connect(server.connectionString, { logger })]);
    const raw = summary(await rawPropagation(a, b));
    const mac = summary(await macPropagation(a, b));
    console.log(`MAC entry propagation, ${MAC_ENTRIES} entries, learn on one client → other client's MacTable:`);
    console.log(`  MacTable      p50 ${mac.p50.toFixed(2)} ms   p99 ${mac.p99.toFixed(2)} ms`);
    console.log(`  raw ZooKeeper p50 ${raw.p50.toFixed(2)} ms   p99 ${raw.p99.toFixed(2)} ms   (create → child watch → getChildren)`);
    console.log(`  ratio MacTable / raw: p50 ${(mac.p50 / raw.p50).toFixed(2)}   p99 ${(mac.p99 / raw.p99).toFixed(2)}`);

    const rawMs = await rawTransactionWrite(a);
    const oursMs = await learnedRoutesWrite(b);
    const rate = (ms: number): string => `${Math.round(ROUTES / (ms / 1000)).toLocaleString('en-US')} routes/s`;
    console.log(`Learned routes, ${ROUTES.toLocaleString('en-US')} routes of one gateway:`);
    console.log(`  LearnedRoutesWriter (batch znodes)          ${oursMs.toFixed(0)} ms   ${rate(oursMs)}`);
    console.log(`  raw transaction() creates, 1 znode a route  ${rawMs.toFixed(0)} ms   ${rate(rawMs)}`);
    console.log(`  ratio (write rate, batched / raw): ${(rawMs / oursMs).toFixed(2)}x`);
    await Promise.all([a.close(), b.close()]);
  } finally {
    await server.stop();
  }
}

await main();
