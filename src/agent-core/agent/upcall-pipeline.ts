// The upcall path of an agent (DESIGN: The packet's way, steps 4-6): frames that missed the fast
// path wait in a bounded queue and are simulated in slices; each result's learned MACs and ARP
// entries go to the store, its flow state to the interested set, then its flows and packets to the
// datapath, in that order. Packets whose simulation needs something not loaded yet are parked and
// re-simulated when it arrives. Runs on the agent's main loop, its one writer.
import type { Logger } from 'pino';
import { type Datapath, type DpAction, type DpFlowSpec, type DpUpcall } from '../datapath/datapath.js';
import { extractFlowKey, KEY_WORDS, type FieldMask, type Mac } from '../packet/index.js';
import type { SimulationResult, StateChange } from '../simulation/index.js';
import type { ArpTable, HostStateView, MacTable, NatLeases, ZkTopologyCache } from '../store/index.js';
import type { Id } from '../topology/index.js';
import { arpKey, macKey, type PendingLearned } from './agent-views.js';
import { controlTag, steerUplinkFrame, type ControlSteering } from './control-steering.js';
import { bindingTag, resolveEgress, type BindingView } from './egress-resolver.js';
import type { FlowStatePusher } from './flow-state-pusher.js';
import { arpWaitKey, type MissingLoader } from './missing-loader.js';
import { FLOW_TIMEOUTS, type GeneratedWalk, type PacketWorkflow } from './packet-workflow.js';
import type { PortBindings } from './port-bindings.js';
import type { WaitingRoom } from './waiting-room.js';

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
  /** Packets of new connections dropped because dynamic SNAT had no port on any target address (every block leased). */
  snatExhausted: number;
}

export interface ParkedPacket {
  readonly frame: Uint8Array;
  readonly dpPort: number;
  readonly attempt: number;
}

/** A datapath call of a slice of simulations, held back until the slice's flow state has been sent (flushSlice). */
type HeldCall =
  | { readonly op: 'install'; readonly flow: DpFlowSpec }
  | { readonly op: 'execute'; readonly frame: Uint8Array; readonly actions: readonly DpAction[] }
  | { readonly op: 'invalidate'; readonly tags: readonly string[] };

/** Upcalls waiting for simulation at most; more are shed (counted). */
const MAX_QUEUED_UPCALLS = 4096;
/** Simulation runs this long at most before the loop gets a turn. */
const UPCALL_SLICE_MS = 5;

/** What the pipeline works with: the agent's tables, store views and datapath (it owns none of them). */
export interface UpcallPipelineDeps {
  readonly hostId: Id;
  /** false: flow state is not pushed (imports still work). */
  readonly pushState: boolean;
  /** Re-simulations of one parked packet at most. */
  readonly maxAttempts: number;
  readonly counters: AgentCounters;
  readonly bindings: PortBindings;
  readonly bindingView: BindingView;
  /** Uplinks whose BGP is gobgpd's (see control-steering.ts). */
  readonly controls: ReadonlyMap<Id, ControlSteering>;
  readonly workflow: PacketWorkflow;
  readonly loader: MissingLoader;
  readonly waiting: WaitingRoom<ParkedPacket>;
  readonly pusher: FlowStatePusher;
  readonly datapath: Datapath;
  readonly topology: ZkTopologyCache;
  readonly hosts: HostStateView;
  readonly macs: MacTable;
  readonly arp: ArpTable;
  readonly natLeases: NatLeases;
  readonly pendingMacs: PendingLearned<Id>;
  readonly pendingArp: PendingLearned<Mac>;
  readonly log: Logger;
}

export class UpcallPipeline {
  private readonly upcallQueue: DpUpcall[] = [];
  private upcallHead = 0;
  private draining = false;
  private readonly held: HeldCall[] = [];
  private readonly steerKey = new Float64Array(KEY_WORDS);
  private stopped = false;

  constructor(private readonly d: UpcallPipelineDeps) {
    // The walk's trace lines are built only for the debug log that prints them (the level is set once, at start).
    d.workflow.trace = d.log.isLevelEnabled('debug');
  }

  /** No more simulations or re-simulations (the agent is stopping). */
  stop(): void {
    this.stopped = true;
  }

  /**
   * Upcalls wait in a bounded queue and are simulated in slices of a few milliseconds, so that
   * between slices the loop reads ZooKeeper, flow-state messages and timers (DESIGN: Threads and
   * isolation). Past the bound, new upcalls are shed and counted.
   */
  onUpcalls(batch: readonly DpUpcall[]): void {
    for (const u of batch) {
      this.d.counters.upcalls++;
      if (this.upcallQueue.length - this.upcallHead >= MAX_QUEUED_UPCALLS) {
        this.d.counters.upcallsShed++;
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
        this.d.log.error({ err }, 'upcall failed');
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
    const binding = this.d.bindings.ofDpPort(dpPort);
    if (binding === undefined) {
      this.d.counters.unknownPortUpcalls++;
      return;
    }
    let extraMask: FieldMask = 0;
    const control = this.d.controls.get(binding.portId);
    if (control !== undefined) {
      if (!extractFlowKey(frame, dpPort, 0, this.steerKey)) {
        this.d.counters.malformed++;
        return;
      }
      const steer = steerUplinkFrame(this.steerKey, control);
      if (steer.kind === 'kernel') {
        this.d.counters.controlFrames++;
        this.held.push({
          op: 'install',
          flow: { key: this.steerKey.slice(), mask: steer.mask, actions: [], tags: [controlTag(control.uplinkPortId)], timeouts: FLOW_TIMEOUTS.normal },
        });
        return;
      }
      extraMask = steer.extraMask;
    }
    const miss = this.d.workflow.simulateMiss(frame, binding.portId, now, dpPort);
    if (miss.kind === 'malformed') {
      this.d.counters.malformed++;
      return;
    }
    this.d.counters.simulations++;
    const { result } = miss;
    if (this.d.log.isLevelEnabled('debug')) {
      this.d.log.debug({ port: binding.portId, outcome: result.outcome, trace: result.trace, actions: result.actions.length, attempt }, 'simulated');
    }
    if (result.outcome.kind === 'drop' && result.outcome.cause === 'snatExhausted') this.d.counters.snatExhausted++;
    this.invalidate(miss.stale);
    this.publishLearned(result.stateChanges);
    // A generated packet that could not finish (an ARP request to a device not loaded yet) holds
    // this packet up as well: it waits for either.
    const walkWaits = this.sendGenerated(miss.walks);
    if (result.outcome.kind === 'notYet') {
      this.park(frame, dpPort, attempt, [...result.outcome.missing.map((m) => this.d.loader.load(m)), ...walkWaits], now);
      return;
    }
    const egress = resolveEgress(result.actions, this.d.bindings, this.d.hostId, this.d.bindingView);
    if (egress.waitFor.length > 0) {
      for (const k of egress.waitFor) this.d.loader.loadBinding(k);
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
    this.d.counters.unboundOutputs += egress.unbound.length;
    this.pushState(binding.portId, result);
    if (result.installFlow) {
      this.held.push({
        op: 'install',
        flow: {
          key: result.match.orig, mask: result.match.seen | extraMask, actions: egress.actions, tags: [...result.tags, ...egress.tags],
          timeouts: egress.unbound.length > 0 ? FLOW_TIMEOUTS.drop : FLOW_TIMEOUTS[result.expiry],
          ...(Number.isFinite(result.maxIpLength) ? { maxIpLength: result.maxIpLength } : {}),
        },
      });
      this.d.counters.installs++;
    }
    if (egress.actions.some((a) => a.kind === 'output' || a.kind === 'tunnel')) this.held.push({ op: 'execute', frame, actions: egress.actions });
  }

  /**
   * The end of a slice of simulations: their flow state leaves first, in as few messages as the
   * interested sets allow, then their invalidations, installs and packets in the order they were
   * made (DESIGN: The packet's way, step 6).
   */
  flushSlice(): void {
    this.d.pusher.flush();
    for (const h of this.held) {
      if (h.op === 'install') this.d.datapath.installFlow(h.flow);
      else if (h.op === 'execute') this.d.datapath.execute(h.frame, h.actions);
      else this.d.datapath.invalidate(h.tags);
    }
    this.held.length = 0;
  }

  /** Drops the flows carrying the tags, in order with the installs a slice still holds. */
  invalidate(tags: readonly string[]): void {
    if (tags.length === 0) return;
    if (this.held.length > 0) this.held.push({ op: 'invalidate', tags });
    else this.d.datapath.invalidate(tags);
  }

  /** MACs and ARP entries learned here go to the store (visible locally at once through the pending maps). */
  private publishLearned(changes: readonly StateChange[]): void {
    for (const c of changes) {
      if (c.kind === 'nat') {
        // A port taken from one of this host's blocks: no other flow may take it until the binding ends.
        if (c.leasedIp !== undefined) this.d.natLeases.markPortUsed(c.deviceId, c.leasedIp, c.binding.port);
      } else if (c.kind === 'macLearned') {
        const k = macKey(c.bridgeId, c.vlanId, c.mac);
        if (this.d.macs.lookup(c.bridgeId, c.vlanId, c.mac) === c.portId) continue;
        if (this.d.pendingMacs.get(k) === c.portId) continue;
        this.d.pendingMacs.set(k, c.portId);
        this.d.macs.learn(c.bridgeId, c.vlanId, c.mac, c.portId).catch((err: unknown) => this.storeWriteFailed(err, 'MAC'));
      } else if (c.kind === 'arpLearned') {
        const k = arpKey(c.routerId, c.ip);
        if (this.d.arp.lookup(c.routerId, c.ip) === c.mac || this.d.pendingArp.get(k) === c.mac) continue;
        this.d.pendingArp.set(k, c.mac);
        this.d.arp.learn(c.routerId, c.ip, c.mac).catch((err: unknown) => this.storeWriteFailed(err, 'ARP'));
        this.releaseAndRetry(arpWaitKey(c.routerId, c.ip));
      }
    }
  }

  /** Sends generated packets; returns the wait keys of those that could not finish (NotYet). */
  private sendGenerated(walks: readonly GeneratedWalk[]): string[] {
    const waits: string[] = [];
    for (const w of walks) {
      if (w.result.outcome.kind === 'notYet') for (const m of w.result.outcome.missing) waits.push(this.d.loader.load(m));
      if (this.d.log.isLevelEnabled('debug')) {
        this.d.log.debug({ outcome: w.result.outcome, trace: w.result.trace, learned: w.result.stateChanges.map((c) => c.kind), outputs: w.outputs.map((o) => o.portId) }, 'walked a generated packet');
      }
      this.publishLearned(w.result.stateChanges);
      for (const o of w.outputs) {
        const r = resolveEgress([{ kind: 'output', portId: o.portId }], this.d.bindings, this.d.hostId, this.d.bindingView);
        for (const k of r.waitFor) {
          this.d.loader.loadBinding(k);
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
    if (!this.d.pushState || !result.stateChanges.some((c) => c.kind === 'conntrack' || c.kind === 'nat')) return [];
    const waits: string[] = [];
    const ports = new Set<Id>([ingressPortId]);
    for (const a of result.actions) if (a.kind === 'output') ports.add(a.portId);
    for (const portId of [...ports]) {
      for (const groupId of this.d.topology.portGroupsOf(portId)) {
        const group = this.d.topology.portGroup(groupId);
        if (group === undefined) {
          waits.push(this.d.loader.load({ kind: 'device', objectType: 'portGroup', id: groupId }));
          continue;
        }
        if (group.stateful) for (const member of group.portIds) ports.add(member);
      }
    }
    for (const portId of ports) {
      if (this.d.bindings.ofPort(portId) !== undefined || this.d.hosts.portActive(portId) !== undefined) continue;
      const key = bindingTag(portId);
      this.d.loader.loadBinding(key);
      waits.push(key);
    }
    return waits;
  }

  private pushState(ingressPortId: Id, result: SimulationResult): void {
    if (!this.d.pushState) return;
    const egressPortIds = result.actions.flatMap((a) => (a.kind === 'output' ? [a.portId] : []));
    this.d.pusher.push(ingressPortId, egressPortIds, result.stateChanges, (portId) => {
      const mine = this.d.bindings.ofPort(portId);
      if (mine !== undefined) return this.d.hostId;
      const active = this.d.hosts.portActive(portId);
      if (active === undefined) this.d.loader.loadBinding(bindingTag(portId));
      return active?.hostId ?? undefined;
    }, this.d.topology);
  }

  private park(frame: Uint8Array, dpPort: number, attempt: number, keys: readonly string[], now: number): void {
    if (attempt >= (this.d.maxAttempts)) {
      this.d.counters.givenUp++;
      return;
    }
    if (this.d.waiting.park(keys, { frame, dpPort, attempt: attempt + 1 }, now)) this.d.counters.parked++;
  }

  releaseAndRetry(key: string): void {
    if (this.stopped) return;
    const parked = this.d.waiting.release(key);
    if (parked.length === 0) return;
    const now = performance.now();
    for (const p of parked) {
      this.d.counters.reSimulated++;
      this.handleUpcall(p.frame, p.dpPort, now, p.attempt);
    }
    this.flushSlice();
  }

  private storeWriteFailed(err: unknown, what: string): void {
    this.d.counters.storeWriteErrors++;
    this.d.log.warn({ err }, `writing a learned ${what} entry to the store failed`);
  }
}
