// The BGP role inside `tollgate agent` (DESIGN: BGP; Gateway roles): gobgpd runs in its own network
// namespace with one macvlan per peering uplink carrying that uplink's addresses and MAC (see
// bgp-namespace.ts); the agent's datapath leaves the uplink's BGP to it (agent-core/agent/
// control-steering.ts). Learned routes go into the store per provider
// router; the routers' prefixes marked for advertisement (and the uplinks' `advertise` lists) are
// announced and kept in sync with the topology. Reloads are applied as differences.
import { mkdirSync } from 'node:fs';
import { BGP_TCP_PORT } from '../../agent-core/agent/control-steering.js';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { Agent } from '../../agent-core/agent/agent.js';
import type { Id } from '../../agent-core/topology/index.js';
import { advertisedPrefixes, BgpRole, type BgpStatus, type PeerPlan } from '../../bgp/index.js';
import type { TollgateConfig, UplinkConfig } from '../config/index.js';
import { BgpNamespace } from './bgp-namespace.js';
import { bgpRoleConfigOf, peeringUplinks, uplinkAddresses } from './bgp-settings.js';
import { RoutesByRouter } from './routes-by-router.js';

/** Topology changes to advertised routes settle this long before the announced set is recomputed. */
const ADVERTISE_SETTLE_MS = 100;

export interface BgpGatewayStatus extends BgpStatus {
  readonly namespace: string;
  /** gobgpd's interface on each peering uplink. */
  readonly interfaces: readonly { readonly uplinkPortId: Id; readonly ifname: string }[];
}

export class BgpGateway {
  private readonly log: Logger;
  /** What each peering uplink's control link was built from (a change rebuilds it). */
  private readonly built = new Map<Id, string>();
  private readonly offTopology: () => void;
  private advertiseTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  private constructor(
    private readonly agent: Agent,
    private config: TollgateConfig,
    private readonly ns: BgpNamespace,
    private readonly routes: RoutesByRouter,
    private readonly role: BgpRole,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'bgp-gateway' });
    this.offTopology = agent.topology.onChange((c) => {
      // Learned routes change under every import batch: only stored (static) routes are advertised.
      if (c.objectType === 'route' && !c.id.startsWith('bgp:')) this.scheduleAdvertise();
    });
  }

  /** Starts the role when the config has a `bgp` section; undefined otherwise. Throws if gobgpd cannot start. */
  static async start(agent: Agent, config: TollgateConfig, logger: Logger): Promise<BgpGateway | undefined> {
    const roleConfig = bgpRoleConfigOf(config);
    if (roleConfig === undefined || config.bgp === undefined) return undefined;
    mkdirSync(dirname(config.bgp.gobgpd.socket), { recursive: true });
    const ns = await BgpNamespace.create(config.bgp.namespace, config.host.id, bgpTcpPorts(config));
    const routes = new RoutesByRouter({ zk: agent.zk, hostId: config.host.id, root: config.zookeeper.root, logger });
    const role = new BgpRole({
      gobgpd: { binary: config.bgp.gobgpd.binary, protoDir: config.bgp.gobgpd.protoDir, api: { socket: config.bgp.gobgpd.socket }, netns: ns.name },
      routes,
      logger,
    });
    const gw = new BgpGateway(agent, config, ns, routes, role, logger);
    try {
      await gw.syncUplinks(config);
      await role.start(roleConfig);
      await gw.advertiseNow();
    } catch (e) {
      await gw.stop().catch(() => undefined);
      throw e;
    }
    gw.log.info({ namespace: ns.name, peers: roleConfig.peers.length }, 'BGP role started');
    return gw;
  }

  /** Applies a changed config: control links, peers (as a difference) and the advertised set. */
  async reload(config: TollgateConfig): Promise<PeerPlan | 'restarted' | 'deferred'> {
    const roleConfig = bgpRoleConfigOf(config);
    if (roleConfig === undefined) throw new Error('BgpGateway.reload without a bgp section: stop the role instead');
    this.config = config;
    await this.syncUplinks(config);
    const result = await this.role.reload(roleConfig);
    await this.advertiseNow();
    return result;
  }

  /** Whether a reload can apply `next`, or the role must be stopped and started again. */
  canReload(next: TollgateConfig): boolean {
    // The listen port is in the namespace's firewall and the datapath's steering: a change rebuilds both.
    return next.bgp !== undefined && next.bgp.namespace === this.config.bgp?.namespace && next.bgp.listenPort === this.config.bgp.listenPort &&
      next.bgp.gobgpd.binary === this.config.bgp.gobgpd.binary && next.bgp.gobgpd.protoDir === this.config.bgp.gobgpd.protoDir &&
      next.bgp.gobgpd.socket === this.config.bgp.gobgpd.socket;
  }

  async status(): Promise<BgpGatewayStatus> {
    const s = await this.role.status();
    return { ...s, namespace: this.ns.name, interfaces: this.ns.interfaces() };
  }

  /** gobgpd's PID (tests and diagnostics). */
  get gobgpdPid(): number | undefined {
    return this.role.gobgpdPid;
  }

  /** Stops gobgpd (peers see a Cease), withdraws the learned routes, removes the namespace. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.offTopology();
    if (this.advertiseTimer !== undefined) clearTimeout(this.advertiseTimer);
    await this.role.stop().catch((err: unknown) => this.log.error({ err }, 'stopping the BGP role failed'));
    for (const uplinkPortId of this.built.keys()) this.agent.stopSteeringControlTraffic(uplinkPortId);
    this.built.clear();
    await this.ns.destroy();
    this.routes.close();
  }

  // --- internals ---

  /** gobgpd's interfaces for exactly the peering uplinks, rebuilt where an uplink's interface, addresses or MAC changed. */
  private async syncUplinks(config: TollgateConfig): Promise<void> {
    const wanted = new Map(peeringUplinks(config).map((u) => [u.port.id, u]));
    this.routes.addUplinks(config.uplinks.map((u) => ({ portId: u.port.id, routerId: u.router })));
    for (const [portId, shape] of this.built) {
      const u = wanted.get(portId);
      if (u !== undefined && shapeOf(u) === shape) continue;
      this.agent.stopSteeringControlTraffic(portId);
      await this.ns.removeUplink(portId);
      this.built.delete(portId);
    }
    for (const u of wanted.values()) {
      if (this.built.has(u.port.id)) continue;
      // The datapath leaves BGP alone before gobgpd's interface exists: no flow may answer it meanwhile.
      this.agent.steerControlTraffic(u.port.id, uplinkAddresses(u), bgpTcpPorts(config));
      await this.ns.addUplink(u);
      this.built.set(u.port.id, shapeOf(u));
    }
  }

  private scheduleAdvertise(): void {
    if (this.advertiseTimer !== undefined || this.stopped) return;
    this.advertiseTimer = setTimeout(() => {
      this.advertiseTimer = undefined;
      this.advertiseNow().catch((err: unknown) => this.log.error({ err }, 'advertising the provider routers\' prefixes failed'));
    }, ADVERTISE_SETTLE_MS);
  }

  /** Announces the marked routes of every provider router this host peers for, plus the uplinks' lists. */
  private async advertiseNow(): Promise<void> {
    const uplinks = peeringUplinks(this.config);
    const routers = [...new Set(uplinks.map((u) => u.router))];
    const extra = uplinks.flatMap((u) => u.advertise);
    const prefixes = new Set<string>();
    for (const [i, routerId] of routers.entries()) {
      const routes = await this.agent.topology.ensureRoutes(routerId);
      if (routes === undefined) this.log.warn({ routerId }, `provider router ${routerId} is not in the topology: nothing of it is advertised`);
      const r = advertisedPrefixes(routes, i === 0 ? extra : []);
      for (const bad of r.invalid) this.log.warn({ routerId, ...bad }, `not advertising ${bad.text}: not a prefix`);
      for (const p of r.prefixes) prefixes.add(p);
    }
    if (this.stopped) return;
    await this.role.advertise([...prefixes]);
  }
}

function shapeOf(u: UplinkConfig): string {
  return JSON.stringify({ interface: u.interface, netns: u.netns, mac: u.port.mac, address: [...u.port.address].sort() });
}

/** BGP's port, and gobgpd's listen port when another: the TCP ports that are gobgpd's on the uplinks. */
function bgpTcpPorts(config: TollgateConfig): number[] {
  const listen = config.bgp?.listenPort ?? BGP_TCP_PORT;
  return listen > 0 && listen !== BGP_TCP_PORT ? [BGP_TCP_PORT, listen] : [BGP_TCP_PORT];
}
