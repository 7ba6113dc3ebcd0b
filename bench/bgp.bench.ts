// BGP import benchmark (issue 5; STYLE: benchmarks print ratios against a reference measured in
// the same run). BIRD announces ROUTES /32s from 198.18.0.0/15 over two eBGP sessions, one to a
// plain gobgpd (the reference: time until its table holds them all, polled with GetTable), one to
// the BGP role's gobgpd (time until every route is in ZooKeeper and in a second agent's
// ZkTopologyCache.routes()). Both clocks start when the session is Established (seen on a
// WatchEvent peer stream) and, for context, when BIRD's protocol is enabled. Rounds alternate.
// The second agent is a separate process (this file with --second-agent), as it is another host.
// Run as root: node --import tsx bench/bgp.bench.ts [rounds]     (ROUTES=100000 by default)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { LearnedRoutesWriter, TopologyStore, ZkClient, ZkTopologyCache } from '../src/agent-core/store/index.js';
import { API_FAMILY, BgpRole, GobgpClient, GobgpdSupervisor, peerToApi, type BgpPeerConfig } from '../src/bgp/index.js';
import { NetnsLab, waitFor } from '../test/helpers/netns.js';
import { startZooKeeper } from '../test/helpers/zookeeper.js';
import { Bird, bgpTestsUnavailableReason } from '../test/integration/bgp/bird-kit.js';

const ROUTES = Number(process.env.ROUTES ?? 100_000);
const ROUNDS = Number(process.argv[2] ?? 3);
const LOCAL_ASN = 65000;
const BIRD_ASN = 65001;
const REF = { gw: '198.51.100.1', bird: '198.51.100.2' };
const ROLE = { gw: '198.51.100.5', bird: '198.51.100.6' };
const logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

function prefix(i: number): string {
  return `198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`;
}

function birdConfig(): string {
  const routes = Array.from({ length: ROUTES }, (_, i) => `route ${prefix(i)} blackhole;`).join('\n');
  const timers = 'connect delay time 1; connect retry time 2; error wait time 1, 2; hold time 90;';
  return `router id ${REF.bird};
protocol device { scan time 10; }
protocol static bench { ipv4; ${routes}
}
protocol bgp to_ref { disabled yes; local ${REF.bird} as ${BIRD_ASN}; neighbor ${REF.gw} as ${LOCAL_ASN}; ${timers} ipv4 { import none; export all; }; }
protocol bgp to_gw { disabled yes; local ${ROLE.bird} as ${BIRD_ASN}; neighbor ${ROLE.gw} as ${LOCAL_ASN}; ${timers} ipv4 { import none; export all; }; }
`;
}

function peer(address: string): BgpPeerConfig {
  return { address, asn: BIRD_ASN, families: ['ipv4'], connectRetry: 1, uplink: 'up0', uplinkPortId: 'uplink-bench' };
}

/** Resolves with performance.now() when the peer's session on this gobgpd is Established. */
function whenEstablished(client: GobgpClient): { at: Promise<number>; cancel: () => void } {
  let resolve: (t: number) => void = () => undefined;
  const at = new Promise<number>((r) => (resolve = r));
  const watch = client.watchEvent(
    { peer: {} },
    {
      onEvent: (ev) => {
        if (ev.kind === 'peer' && ev.peer?.state?.session_state === 'ESTABLISHED') resolve(performance.now());
      },
      onClose: () => undefined,
    },
  );
  return { at, cancel: () => watch.cancel() };
}

/** Wall-clock ms with sub-ms precision, comparable between processes. */
const now = (): number => performance.timeOrigin + performance.now();

/**
 * The second agent: its own ZooKeeper session and topology cache; prints each change of the number
 * of distinct destinations in the provider router's routes (while batches are re-bucketed a reader
 * may briefly see a route twice, so the plain length over-counts).
 */
async function secondAgent(connectionString: string, root: string): Promise<void> {
  const zk = await ZkClient.connect(connectionString, { logger });
  const cache = new ZkTopologyCache(zk, { root, logger });
  let last = -1;
  const report = (): void => {
    const n = new Set(cache.routes('provider')?.map((r) => r.dst)).size;
    if (n === last) return;
    last = n;
    process.stdout.write(`${JSON.stringify({ routes: n, at: now() })}\n`);
  };
  cache.onChange(report);
  await cache.ensureRoutes('provider');
  report();
  process.stdin.on('end', () => process.exit(0)).resume();
}

/** Runs the second agent as a child process and follows what it reports. */
function startSecondAgent(connectionString: string, root: string): { routes: () => number; at: () => number; stop: () => Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--second-agent', connectionString, root], { stdio: ['pipe', 'pipe', 'inherit'] });
  let state = { routes: -1, at: 0 };
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.startsWith('{')) state = JSON.parse(line) as typeof state;
  });
  return {
    routes: () => state.routes,
    at: () => state.at,
    stop: async () => {
      child.stdin.end();
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

async function count(client: GobgpClient): Promise<number> {
  return (await client.getTable(API_FAMILY.ipv4)).num_destination;
}

interface Round {
  fromEnableMs: number;
  fromEstablishedMs: number;
}

async function main(): Promise<void> {
  const why = bgpTestsUnavailableReason();
  if (why !== undefined) throw new Error(`bench:bgp needs ${why}`);
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-bgp-'));
  const zk = await startZooKeeper({ tickTime: 500 });
  const lab = await NetnsLab.create();
  const stops: (() => Promise<unknown>)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const s of stops.reverse()) await s().catch((err: unknown) => console.error(err));
    stops.length = 0;
    await lab.cleanup();
    await zk.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void cleanup().finally(() => process.exit(130)));
  try {
    // Namespaces: bird, ref (plain gobgpd), gw (the role's gobgpd); two veths out of bird.
    const [birdNs, refNs, gwNs] = [await lab.addNamespace('bird'), await lab.addNamespace('ref'), await lab.addNamespace('gw')];
    await lab.addVeth({ ns: refNs, ifname: 'up0', addrs: [`${REF.gw}/30`] }, { ns: birdNs, ifname: 'to-ref', addrs: [`${REF.bird}/30`] });
    await lab.addVeth({ ns: gwNs, ifname: 'up0', addrs: [`${ROLE.gw}/30`] }, { ns: birdNs, ifname: 'to-gw', addrs: [`${ROLE.bird}/30`] });
    const t0 = performance.now();
    const bird = await Bird.start(lab, birdNs, birdConfig());
    stops.push(() => bird.stop());
    await waitFor(async () => (await bird.birdc('show route count')).includes(`${ROUTES} of ${ROUTES} routes`), { timeoutMs: 120_000, intervalMs: 200, what: 'BIRD to load its static routes' });
    console.log(`BIRD loaded ${ROUTES.toLocaleString('en-US')} static routes in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    // The reference: a plain gobgpd with the peer, nothing else.
    const ref = new GobgpdSupervisor({
      api: { socket: join(dir, 'ref.sock') },
      netns: refNs,
      logger,
      configure: async (c) => {
        await c.startBgp({ asn: LOCAL_ASN, router_id: REF.gw, listen_port: 179 });
        await c.addPeer(peerToApi(peer(REF.bird), LOCAL_ASN));
      },
    });
    await ref.start();
    stops.push(() => ref.stop());
    const refClient = new GobgpClient({ target: ref.target });

    // The role, writing to ZooKeeper; a second agent reads through its topology cache.
    const [gwZk, agentZk] = [await ZkClient.connect(zk.connectionString, { logger }), await ZkClient.connect(zk.connectionString, { logger })];
    stops.push(() => Promise.all([gwZk.close(), agentZk.close()]));
    const root = '/bench-bgp';
    const topo = new TopologyStore(agentZk, { root, logger });
    await topo.ensureLayout();
    await topo.createDevice({ type: 'router', id: 'provider', adminStateUp: true }, [
      { type: 'port', id: 'uplink-bench', deviceId: 'provider', deviceType: 'router', adminStateUp: true, addresses: [`${ROLE.gw}/30`], mac: '02:00:00:00:00:01' },
    ]);
    const writer = new LearnedRoutesWriter(gwZk, { routerId: 'provider', hostId: 'gw-bench', root, logger });
    // NULL_SINK=1: the role imports but writes nothing (how much of the time is the store's).
    const sink = process.env.NULL_SINK === '1' ? { update: async () => undefined } : writer;
    const role = new BgpRole({ gobgpd: { api: { socket: join(dir, 'role.sock') }, netns: gwNs }, routes: sink, logger });
    await role.start({ global: { asn: LOCAL_ASN, routerId: ROLE.gw, listenPort: 179 }, peers: [peer(ROLE.bird)] });
    stops.push(() => role.stop());
    const roleClient = new GobgpClient({ target: join('unix://', dir, 'role.sock') });
    const agent = startSecondAgent(zk.connectionString, root);
    stops.push(() => agent.stop());
    await waitFor(() => agent.routes() === 0, { timeoutMs: 30_000, what: 'the second agent to load the router' });
    const learned = (): number => agent.routes();

    const refRounds: Round[] = [];
    const roleRounds: Round[] = [];
    const roleGobgpdMs: number[] = [];
    const roleImportedMs: number[] = [];
    const roleWrittenMs: number[] = [];
    const roleWrites: number[] = [];
    const withdrawRef: number[] = [];
    const withdrawRole: number[] = [];

    for (let round = 1; round <= ROUNDS; round++) {
      // Reference.
      let est = whenEstablished(refClient);
      let enabled = performance.now();
      await bird.birdc('enable to_ref');
      await waitFor(async () => (await count(refClient)) >= ROUTES, { timeoutMs: 300_000, intervalMs: 10, what: 'gobgpd alone to hold every route' });
      let done = performance.now();
      refRounds.push({ fromEnableMs: done - enabled, fromEstablishedMs: done - (await est.at) });
      est.cancel();
      let t = performance.now();
      await bird.birdc('disable to_ref');
      await waitFor(async () => (await count(refClient)) === 0, { timeoutMs: 300_000, intervalMs: 10, what: 'gobgpd alone to drop every route' });
      withdrawRef.push(performance.now() - t);

      // The role.
      est = whenEstablished(roleClient);
      let gobgpdDone = 0;
      const gobgpdPoll = waitFor(
        async () => {
          if ((await count(roleClient)) < ROUTES) return false;
          gobgpdDone = performance.now();
          return true;
        },
        { timeoutMs: 300_000, intervalMs: 10, what: "the role's gobgpd to hold every route" },
      );
      let importedAt = 0;
      let writtenAt = 0;
      const writesBefore = role.importStats.writes;
      const importPoll = waitFor(
        async () => {
          if (role.importStats.prefixes < ROUTES) return false;
          importedAt = performance.now();
          await role.whenRoutesWritten();
          writtenAt = performance.now();
          return true;
        },
        { timeoutMs: 300_000, intervalMs: 5, what: 'the role to import every route' },
      );
      enabled = performance.now();
      await bird.birdc('enable to_gw');
      if (sink === writer) {
        await waitFor(() => learned() >= ROUTES, { timeoutMs: 300_000, intervalMs: 5, what: "every route in the second agent's routing table" });
        done = agent.at() - performance.timeOrigin;
      } else {
        await importPoll;
        done = performance.now();
      }
      await gobgpdPoll;
      await importPoll;
      const estAt = await est.at;
      roleRounds.push({ fromEnableMs: done - enabled, fromEstablishedMs: done - estAt });
      roleGobgpdMs.push(gobgpdDone - estAt);
      roleImportedMs.push(importedAt - estAt);
      roleWrittenMs.push(writtenAt - estAt);
      roleWrites.push(role.importStats.writes - writesBefore);
      est.cancel();
      t = performance.now();
      await bird.birdc('disable to_gw');
      if (sink === writer) {
        await waitFor(() => learned() === 0, { timeoutMs: 300_000, intervalMs: 5, what: "every route gone from the second agent's routing table" });
        withdrawRole.push(agent.at() - performance.timeOrigin - t);
      } else {
        await waitFor(() => role.importStats.prefixes === 0, { timeoutMs: 300_000, intervalMs: 5, what: 'the role to drop every route' });
        withdrawRole.push(performance.now() - t);
      }
      const i = round - 1;
      console.log(
        `round ${round}: reference ${refRounds[i]!.fromEstablishedMs.toFixed(0)} ms; role ${roleRounds[i]!.fromEstablishedMs.toFixed(0)} ms ` +
          `(its gobgpd had them at ${roleGobgpdMs[i]!.toFixed(0)}, imported at ${roleImportedMs[i]!.toFixed(0)}, written at ${roleWrittenMs[i]!.toFixed(0)} in ${roleWrites[i]} writes); ` +
          `ratio ${(roleRounds[i]!.fromEstablishedMs / refRounds[i]!.fromEstablishedMs).toFixed(2)}; withdrawal: reference ${withdrawRef[i]!.toFixed(0)} ms, role ${withdrawRole[i]!.toFixed(0)} ms`,
      );
    }
    refClient.close();
    roleClient.close();
    writer.close();

    const median = (xs: number[]): number => {
      const s = [...xs].sort((a, b) => a - b);
      return s.length % 2 === 1 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
    };
    const ratios = refRounds.map((r, i) => (roleRounds[i] as Round).fromEstablishedMs / r.fromEstablishedMs);
    const ref1 = median(refRounds.map((r) => r.fromEstablishedMs));
    const role1 = median(roleRounds.map((r) => r.fromEstablishedMs));
    const ref2 = median(refRounds.map((r) => r.fromEnableMs));
    const role2 = median(roleRounds.map((r) => r.fromEnableMs));
    const rate = (ms: number): string => `${Math.round(ROUTES / (ms / 1000)).toLocaleString('en-US')} routes/s`;
    console.log(`\nBGP import, ${ROUTES.toLocaleString('en-US')} IPv4 /32s from BIRD over eBGP, median of ${ROUNDS} round(s):`);
    console.log(`  reference: gobgpd alone holds them       ${ref1.toFixed(0)} ms after Established (${rate(ref1)}); ${ref2.toFixed(0)} ms after enable`);
    console.log(`  role: in a second agent's routes()        ${role1.toFixed(0)} ms after Established (${rate(role1)}); ${role2.toFixed(0)} ms after enable`);
    console.log(`  role's own gobgpd held them after         ${median(roleGobgpdMs).toFixed(0)} ms`);
    console.log(`  withdrawal on session loss: reference ${median(withdrawRef).toFixed(0)} ms, role (second agent sees none) ${median(withdrawRole).toFixed(0)} ms`);
    console.log(`  ratio role / gobgpd alone: ${(role1 / ref1).toFixed(2)} after Established, ${(role2 / ref2).toFixed(2)} after enable (medians)`);
    console.log(`  ratio per round (role / reference of the same round): median ${median(ratios).toFixed(2)}, all ${ratios.map((r) => r.toFixed(2)).join(' ')} (target <= 2)`);
  } finally {
    await cleanup();
  }
}

if (process.argv[2] === '--second-agent') {
  await secondAgent(process.argv[3] as string, process.argv[4] as string);
} else {
  await main();
  process.exit(0);
}
