// The world of the BGP role's integration tests: a real ZooKeeper with the provider router and its
// uplink port, a gateway namespace and a BIRD namespace on one veth, BIRD with plain, MD5 and IPv6
// sessions, a BgpRole whose gobgpd runs in the gateway namespace (API on a unix socket), and a
// second agent's ZkTopologyCache that reads the learned routes back. Torn down by PID and name.
import { join } from 'node:path';
import type { Logger } from 'pino';
import { LearnedRoutesWriter, TopologyStore, ZkTopologyCache, type ZkClient } from '../../../src/agent-core/store/index.js';
import { BgpRole, type BgpConfig, type BgpPeerConfig } from '../../../src/bgp/index.js';
import { NetnsLab } from '../../helpers/netns.js';
import { router, routerPort, startWorld, type StoreWorld } from '../store/store-kit.js';
import { addUplinkPair, Bird, FAST_BIRD_TIMERS, type UplinkPair } from './bird-kit.js';

export const GW4 = '192.0.2.1';
export const BIRD4 = '192.0.2.2';
export const BIRD4_MD5 = '192.0.2.3';
/** BIRD keeps one session per neighbor address (an object lock): the MD5 session uses a second one of ours. */
export const GW4_MD5 = '192.0.2.5';
export const GW6 = '2001:db8:5::1';
export const BIRD6 = '2001:db8:5::2';
export const LOCAL_ASN = 4_200_000_000;
export const BIRD_ASN = 65001;
export const MD5_PASSWORD = 'tollgate-md5-secret';
export const UPLINK_PORT = 'uplink-a';
export const ROUTER = 'provider';

/** BIRD: static routes, and per session the ones it exports (198.18.0.0/24 over both IPv4 sessions). */
export function birdConfig(): string {
  const t = FAST_BIRD_TIMERS;
  return `router id ${BIRD4};
protocol device { scan time 1; }
protocol static s4 { ipv4; route 198.51.100.0/26 blackhole; route 198.51.100.64/26 blackhole; route 198.51.100.128/25 blackhole; route 198.18.0.0/24 blackhole; }
protocol static s6 { ipv6; route 2001:db8:100::/48 blackhole; }
protocol bgp tg_plain { local ${BIRD4} as ${BIRD_ASN}; neighbor ${GW4} as ${LOCAL_ASN}; ${t}
  ipv4 { import all; export where net ~ [ 198.51.100.0/26, 198.51.100.64/26, 198.18.0.0/24 ]; }; }
protocol bgp tg_md5 { local ${BIRD4_MD5} as ${BIRD_ASN}; neighbor ${GW4_MD5} as ${LOCAL_ASN}; password "${MD5_PASSWORD}"; ${t}
  ipv4 { import all; export where net ~ [ 198.51.100.128/25, 198.18.0.0/24 ]; }; }
protocol bgp tg_v6 { local ${BIRD6} as ${BIRD_ASN}; neighbor ${GW6} as ${LOCAL_ASN}; ${t}
  ipv6 { import all; export where net = 2001:db8:100::/48; }; }
`;
}

export function peers(): BgpPeerConfig[] {
  const common = { asn: BIRD_ASN, holdTime: 9, keepalive: 3, connectRetry: 1, uplink: 'up0', uplinkPortId: UPLINK_PORT } as const;
  return [
    { ...common, address: BIRD4, families: ['ipv4'] },
    { ...common, address: BIRD4_MD5, password: MD5_PASSWORD, localAddress: GW4_MD5, families: ['ipv4'] },
    { ...common, address: BIRD6, families: ['ipv6'] },
  ];
}

export function bgpConfig(overrides: { multipath?: boolean; peers?: BgpPeerConfig[] } = {}): BgpConfig {
  return { global: { asn: LOCAL_ASN, routerId: GW4, listenPort: 179, multipath: overrides.multipath }, peers: overrides.peers ?? peers() };
}

export interface BgpWorld {
  readonly store: StoreWorld;
  readonly lab: NetnsLab;
  readonly pair: UplinkPair;
  readonly bird: Bird;
  readonly role: BgpRole;
  readonly writer: LearnedRoutesWriter;
  /** The second agent's view. */
  readonly cache: ZkTopologyCache;
  readonly agentZk: ZkClient;
  /** Learned routes as the second agent sees them: "dst via gateway on port", sorted. */
  learned(): string[];
  teardown(): Promise<void>;
}

export async function startBgpWorld(logger: Logger, config: BgpConfig = bgpConfig()): Promise<BgpWorld> {
  const cleanups: (() => Promise<void>)[] = [];
  const teardown = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    const store = await startWorld();
    cleanups.push(() => store.teardown());
    const root = store.root();
    const [gwZk, agentZk] = [await store.connect(), await store.connect()];
    const topo = new TopologyStore(agentZk, { root });
    await topo.ensureLayout();
    await topo.createDevice(router(ROUTER), [routerPort(UPLINK_PORT, ROUTER, `${GW4}/24`)]);

    const lab = await NetnsLab.create();
    cleanups.push(() => lab.cleanup());
    const pair = await addUplinkPair(lab, 'b', [`${GW4}/24`, `${GW4_MD5}/24`, `${GW6}/64`], [`${BIRD4}/24`, `${BIRD4_MD5}/24`, `${BIRD6}/64`]);
    const bird = await Bird.start(lab, pair.birdNs, birdConfig());
    cleanups.push(() => bird.stop());

    const writer = new LearnedRoutesWriter(gwZk, { routerId: ROUTER, hostId: 'gw-1', root, logger });
    const role = new BgpRole({ gobgpd: { api: { socket: join(bird.dir, 'gobgpd.sock') }, netns: pair.gwNs, backoff: { initialMs: 100 } }, routes: writer, logger });
    cleanups.push(() => role.stop());
    const cache = new ZkTopologyCache(agentZk, { root, logger });
    await cache.ensureRoutes(ROUTER);
    await role.start(config);
    return {
      store,
      lab,
      pair,
      bird,
      role,
      writer,
      cache,
      agentZk,
      learned: () =>
        (cache.routes(ROUTER) ?? [])
          .filter((r) => r.origin === 'bgp')
          .map((r) => `${r.dst} via ${r.gateway} on ${r.egressPortId}`)
          .sort(),
      teardown,
    };
  } catch (err) {
    await teardown();
    throw err;
  }
}
