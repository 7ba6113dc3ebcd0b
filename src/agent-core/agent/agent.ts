// One agent process (DESIGN: Processes; The packet's way): ZooKeeper session and watched caches,
// the datapath with this host's bound ports and the overlay tunnel, the packet workflow on upcalls
// with its waiting room, flow-state push and import, and invalidation of installed flows when the
// topology, tables or bindings change. The main loop is the one writer of this state.
import type { Logger } from 'pino';
import { type Datapath, type DpAction, type DpFlowSpec, type DpUpcall } from '../datapath/datapath.js';
import { InProcessDatapath } from '../datapath/in-process-datapath.js';
import { WorkerDatapath } from '../datapath/worker-datapath.js';
import { openVxlanTunnel } from '../datapath/vxlan-tunnel.js';
import { openGreTunnel } from '../datapath/gre-tunnel.js';
import { inPortTag } from '../datapath/in-process-datapath.js';
import { extractFlowKey, formatIp, KEY_WORDS, VXLAN_PORT_TOLLGATE, type FieldMask, type IpAddr, type Mac } from '../packet/index.js';
import type { SimulationResult, StateChange } from '../simulation/index.js';
import {
  ArpTable, HostState, HostStateView, MacTable, NatLeases, TunnelPeers, ZkClient, ZkTopologyCache, blockOfPort, storeLogger,
} from '../store/index.js';
import type { Id } from '../topology/index.js';
import { agentViews, arpKey, macKey, PendingLearned } from './agent-views.js';
import { BGP_TCP_PORT, controlTag, steerUplinkFrame, type ControlSteering } from './control-steering.js';
import { bindingTag, hostTag, resolveEgress, type BindingView } from './egress-resolver.js';
import { FlowStatePusher, type FlowStatePusherOptions } from './flow-state-pusher.js';
import { LocalTables } from './local-tables.js';
import { arpWaitKey, deviceWaitKey, MissingLoader } from './missing-loader.js';
import { FLOW_TIMEOUTS, PacketWorkflow, type GeneratedWalk } from './packet-workflow.js';
import { PortBindings, type PortBinding } from './port-bindings.js';
import { StateFile } from './state-file.js';
import { prefetchTopology } from './topology-prefetch.js';
import { WaitingRoom, type WaitingRoomCounters, type WaitingRoomOptions } from './waiting-room.js';

export const AGENT_VERSION = '0.1.0';

export interface AgentOptions {
  readonly hostId: Id;
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

export interface AgentCounters {
  upcalls: number;
  /** Upcalls dropped because the simulation queue was full (a flood). */
  upcallsShed: number;
  simulations: number;
  installs: number;
  parked: number;
  reSimulated: number;
  /** Parked packets given up after maxAttempts re-simulations. */
  givenUp: number;
  malformed: number;
  unknownPortUpcalls: number;
  /** Outputs to ports bound nowhere. */
  unboundOutputs: number;
  storeWriteErrors: number;
  stateImported: number;
  /** Frames from uplinks left to gobgpd's interface (BGP): dropped here unsimulated. */
  controlFrames: number;
}

/** A datapath call of a slice of simulations, held back until the slice's flow state has been sent (flushSlice). */
type HeldCall =
  | { readonly op: 'install'; readonly flow: DpFlowSpec }
  | { readonly op: 'execute'; readonly frame: Uint8Array; readonly actions: readonly DpAction[] }
  | { readonly op: 'invalidate'; readonly tags: readonly string[] };

interface ParkedPacket {
  readonly frame: Uint8Array;
  readonly dpPort: number;
  readonly attempt: number;
}

const HOUSEKEEPING_MS = 250;
/** Upcalls waiting for simulation at most; more are shed (counted). */
const MAX_QUEUED_UPCALLS = 4096;
/** Simulation runs this long at most before the loop gets a turn. */
const UPCALL_SLICE_MS = 5;
/** How often conntrack and NAT state is written to disk (and at stop). */
const STATE_SAVE_MS = 1000;

export class Agent {
  readonly counters: AgentCounters = {
    upcalls: 0, upcallsShed: 0, simulations: 0, installs: 0, parked: 0, reSimulated: 0, givenUp: 0, malformed: 0, unknownPortUpcalls: 0,
    unboundOutputs: 0, storeWriteErrors: 0, stateImported: 0, controlFrames: 0,
  };
  readonly local = new LocalTables();
  readonly bindings = new PortBindings();
  /** Uplinks whose BGP is gobgpd's (through the kernel), see control-steering.ts. */
  private readonly controls = new Map<Id, ControlSteering>();
  private readonly log: Logger;
  private readonly waiting: WaitingRoom<ParkedPacket>;
  private readonly loader: MissingLoader;
  private readonly pendingMacs = new PendingLearned<Id>();
  private readonly pendingArp = new PendingLearned<Mac>();
  private readonly unsubscribe: (() => void)[] = [];
  private readonly workflow: PacketWorkflow;
  private readonly bindingView: BindingView;
  /** The registered hosts' tunnel IPs: the only underlay sources the tunnel accepts once loaded. */
  private readonly tunnelPeers: TunnelPeers;
  private housekeeping: ReturnType<typeof setInterval> | undefined;
  private stopped = false;
  private readonly upcallQueue: DpUpcall[] = [];
  private upcallHead = 0;
  private draining = false;
  private readonly held: HeldCall[] = [];
  private lastStateSave = 0;
  private readonly steerKey = new Float64Array(KEY_WORDS);
  private saving = false;

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
    this.loader = new MissingLoader({ topology, macs, arp, hosts, natLeases, log: this.log, release: (key) => this.releaseAndRetry(key) });
    const views = agentViews({
      topology, macs, arp, local: this.local, natPorts: natLeases, pendingMacs: this.pendingMacs, pendingArp: this.pendingArp,
    });
    this.workflow = new PacketWorkflow(views, this.local);
    this.tunnelPeers = new TunnelPeers(zk, hosts, { root: options.zookeeper.root, logger: options.logger });
    this.bindingView = {
      portActive: (portId) => hosts.portActive(portId),
      hostTunnelIp: (hostId) => {
        const h = hosts.host(hostId);
        return h === undefined ? undefined : h === null ? null : h.tunnelIp;
      },
    };
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
    const hostState = new HostState(zk, { hostId: options.hostId, tunnelIp: options.tunnelIp, agentVersion: AGENT_VERSION }, storeOpts);
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
    if ((await this.topology.ensure('port', portId)) === undefined) {
      this.log.warn({ portId, ifname }, 'bound a port the topology does not have (yet): its frames wait for it');
    }
    await this.hostState.setPortActive(portId, b.tunnelKey);
    this.invalidate([bindingTag(portId)]);
    return b;
  }

  async unbindPort(portId: Id): Promise<void> {
    const b = this.bindings.unbind(portId);
    if (b === undefined) return;
    this.datapath.setTunnelKey(b.tunnelKey, undefined);
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
  } {
    return {
      hostId: this.options.hostId, counters: { ...this.counters }, waiting: this.waiting.length, waitingRoom: { ...this.waiting.counters },
      tables: this.local.counts(), push: this.pusher.counters(), tunnelRemotes: remotesOf(this.tunnelPeers),
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
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
    this.datapath.onUpcall((batch) => this.onUpcalls(batch));
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

  /**
   * Upcalls wait in a bounded queue and are simulated in slices of a few milliseconds, so that
   * between slices the loop reads ZooKeeper, flow-state messages and timers (DESIGN: Threads and
   * isolation). Past the bound, new upcalls are shed and counted.
   */
  private onUpcalls(batch: readonly DpUpcall[]): void {
    for (const u of batch) {
      this.counters.upcalls++;
      if (this.upcallQueue.length - this.upcallHead >= MAX_QUEUED_UPCALLS) {
        this.counters.upcallsShed++;
        continue;
      }
      this.upcallQueue.push(u);
    }
    if (!this.draining && this.upcallQueue.length > this.upcallHead) {
      this.draining = true;
      setImmediate(() => this.drainUpcalls());
    }
  }

  private drainUpcalls(): void {
    this.draining = false;
    if (this.stopped) return;
    const start = performance.now();
    let now = start;
    while (this.upcallHead < this.upcallQueue.length && now - start < UPCALL_SLICE_MS) {
      const u = this.upcallQueue[this.upcallHead++]!;
      try {
        this.handleUpcall(u.frame, u.port, now, 0);
      } catch (err) {
        this.log.error({ err }, 'upcall failed');
      }
      now = performance.now();
    }
    if (this.upcallHead >= this.upcallQueue.length) {
      this.upcallQueue.length = 0;
      this.upcallHead = 0;
    } else if (this.upcallHead > 4096) {
      this.upcallQueue.splice(0, this.upcallHead);
      this.upcallHead = 0;
    }
    this.flushSlice();
    if (this.upcallHead < this.upcallQueue.length) {
      this.draining = true;
      setImmediate(() => this.drainUpcalls());
    }
  }

  private handleUpcall(frame: Uint8Array, dpPort: number, now: number, attempt: number): void {
    const binding = this.bindings.ofDpPort(dpPort);
    if (binding === undefined) {
      this.counters.unknownPortUpcalls++;
      return;
    }
    let extraMask: FieldMask = 0;
    const control = this.controls.get(binding.portId);
    if (control !== undefined) {
      if (!extractFlowKey(frame, dpPort, 0, this.steerKey)) {
        this.counters.malformed++;
        return;
      }
      const steer = steerUplinkFrame(this.steerKey, control);
      if (steer.kind === 'kernel') {
        this.counters.controlFrames++;
        this.held.push({
          op: 'install',
          flow: { key: this.steerKey.slice(), mask: steer.mask, actions: [], tags: [controlTag(control.uplinkPortId)], timeouts: FLOW_TIMEOUTS.normal },
        });
        return;
      }
      extraMask = steer.extraMask;
    }
    const miss = this.workflow.simulateMiss(frame, binding.portId, now, dpPort);
    if (miss.kind === 'malformed') {
      this.counters.malformed++;
      return;
    }
    this.counters.simulations++;
    const { result } = miss;
    if (this.log.isLevelEnabled('debug')) {
      this.log.debug({ port: binding.portId, outcome: result.outcome, trace: result.trace, actions: result.actions.length, attempt }, 'simulated');
    }
    this.invalidate(miss.stale);
    this.publishLearned(result.stateChanges);
    // A generated packet that could not finish (an ARP request to a device not loaded yet) holds
    // this packet up as well: it waits for either.
    const walkWaits = this.sendGenerated(miss.walks);
    if (result.outcome.kind === 'notYet') {
      this.park(frame, dpPort, attempt, [...result.outcome.missing.map((m) => this.loader.load(m)), ...walkWaits], now);
      return;
    }
    const egress = resolveEgress(result.actions, this.bindings, this.options.hostId, this.bindingView);
    if (egress.waitFor.length > 0) {
      for (const k of egress.waitFor) this.loader.loadBinding(k);
      this.park(frame, dpPort, attempt, egress.waitFor, now);
      return;
    }
    // Flow state goes out before the packet (DESIGN: The packet's way, step 6), to every host of
    // the interested set: wait until the ingress set and the bindings of its members are known.
    const stateWaits = this.interestedSetWaits(binding.portId, result);
    if (stateWaits.length > 0) {
      this.park(frame, dpPort, attempt, stateWaits, now);
      return;
    }
    this.counters.unboundOutputs += egress.unbound.length;
    this.pushState(binding.portId, result);
    if (result.installFlow) {
      this.held.push({
        op: 'install',
        flow: {
          key: result.match.orig, mask: result.match.seen | extraMask, actions: egress.actions, tags: [...result.tags, ...egress.tags],
          timeouts: egress.unbound.length > 0 ? FLOW_TIMEOUTS.error : FLOW_TIMEOUTS[result.expiry],
        },
      });
      this.counters.installs++;
    }
    if (egress.actions.some((a) => a.kind === 'output' || a.kind === 'tunnel')) this.held.push({ op: 'execute', frame, actions: egress.actions });
  }

  /**
   * The end of a slice of simulations: their flow state leaves first, in as few messages as the
   * interested sets allow, then their invalidations, installs and packets in the order they were
   * made (DESIGN: The packet's way, step 6).
   */
  private flushSlice(): void {
    this.pusher.flush();
    for (const h of this.held) {
      if (h.op === 'install') this.datapath.installFlow(h.flow);
      else if (h.op === 'execute') this.datapath.execute(h.frame, h.actions);
      else this.datapath.invalidate(h.tags);
    }
    this.held.length = 0;
  }

  /** Drops the flows carrying the tags, in order with the installs a slice still holds. */
  private invalidate(tags: readonly string[]): void {
    if (tags.length === 0) return;
    if (this.held.length > 0) this.held.push({ op: 'invalidate', tags });
    else this.datapath.invalidate(tags);
  }

  /** MACs and ARP entries learned here go to the store (visible locally at once through the pending maps). */
  private publishLearned(changes: readonly StateChange[]): void {
    for (const c of changes) {
      if (c.kind === 'nat') {
        // A port taken from one of this host's blocks: no other flow may take it until the binding ends.
        if (c.leasedIp !== undefined) this.natLeases.markPortUsed(c.deviceId, c.leasedIp, c.binding.port);
      } else if (c.kind === 'macLearned') {
        const k = macKey(c.bridgeId, c.vlanId, c.mac);
        if (this.macs.lookup(c.bridgeId, c.vlanId, c.mac) === c.portId) continue;
        if (this.pendingMacs.get(k) === c.portId) continue;
        this.pendingMacs.set(k, c.portId);
        this.macs.learn(c.bridgeId, c.vlanId, c.mac, c.portId).catch((err: unknown) => this.storeWriteFailed(err, 'MAC'));
      } else if (c.kind === 'arpLearned') {
        const k = arpKey(c.routerId, c.ip);
        if (this.arp.lookup(c.routerId, c.ip) === c.mac || this.pendingArp.get(k) === c.mac) continue;
        this.pendingArp.set(k, c.mac);
        this.arp.learn(c.routerId, c.ip, c.mac).catch((err: unknown) => this.storeWriteFailed(err, 'ARP'));
        this.releaseAndRetry(arpWaitKey(c.routerId, c.ip));
      }
    }
  }

  /** Sends generated packets; returns the wait keys of those that could not finish (NotYet). */
  private sendGenerated(walks: readonly GeneratedWalk[]): string[] {
    const waits: string[] = [];
    for (const w of walks) {
      if (w.result.outcome.kind === 'notYet') for (const m of w.result.outcome.missing) waits.push(this.loader.load(m));
      if (this.log.isLevelEnabled('debug')) {
        this.log.debug({ outcome: w.result.outcome, trace: w.result.trace, learned: w.result.stateChanges.map((c) => c.kind), outputs: w.outputs.map((o) => o.portId) }, 'walked a generated packet');
      }
      this.publishLearned(w.result.stateChanges);
      for (const o of w.outputs) {
        const r = resolveEgress([{ kind: 'output', portId: o.portId }], this.bindings, this.options.hostId, this.bindingView);
        for (const k of r.waitFor) {
          this.loader.loadBinding(k);
          waits.push(k);
        }
        const actions: DpAction[] = r.actions;
        if (actions.length > 0) this.held.push({ op: 'execute', frame: o.frame, actions });
      }
    }
    return waits;
  }

  /** Wait keys for what the interested set of the result's state needs and is still loading. */
  private interestedSetWaits(ingressPortId: Id, result: SimulationResult): string[] {
    if (this.options.flowState?.push === false || !result.stateChanges.some((c) => c.kind === 'conntrack' || c.kind === 'nat')) return [];
    const waits: string[] = [];
    const ports = new Set<Id>([ingressPortId]);
    for (const a of result.actions) if (a.kind === 'output') ports.add(a.portId);
    for (const portId of [...ports]) {
      for (const groupId of this.topology.portGroupsOf(portId)) {
        const group = this.topology.portGroup(groupId);
        if (group === undefined) {
          waits.push(this.loader.load({ kind: 'device', objectType: 'portGroup', id: groupId }));
          continue;
        }
        if (group.stateful) for (const member of group.portIds) ports.add(member);
      }
    }
    for (const portId of ports) {
      if (this.bindings.ofPort(portId) !== undefined || this.hosts.portActive(portId) !== undefined) continue;
      const key = bindingTag(portId);
      this.loader.loadBinding(key);
      waits.push(key);
    }
    return waits;
  }

  private pushState(ingressPortId: Id, result: SimulationResult): void {
    if (this.options.flowState?.push === false) return;
    const egressPortIds = result.actions.flatMap((a) => (a.kind === 'output' ? [a.portId] : []));
    this.pusher.push(ingressPortId, egressPortIds, result.stateChanges, (portId) => {
      const mine = this.bindings.ofPort(portId);
      if (mine !== undefined) return this.options.hostId;
      const active = this.hosts.portActive(portId);
      if (active === undefined) this.loader.loadBinding(bindingTag(portId));
      return active?.hostId ?? undefined;
    }, this.topology);
  }

  private importState(changes: readonly StateChange[]): void {
    this.counters.stateImported += changes.length;
    this.invalidate(this.local.apply(changes, performance.now()));
  }

  private park(frame: Uint8Array, dpPort: number, attempt: number, keys: readonly string[], now: number): void {
    if (attempt >= (this.options.maxAttempts ?? 16)) {
      this.counters.givenUp++;
      return;
    }
    if (this.waiting.park(keys, { frame, dpPort, attempt: attempt + 1 }, now)) this.counters.parked++;
  }

  private releaseAndRetry(key: string): void {
    if (this.stopped) return;
    const parked = this.waiting.release(key);
    if (parked.length === 0) return;
    const now = performance.now();
    for (const p of parked) {
      this.counters.reSimulated++;
      this.handleUpcall(p.frame, p.dpPort, now, p.attempt);
    }
    this.flushSlice();
  }

  private storeWriteFailed(err: unknown, what: string): void {
    this.counters.storeWriteErrors++;
    this.log.warn({ err }, `writing a learned ${what} entry to the store failed`);
  }

  private tick(): void {
    const now = performance.now();
    if (this.stateFile !== undefined && now - this.lastStateSave >= this.stateFile.intervalMs(STATE_SAVE_MS) && !this.saving) {
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

