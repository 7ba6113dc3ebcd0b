// Scenario harness on the lab world (src/gateway/lab): the simulator behind a megaflow table, fed as
// the agent feeds it (DESIGN: The packet's way, steps 2-6; Flows; Flow state): lookup first, simulate
// on a miss, apply state changes and invalidate what they made stale, install, walk generated packets.
import { FLOW_TIMEOUTS } from '../../../src/agent-core/agent/index.js';
import { type Flow, MegaflowTable } from '../../../src/agent-core/flows/index.js';
import {
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  KEY_WORDS,
  TCP_ACK,
  TCP_SYN,
  VLAN_NONE,
  decodeFrame,
  encodeFrame,
  extractFlowKey,
  flowMatchFromFrame,
  isDecodeError,
  type DecodedFrame,
  type IpAddr,
  type Mac,
} from '../../../src/agent-core/packet/index.js';
import {
  type FlowAction,
  type NatBinding,
  type SimulationResult,
  type SimulationViews,
  type StateChange,
  arpTag,
  macTag,
  simulate,
  simulateGenerated,
} from '../../../src/agent-core/simulation/index.js';
import { InMemoryTopology, type Id, type TopologyChange } from '../../../src/agent-core/topology/index.js';
import { LAB, type LabTopologyOptions, buildLabTopology } from '../../../src/gateway/lab/lab-topology.js';
import { execute, ip, ip4, ip6, mac } from '../simulation/sim-test-kit.js';

export type FlowActions = readonly FlowAction[];

export interface PortOutput {
  readonly portId: Id;
  readonly frame: Uint8Array;
}

/** What became of one frame handed to the harness. */
export interface Delivery {
  /** 'hit': the flow table answered, no simulation ran. */
  readonly path: 'hit' | 'simulated';
  /** The simulation's result (undefined on a hit). */
  readonly result: SimulationResult | undefined;
  /** The flow that answered (hit) or was installed (simulated, installFlow). */
  readonly flow: Flow<FlowActions> | undefined;
  readonly actions: FlowActions;
  /** The data packet as each port sent it (the actions executed on the frame). */
  readonly outputs: readonly PortOutput[];
  /** Packets devices emitted (replies, errors, ARP requests), walked from their port to exterior ports. */
  readonly generated: readonly PortOutput[];
  /** Results of walking each generated packet, in walk order. */
  readonly generatedResults: readonly SimulationResult[];
}

/** MACs of the machines outside the lab's virtual world. */
export const PEER_A_MAC = mac(LAB.uplinkA.peerMac);
export const PEER_B_MAC = mac(LAB.uplinkB.peerMac);
export const UPLINK_A_MAC = mac(LAB.uplinkA.mac);
export const UPLINK_B_MAC = mac(LAB.uplinkB.mac);
export const NET_A_GW_MAC = mac(LAB.netA.mac);
export const NET_B_GW_MAC = mac(LAB.netB.mac);
export const PROVIDER_TRANSIT_MAC = mac('02:00:00:00:01:01');
export const TENANT_TRANSIT_MAC = mac('02:00:00:00:02:00');
export const VM1_MAC = mac(LAB.vm1.mac);
export const VM2_MAC = mac(LAB.vm2.mac);
export const VM3_MAC = mac(LAB.vm3.mac);

const MAX_GENERATED_WALKS = 64;

/**
 * The lab world on one agent: an InMemoryTopology of buildLabTopology(), Map-backed MAC, ARP,
 * conntrack and NAT tables with a lease-style SNAT port allocator, and a MegaflowTable whose flows
 * topology change events invalidate. `now` is the clock flows are installed and hit with.
 */
export class LabScenario {
  readonly topo: InMemoryTopology;
  readonly flows = new MegaflowTable<FlowActions>();
  readonly macs = new Map<string, Id>();
  readonly arp = new Map<string, Mac>();
  readonly conntrack = new Set<string>();
  readonly nat = new Map<string, NatBinding>();
  /** SNAT ports in use per "<device>|<ip>" (the ports of this host's leased blocks it handed out). */
  readonly natPortsUsed = new Map<string, Set<number>>();
  readonly counters = { packets: 0, hits: 0, simulations: 0, installs: 0, invalidated: 0 };
  /** Every topology change heard, with the ids of the flows it invalidated. */
  readonly topologyChanges: { change: TopologyChange; invalidated: number[] }[] = [];
  now = 0;
  private readonly portNumbers = new Map<Id, number>();
  private readonly key = new Float64Array(KEY_WORDS);

  constructor(opts: LabTopologyOptions = {}) {
    this.topo = new InMemoryTopology(buildLabTopology(opts));
    this.topo.onChange((change) => {
      const gone = this.flows.invalidateTags(change.tags);
      this.counters.invalidated += gone.length;
      this.topologyChanges.push({ change, invalidated: gone.map((f) => f.id) });
    });
  }

  views(): SimulationViews {
    return {
      topology: this.topo,
      macs: { lookup: (bridgeId, vlan, m) => this.macs.get(`${bridgeId}|${vlan}|${m}`) ?? null },
      arp: { lookup: (routerId, a) => this.arp.get(`${routerId}|${a}`) },
      conntrack: { has: (k) => this.conntrack.has(k) },
      nat: { get: (k) => this.nat.get(k) },
      natPorts: { pickPort: (deviceId, a, from, to, hash) => this.pickPort(deviceId, a, from, to, hash) },
    };
  }

  /** The datapath number of a virtual port (the flow key's InPort), assigned on first use. */
  portNumber(portId: Id): number {
    let n = this.portNumbers.get(portId);
    if (n === undefined) this.portNumbers.set(portId, (n = this.portNumbers.size + 1));
    return n;
  }

  /** A frame entering on an exterior port: flow lookup, else simulation, state, install, generated walks. */
  send(frame: Uint8Array, ingressPortId: Id): Delivery {
    this.counters.packets++;
    const inPort = this.portNumber(ingressPortId);
    if (!extractFlowKey(frame, inPort, 0, this.key)) throw new Error('frame does not parse for the fast path');
    const hit = this.flows.lookup(this.key);
    if (hit !== undefined) {
      this.counters.hits++;
      this.flows.hit(hit, 1, frame.length, this.now);
      return { path: 'hit', result: undefined, flow: hit, actions: hit.actions, outputs: execute(frame, hit.actions), generated: [], generatedResults: [] };
    }
    const match = flowMatchFromFrame(frame, inPort);
    if (isDecodeError(match)) throw new Error(`frame does not decode: ${JSON.stringify(match)}`);
    this.counters.simulations++;
    const result = simulate({ frame, match, ingressPortId }, this.views());
    // State first, then the flows it made stale, then the install (as the agent orders them).
    this.applyState(result.stateChanges);
    const walked = this.walkGenerated(result);
    let flow: Flow<FlowActions> | undefined;
    if (result.installFlow && result.outcome.kind !== 'notYet') {
      flow = this.flows.install(result.match.orig, result.match.seen, result.actions, result.tags, FLOW_TIMEOUTS[result.expiry], this.now);
      this.counters.installs++;
    }
    return {
      path: 'simulated',
      result,
      flow,
      actions: result.actions,
      outputs: execute(frame, result.actions),
      generated: walked.outputs,
      generatedResults: walked.results,
    };
  }

  /**
   * Applies state changes and invalidates the flows each new or changed entry makes stale: a moved
   * MAC, a changed ARP entry, and a conntrack or NAT key that appeared (flows that looked it up and
   * missed tag it, so they must be simulated again now that it exists). Returns the tags.
   */
  applyState(changes: readonly StateChange[]): string[] {
    const stale: string[] = [];
    for (const c of changes) {
      if (c.kind === 'macLearned') {
        const k = `${c.bridgeId}|${c.vlanId}|${c.mac}`;
        if (this.macs.get(k) !== c.portId) stale.push(macTag(c.bridgeId, c.vlanId, c.mac));
        this.macs.set(k, c.portId);
      } else if (c.kind === 'arpLearned') {
        const k = `${c.routerId}|${c.ip}`;
        if (this.arp.get(k) !== c.mac) stale.push(arpTag(c.routerId, c.ip));
        this.arp.set(k, c.mac);
      } else if (c.kind === 'conntrack') {
        if (!this.conntrack.has(c.key)) stale.push(`ct:${c.key}`);
        this.conntrack.add(c.key);
      } else {
        const old = this.nat.get(c.key);
        if (old === undefined || old.ip !== c.binding.ip || old.port !== c.binding.port) stale.push(`nat:${c.key}`);
        this.nat.set(c.key, c.binding);
        if (c.leasedIp !== undefined) {
          const k = `${c.deviceId}|${c.leasedIp}`;
          let used = this.natPortsUsed.get(k);
          if (used === undefined) this.natPortsUsed.set(k, (used = new Set()));
          used.add(c.binding.port);
        }
      }
    }
    if (stale.length > 0) this.counters.invalidated += this.flows.invalidateTags(stale).length;
    return stale;
  }

  /** SNAT ports: from where the connection hash points, the first one not in use (LocalTables' rule). */
  pickPort(deviceId: Id, a: IpAddr, from: number, to: number, hash: number): number | undefined {
    const used = this.natPortsUsed.get(`${deviceId}|${a}`);
    const span = to - from + 1;
    if (span <= 0) return undefined;
    const start = (hash >>> 0) % span;
    for (let i = 0; i < span; i++) {
      const port = from + ((start + i) % span);
      if (used === undefined || !used.has(port)) return port;
    }
    return undefined;
  }

  /** SNAT ports handed out for `a` on `deviceId`. */
  snatPorts(deviceId: Id, a: string): number[] {
    return [...(this.natPortsUsed.get(`${deviceId}|${ip(a)}`) ?? [])];
  }

  learnMac(bridgeId: Id, m: Mac, portId: Id): void {
    this.macs.set(`${bridgeId}|${VLAN_NONE}|${m}`, portId);
  }

  setArp(routerId: Id, a: string, m: Mac): void {
    this.arp.set(`${routerId}|${ip(a)}`, m);
  }

  forgetArp(routerId: Id, a: string): void {
    this.arp.delete(`${routerId}|${ip(a)}`);
  }

  /** The VMs have spoken: their bridges know their MACs. */
  seedVmMacs(): this {
    for (const vm of [LAB.vm1, LAB.vm2, LAB.vm3]) this.learnMac(vm.bridge, mac(vm.mac), vm.port);
    return this;
  }

  /** Every ARP/ND entry the lab's routers need (uplink peers, the transit link, the VMs). */
  seedNeighbours(): this {
    this.setArp(LAB.provider, LAB.uplinkA.peer, PEER_A_MAC);
    this.setArp(LAB.provider, LAB.uplinkB.peer, PEER_B_MAC);
    this.setArp(LAB.provider, LAB.uplinkV6.peer, PEER_A_MAC);
    this.setArp(LAB.provider, '198.18.0.2', TENANT_TRANSIT_MAC);
    this.setArp(LAB.provider, '2001:db8:fe::2', TENANT_TRANSIT_MAC);
    this.setArp(LAB.tenant, '198.18.0.1', PROVIDER_TRANSIT_MAC);
    this.setArp(LAB.tenant, '2001:db8:fe::1', PROVIDER_TRANSIT_MAC);
    for (const vm of [LAB.vm1, LAB.vm2, LAB.vm3]) {
      this.setArp(LAB.tenant, vm.ip, mac(vm.mac));
      this.setArp(LAB.tenant, vm.ip6, mac(vm.mac));
    }
    return this;
  }

  private walkGenerated(result: SimulationResult): { outputs: PortOutput[]; results: SimulationResult[] } {
    const outputs: PortOutput[] = [];
    const results: SimulationResult[] = [];
    const queue = [...result.generated];
    for (let walks = 0; queue.length > 0 && walks < MAX_GENERATED_WALKS; walks++) {
      const g = queue.shift()!;
      const r = simulateGenerated(g.frame, g.egressPortId, this.views());
      results.push(r);
      this.applyState(r.stateChanges);
      queue.push(...r.generated);
      outputs.push(...execute(g.frame, r.actions));
    }
    return { outputs, results };
  }
}

// ---- frames ---------------------------------------------------------------------------------------

export interface L4Spec {
  readonly srcMac: Mac;
  readonly dstMac: Mac;
  readonly src: string;
  readonly dst: string;
  readonly proto?: typeof IPPROTO_UDP | typeof IPPROTO_TCP;
  readonly sport?: number;
  readonly dport?: number;
  readonly ttl?: number;
  /** IPv4 TOS / IPv6 traffic class. */
  readonly tos?: number;
  readonly tcpFlags?: number;
  readonly payload?: number;
}

/** A UDP (default) or TCP packet over IPv4 or IPv6 (by the family of `src`). */
export function l4Frame(s: L4Spec): Uint8Array {
  const payload = new Uint8Array(s.payload ?? 16).map((_, i) => i);
  const sport = s.sport ?? 40000;
  const dport = s.dport ?? 53;
  const proto = s.proto ?? IPPROTO_UDP;
  const l4 =
    proto === IPPROTO_TCP
      ? { kind: 'tcp' as const, srcPort: sport, dstPort: dport, seq: 1000, ack: 0, flags: s.tcpFlags ?? TCP_SYN, window: 65535, urgent: 0, options: new Uint8Array(0), payload }
      : { kind: 'udp' as const, srcPort: sport, dstPort: dport, payload };
  const ttl = s.ttl ?? 64;
  if (s.src.includes(':')) {
    return encodeFrame({
      eth: { dst: s.dstMac, src: s.srcMac, etherType: ETHERTYPE_IPV6 },
      ip6: { tc: s.tos ?? 0, flowLabel: 0, hopLimit: ttl, src: ip6(s.src), dst: ip6(s.dst), extHeaders: [], proto },
      l4,
    });
  }
  return encodeFrame({
    eth: { dst: s.dstMac, src: s.srcMac, etherType: ETHERTYPE_IPV4 },
    ip4: { tos: s.tos ?? 0, id: 1, df: false, mf: false, fragOffset: 0, ttl, proto, src: ip4(s.src), dst: ip4(s.dst), options: new Uint8Array(0) },
    l4,
  });
}

export const TCP_SYN_ACK = TCP_SYN | TCP_ACK;

/** Output port ids in order. */
export const portsOf = (outs: readonly PortOutput[]): Id[] => outs.map((o) => o.portId);

/** Decodes a frame a port sent, failing on any bad checksum (rewrites must keep them right). */
export function decodeChecked(frame: Uint8Array): DecodedFrame {
  const d = decodeFrame(frame, { rejectBadChecksums: true });
  if (isDecodeError(d)) throw new Error(`sent frame does not decode: ${JSON.stringify(d)}`);
  return d;
}
