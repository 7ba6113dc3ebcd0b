// One agent process (DESIGN: Processes; The packet's way): ZooKeeper session and watched caches,
// the datapath with this host's bound ports and the overlay tunnel, the upcall pipeline
// (upcall-pipeline.ts) with its waiting room, flow-state push and import, and invalidation of
// installed flows when the topology, tables or bindings change. The main loop is the one writer.
import type { Logger } from 'pino';
import type { Datapath } from '../datapath/datapath.js';
import { InProcessDatapath } from '../datapath/in-process-datapath.js';
import { WorkerDatapath } from '../datapath/worker-datapath.js';
import { openVxlanTunnel } from '../datapath/vxlan-tunnel.js';
import { openGreTunnel } from '../datapath/gre-tunnel.js';
import { inPortTag } from '../datapath/in-process-datapath.js';
import { formatIp, VXLAN_PORT_TOLLGATE, type IpAddr, type Mac } from '../packet/index.js';
import type { StateChange } from '../simulation/index.js';
import {
  ArpTable, HostState, HostStateView, MacTable, NatLeases, TunnelPeers, ZkClient, ZkTopologyCache, blockOfPort, storeLogger,
} from '../store/index.js';
import { portMtu, type Id } from '../topology/index.js';
import { agentViews, arpKey, macKey, PendingLearned } from './agent-views.js';
import { BGP_TCP_PORT, controlTag, type ControlSteering } from './control-steering.js';
import { bindingTag, hostTag, type BindingView } from './egress-resolver.js';
import { FlowStatePusher, type FlowStatePusherOptions } from './flow-state-pusher.js';
import { LocalTables } from './local-tables.js';
import { arpWaitKey, deviceWaitKey, MissingLoader } from './missing-loader.js';
import { PacketWorkflow } from './packet-workflow.js';
import { PortBindings, type PortBinding } from './port-bindings.js';
import { StateFile } from './state-file.js';
import { prefetchTopology } from './topology-prefetch.js';
import { portMtuProblem, type Underlay, underlayOf } from './underlay-mtu.js';
import { type AgentCounters, type ParkedPacket, UpcallPipeline } from './upcall-pipeline.js';
import { WaitingRoom, type WaitingRoomCounters, type WaitingRoomOptions } from './waiting-room.js';

export type { AgentCounters } from './upcall-pipeline.js';

/** Published when the embedding process does not say (AgentOptions.agentVersion). */
export const UNKNOWN_AGENT_VERSION = 'unknown';

export interface AgentOptions {
  readonly hostId: Id;
  /** Published with the host in the store (the package version for `tollgate agent`). */
  readonly agentVersion?: string;
  /** The address other hosts tunnel to (and the tunnel's bind address unless tunnel.bindAddress). */
  readonly tunnelIp: string;
  readonly zookeeper: { readonly connectionString: string; readonly root?: string; readonly sessionTimeoutMs?: number };
  readonly tunnel?: { readonly type?: 'vxlan' | 'gre'; readonly port?: number; readonly bindAddress?: string };
  readonly bindings?: readonly { readonly portId: Id; readonly ifname: string; readonly netns?: string }[];
  readonly flowState?: {
    /** false disables the push (imports still work): tests prove the mechanism with it. */
    readonly push?: boolean;
    readonly clusterKey?: string | Uint8Array;
    /** Where conntrack and NAT state is kept across restarts; undefined = not kept. */
    readonly stateFile?: string;
  };
  readonly waitingRoom?: WaitingRoomOptions;
  /** Re-simulations of one parked packet at most (each loads what the last one found missing). Default 16. */
  readonly maxAttempts?: number;
  /**
   * Where the fast path runs: 'worker' (default for VXLAN: packet I/O off the main loop, DESIGN:
   * Threads and isolation) or 'main' (GRE always: raw-socket cannot run in a worker).
   */
  readonly datapathThread?: 'worker' | 'main';
  /**
   * The datapath stopped working (its thread died): nothing forwards any more. The process should
   * stop (its BGP first) so that peers and other hosts route around this host; default: logged.
   */
  readonly onDatapathFailure?: (err: Error) => void;
  readonly logger?: Logger;
}

const HOUSEKEEPING_MS = 250;
/** How often conntrack and NAT state is written to disk (and at stop). */
const STATE_SAVE_MS = 1000;

export class Agent {
  readonly counters: AgentCounters = {
    upcalls: 0, upcallsShed: 0, simulations: 0, installs: 0, parked: 0, reSimulated: 0, givenUp: 0, malformed: 0, unknownPortUpcalls: 0,
    unboundOutputs: 0, storeWriteErrors: 0, stateImported: 0, controlFrames: 0, snatExhausted: 0,
  };
  readonly local = new LocalTables();
  readonly bindings = new PortBindings();
  /** Uplinks whose BGP is gobgpd's (through the kernel), see control-steering.ts. */
  private readonly controls = new Map<Id, ControlSteering>();
  private readonly log: Logger;
  private readonly waiting: WaitingRoom<ParkedPacket>;
  private readonly pendingMacs = new PendingLearned<Id>();
  private readonly pendingArp = new PendingLearned<Mac>();
  private readonly unsubscribe: (() => void)[] = [];
  private readonly upcalls: UpcallPipeline;
  /** The registered hosts' tunnel IPs: the only underlay sources the tunnel accepts once loaded. */
  private readonly tunnelPeers: TunnelPeers;
  private housekeeping: ReturnType<typeof setInterval> | undefined;
  private stopped = false;
  private lastStateSave = 0;
  private saving = false;
  /** The interface under the tunnel; undefined when no single one carries its address. */
  private underlay: Underlay | undefined;
  /** Bound ports whose MTU outgrows the underlay (portMtuProblem), by port. */
  private readonly mtuProblems = new Map<Id, string>();

  private constructor(
    private readonly options: AgentOptions,
    readonly zk: ZkClient,
    readonly topology: ZkTopologyCache,
    private readonly macs: MacTable,
    private readonly arp: ArpTable,
    readonly hosts: HostStateView,
    private readonly hostState: HostState,
    private readonly natLeases: NatLeases,
    readonly datapath: Datapath,
    private readonly pusher: FlowStatePusher,
    private readonly stateFile: StateFile | undefined,
  ) {
    this.log = storeLogger(options.logger, 'agent');
    this.waiting = new WaitingRoom(options.waitingRoom);
    // The loader releases what it loaded to the pipeline, which asks the loader for what it misses.
    const loader = new MissingLoader({ topology, macs, arp, hosts, natLeases, log: this.log, release: (key) => this.releaseAndRetry(key) });
    const views = agentViews({
      topology, macs, arp, local: this.local, natPorts: natLeases, pendingMacs: this.pendingMacs, pendingArp: this.pendingArp,
    });
    this.tunnelPeers = new TunnelPeers(zk, hosts, { root: options.zookeeper.root, logger: options.logger });
    const bindingView: BindingView = {
      portActive: (portId) => hosts.portActive(portId),
      hostTunnelIp: (hostId) => {
        const h = hosts.host(hostId);
        return h === undefined ? undefined : h === null ? null : h.tunnelIp;
      },
    };
    this.upcalls = new UpcallPipeline({
      hostId: options.hostId, pushState: options.flowState?.push !== false, maxAttempts: options.maxAttempts ?? 16,
      counters: this.counters, bindings: this.bindings, bindingView, controls: this.controls, workflow: new PacketWorkflow(views, this.local),
      loader, waiting: this.waiting, pusher, datapath, topology, hosts, macs, arp, natLeases,
      pendingMacs: this.pendingMacs, pendingArp: this.pendingArp, log: this.log,
    });
  }

  static async start(options: AgentOptions): Promise<Agent> {
    const log = storeLogger(options.logger, 'agent');
    const root = options.zookeeper.root;
    const zk = await ZkClient.connect(options.zookeeper.connectionString, {
      sessionTimeoutMs: options.zookeeper.sessionTimeoutMs, logger: options.logger,
    });
    const storeOpts = { root, logger: options.logger };
    const topology = new ZkTopologyCache(zk, storeOpts);
    const macs = new MacTable(zk, storeOpts);
    const arp = new ArpTable(zk, storeOpts);
    const hosts = new HostStateView(zk, storeOpts);
    const hostState = new HostState(zk, { hostId: options.hostId, tunnelIp: options.tunnelIp, agentVersion: options.agentVersion ?? UNKNOWN_AGENT_VERSION }, storeOpts);
    const natLeases = new NatLeases(zk, { ...storeOpts, leaseAhead: true });
    const tunnelPort = options.tunnel?.port ?? VXLAN_PORT_TOLLGATE;
    const bindAddress = options.tunnel?.bindAddress ?? options.tunnelIp;
    const datapath = await openDatapath(options, bindAddress, tunnelPort, log);
    const pusherOpts: FlowStatePusherOptions = {
      hostId: options.hostId, datapath, clusterKey: options.flowState?.clusterKey, logger: options.logger,
      resolvePeer: (hostId) => {
        const h = hosts.host(hostId);
        return h === undefined || h === null ? undefined : { address: h.tunnelIp, port: tunnelPort };
      },
    };
    const pusher = new FlowStatePusher(pusherOpts);
    const stateFile = options.flowState?.stateFile === undefined ? undefined : new StateFile(options.flowState.stateFile);
    const agent = new Agent(options, zk, topology, macs, arp, hosts, hostState, natLeases, datapath, pusher, stateFile);
    agent.underlay = underlayOf(bindAddress, options.tunnel?.type ?? 'vxlan');
    try {
      await agent.run();
    } catch (e) {
      await agent.stop().catch(() => undefined);
      throw e;
    }
    log.info({ hostId: options.hostId, ports: agent.bindings.all().length }, 'agent started');
    return agent;
  }

  private async run(): Promise<void> {
    const now = performance.now();
    if (this.stateFile !== undefined) {
      try {
        const restored = await this.stateFile.load(this.local, Date.now(), now);
        if (restored > 0) this.log.info({ entries: restored, file: this.stateFile.path }, 'restored flow state from disk');
        await this.reclaimNatBlocks();
      } catch (err) {
        this.log.error({ err, file: this.stateFile.path }, 'could not restore flow state: starting without it');
      }
    }
    this.local.onNatPortFreed = (deviceId, ip, port) => this.natLeases.markPortFree(deviceId, ip, port);
    this.listen();
    await this.pusher.start((imported) => this.importState(imported.changes));
    await this.hostState.register();
    // Not awaited: until the hosts are listed the tunnel accepts any source (a slow store must not cut the overlay).
    this.tunnelPeers.start();
    for (const b of this.options.bindings ?? []) await this.bindPort(b.portId, b.ifname, b.netns);
    this.housekeeping = setInterval(() => this.tick(), HOUSEKEEPING_MS);
    // The first packets should not wait for the topology one device at a time.
    const portIds = this.bindings.all().map((b) => b.portId);
    void prefetchTopology(this.topology, portIds)
      .then((n) => this.log.debug({ objects: n }, 'prefetched the topology behind the bound ports'))
      .catch((err: unknown) => this.log.warn({ err }, 'prefetching the topology failed (packets load it on demand)'));
  }

  /** Leases again the SNAT blocks whose ports restored bindings hold; bindings of blocks lost meanwhile stay but may collide. */
  private async reclaimNatBlocks(): Promise<void> {
    const byBlock = new Map<string, { deviceId: Id; ip: IpAddr; ports: number[] }>();
    for (const h of this.local.snatPortsHeld()) {
      const k = `${h.deviceId}|${formatIp(h.ip)}|${blockOfPort(h.port)}`;
      let e = byBlock.get(k);
      if (e === undefined) byBlock.set(k, (e = { deviceId: h.deviceId, ip: h.ip, ports: [] }));
      e.ports.push(h.port);
    }
    for (const e of byBlock.values()) {
      const block = blockOfPort(e.ports[0]!);
      if (await this.natLeases.reclaimNatBlock(e.deviceId, e.ip, block)) {
        for (const p of e.ports) this.natLeases.markPortUsed(e.deviceId, e.ip, p);
      } else {
        this.log.warn({ deviceId: e.deviceId, ip: formatIp(e.ip), block }, 'a restored SNAT block is held by another host now: its connections may break');
      }
    }
  }

  /** Binds a virtual port to a host interface here and publishes its tunnel key. */
  async bindPort(portId: Id, ifname: string, netns?: string): Promise<PortBinding> {
    const b = this.bindings.bind(portId, ifname, netns);
    try {
      await this.datapath.addPort(b.dpPort, netns === undefined ? { kind: 'netdev', ifname } : { kind: 'netdev', ifname, netns });
    } catch (e) {
      this.bindings.unbind(portId);
      throw e;
    }
    this.datapath.setTunnelKey(b.tunnelKey, b.dpPort);
    const port = await this.topology.ensure('port', portId);
    if (port === undefined) {
      this.log.warn({ portId, ifname }, 'bound a port the topology does not have (yet): its frames wait for it');
    } else if (this.underlay !== undefined) {
      const problem = portMtuProblem(portId, portMtu(port), this.underlay);
      if (problem !== undefined) {
        this.mtuProblems.set(portId, problem);
        this.log.warn({ portId, ifname, underlay: this.underlay }, problem);
      }
    }
    await this.hostState.setPortActive(portId, b.tunnelKey);
    this.invalidate([bindingTag(portId)]);
    return b;
  }

  async unbindPort(portId: Id): Promise<void> {
    const b = this.bindings.unbind(portId);
    if (b === undefined) return;
    this.datapath.setTunnelKey(b.tunnelKey, undefined);
    this.mtuProblems.delete(portId);
    await this.datapath.removePort(b.dpPort);
    await this.hostState.clearPortActive(portId);
    this.invalidate([bindingTag(portId)]);
  }

  /**
   * BGP to the bound uplink's `addresses` is gobgpd's (a macvlan on the uplink's interface gets it
   * from the kernel): the datapath drops its copies unsimulated, and no flow learnt on the uplink
   * may cover it.
   */
  steerControlTraffic(uplinkPortId: Id, addresses: readonly IpAddr[], tcpPorts: readonly number[] = [BGP_TCP_PORT]): void {
    this.controls.set(uplinkPortId, { uplinkPortId, addresses: [...addresses], tcpPorts: [...tcpPorts] });
    // Flows learnt on the uplink before may be general enough to take BGP: simulate them again.
    this.invalidate([controlTag(uplinkPortId), ...this.uplinkInPortTag(uplinkPortId)]);
  }

  stopSteeringControlTraffic(uplinkPortId: Id): void {
    if (!this.controls.delete(uplinkPortId)) return;
    this.invalidate([controlTag(uplinkPortId), ...this.uplinkInPortTag(uplinkPortId)]);
  }

  /** Fault injection for tests: the datapath's thread throws as a bug in it would (worker datapath only). */
  simulateDatapathCrash(): boolean {
    if (!(this.datapath instanceof WorkerDatapath)) return false;
    this.datapath.simulateWorkerCrash();
    return true;
  }

  private uplinkInPortTag(uplinkPortId: Id): string[] {
    const b = this.bindings.ofPort(uplinkPortId);
    return b === undefined ? [] : [inPortTag(b.dpPort)];
  }

  status(): {
    hostId: Id; counters: AgentCounters; waiting: number; waitingRoom: WaitingRoomCounters; tables: ReturnType<LocalTables['counts']>;
    push: ReturnType<FlowStatePusher['counters']>;
    /** The underlay sources the tunnel accepts; null = any (the hosts are not listed yet). */
    tunnelRemotes: string[] | null;
    /** The interface under the tunnel and the largest inner IP packet it leaves room for; null = not known. */
    underlay: Underlay | null;
    /** Bound ports whose MTU outgrows the underlay, each with what to change. */
    mtuProblems: string[];
  } {
    return {
      hostId: this.options.hostId, counters: { ...this.counters }, waiting: this.waiting.length, waitingRoom: { ...this.waiting.counters },
      tables: this.local.counts(), push: this.pusher.counters(), tunnelRemotes: remotesOf(this.tunnelPeers),
      underlay: this.underlay ?? null, mtuProblems: [...this.mtuProblems.values()],
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.upcalls.stop();
    if (this.housekeeping !== undefined) clearInterval(this.housekeeping);
    for (const u of this.unsubscribe.splice(0)) u();
    if (this.stateFile !== undefined) await this.stateFile.save(this.local, Date.now(), performance.now()).catch((err: unknown) => this.log.error({ err }, 'saving flow state failed'));
    await this.pusher.stop();
    await this.datapath.close();
    await this.hostState.unregister().catch(() => undefined);
    this.hostState.close();
    this.tunnelPeers.close();
    this.natLeases.close();
    this.macs.close();
    this.arp.close();
    this.hosts.close();
    this.topology.close();
    await this.zk.close();
  }

  private listen(): void {
    this.datapath.onUpcall((batch) => this.upcalls.onUpcalls(batch));
    this.unsubscribe.push(
      this.topology.onChange((c) => {
        this.invalidate(c.tags);
        this.releaseAndRetry(deviceWaitKey(c.objectType, c.id));
      }),
      this.topology.onLoaded((e) => this.releaseAndRetry(deviceWaitKey(e.objectType, e.id))),
      this.macs.onChange((c) => {
        // The store wins once it says something readable about the entry (a move, or our write echoed).
        if (this.macs.lookup(c.bridgeId, c.vlanId, c.mac) != null) this.pendingMacs.settle(macKey(c.bridgeId, c.vlanId, c.mac));
        this.invalidate([c.tag]);
      }),
      this.arp.onChange((c) => {
        if (this.arp.lookup(c.routerId, c.ip) !== undefined) this.pendingArp.settle(arpKey(c.routerId, c.ip));
        this.invalidate([c.tag]);
        this.releaseAndRetry(arpWaitKey(c.routerId, c.ip));
      }),
      this.hosts.onChange((c) => {
        const tag = c.kind === 'port' ? bindingTag(c.portId) : hostTag(c.hostId);
        this.invalidate([tag]);
        this.releaseAndRetry(tag);
      }),
      this.tunnelPeers.onChange((ips) => {
        try {
          this.datapath.setTunnelRemotes([...ips]);
        } catch (err) {
          this.log.error({ err }, 'setting the tunnel remotes failed: the tunnel keeps its previous ones');
        }
      }),
    );
  }

  private importState(changes: readonly StateChange[]): void {
    this.counters.stateImported += changes.length;
    this.invalidate(this.local.apply(changes, performance.now()));
  }

  /** Drops the flows carrying the tags, in order with what the pipeline's current slice holds. */
  private invalidate(tags: readonly string[]): void {
    this.upcalls.invalidate(tags);
  }

  /** Re-simulates the packets parked for `key` (the pipeline does nothing once stopped). */
  private releaseAndRetry(key: string): void {
    this.upcalls.releaseAndRetry(key);
  }

  private tick(): void {
    const now = performance.now();
    const held = this.local.counts();
    if (this.stateFile !== undefined && now - this.lastStateSave >= this.stateFile.intervalMs(STATE_SAVE_MS, held.conntrack + held.nat) && !this.saving) {
      this.lastStateSave = now;
      this.saving = true;
      this.stateFile.save(this.local, Date.now(), now)
        .catch((err: unknown) => this.log.error({ err }, 'saving flow state failed'))
        .finally(() => (this.saving = false));
    }
    this.waiting.expire(now);
    const stale = this.local.expire(now);
    if (stale.length > 0) this.invalidate(stale);
  }
}

function remotesOf(peers: TunnelPeers): string[] | null {
  const ips = peers.tunnelIps();
  return ips === undefined ? null : [...ips].sort();
}

async function openDatapath(options: AgentOptions, bindAddress: string, tunnelPort: number, log: Logger): Promise<Datapath> {
  if (options.tunnel?.type === 'gre') return new InProcessDatapath({ tunnel: await openGreTunnel({ localAddress: bindAddress }) });
  if (options.datapathThread === 'main') {
    return new InProcessDatapath({ tunnel: await openVxlanTunnel({ localAddress: bindAddress, port: tunnelPort }) });
  }
  return WorkerDatapath.start({
    tunnel: { kind: 'vxlan', localAddress: bindAddress, port: tunnelPort },
    onError: (err) => log.error({ err }, 'datapath worker error'),
    onDeath: (err) => {
      log.fatal({ err }, 'the datapath died: this host forwards nothing any more');
      options.onDatapathFailure?.(err);
    },
  });
}

