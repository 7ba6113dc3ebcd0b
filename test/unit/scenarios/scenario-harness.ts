// Scenario harness on the lab world (src/gateway/lab): one agent's PacketWorkflow over LocalTables,
// driven as the datapath shell drives it (DESIGN: The packet's way, steps 2-6; Flows; Flow state),
// so the scenarios exercise the product's lookup, upcall, state, invalidation and install order.
import {
  LocalTables,
  PacketWorkflow,
  type FlowActions,
  type GuardedActions,
  type PacketDisposition,
  type PortOutput,
  type WorkflowCounters,
} from '../../../src/agent-core/agent/index.js';
import { type Flow } from '../../../src/agent-core/flows/index.js';
import {
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  TCP_ACK,
  TCP_SYN,
  VLAN_NONE,
  decodeFrame,
  encodeFrame,
  isDecodeError,
  type DecodedFrame,
  type Mac,
} from '../../../src/agent-core/packet/index.js';
import { type SimulationResult } from '../../../src/agent-core/simulation/index.js';
import { InMemoryTopology, type Id, type TopologyChange } from '../../../src/agent-core/topology/index.js';
import { LAB, type LabTopologyOptions, buildLabTopology } from '../../../src/gateway/lab/lab-topology.js';
import { ip, ip4, ip6, mac } from '../simulation/sim-test-kit.js';

export type { FlowActions, PortOutput };

/** What became of one frame handed to the harness (a PacketWorkflow disposition, split for asserting). */
export interface Delivery {
  /** 'hit': the flow table answered, no simulation ran. */
  readonly path: 'hit' | 'simulated';
  /** The simulation's result (undefined on a hit). */
  readonly result: SimulationResult | undefined;
  /** The flow that answered (hit) or was installed (simulated, installFlow). */
  readonly flow: Flow<GuardedActions> | undefined;
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

/**
 * The lab world on one agent: an InMemoryTopology of buildLabTopology(), the agent's LocalTables
 * and PacketWorkflow, with topology change events invalidating flows as the agent wires them.
 * `now` is the clock frames are handled with.
 */
export class LabScenario {
  readonly topo: InMemoryTopology;
  readonly tables = new LocalTables();
  readonly workflow: PacketWorkflow;
  /** Every topology change heard, with the ids of the flows it invalidated. */
  readonly topologyChanges: { change: TopologyChange; invalidated: number[] }[] = [];
  now = 0;

  constructor(opts: LabTopologyOptions = {}) {
    this.topo = new InMemoryTopology(buildLabTopology(opts));
    const t = this.tables;
    this.workflow = new PacketWorkflow({ topology: this.topo, macs: t, arp: t, conntrack: t, nat: t, natPorts: t }, t);
    // Scenario tests read the walk.
    this.workflow.trace = true;
    this.topo.onChange((change) => {
      const gone = this.workflow.invalidateFlows(change.tags);
      this.topologyChanges.push({ change, invalidated: gone.map((f) => f.id) });
    });
  }

  get flows(): PacketWorkflow['flows'] {
    return this.workflow.flows;
  }

  get counters(): Readonly<WorkflowCounters> {
    return this.workflow.counters;
  }

  /** A frame entering on an exterior port, handled by the workflow; a frame it cannot parse fails the test. */
  send(frame: Uint8Array, ingressPortId: Id): Delivery {
    return toDelivery(this.workflow.handle(frame, ingressPortId, this.now));
  }

  /** SNAT ports handed out for `a` on `deviceId`. */
  snatPorts(deviceId: Id, a: string): number[] {
    return this.tables.snatPortsInUse(deviceId, ip(a));
  }

  forgetArp(routerId: Id, a: string): void {
    this.tables.forgetArp(routerId, ip(a));
  }

  /** The VMs have spoken: their bridges know their MACs. */
  seedVmMacs(): this {
    for (const vm of [LAB.vm1, LAB.vm2, LAB.vm3]) this.tables.learnMac(vm.bridge, VLAN_NONE, mac(vm.mac), vm.port);
    return this;
  }

  /** Every ARP/ND entry the lab's routers need (uplink peers, the transit link, the VMs). */
  seedNeighbours(): this {
    const entries: [Id, string, Mac][] = [
      [LAB.provider, LAB.uplinkA.peer, PEER_A_MAC],
      [LAB.provider, LAB.uplinkB.peer, PEER_B_MAC],
      [LAB.provider, LAB.uplinkV6.peer, PEER_A_MAC],
      [LAB.provider, '198.18.0.2', TENANT_TRANSIT_MAC],
      [LAB.provider, '2001:db8:fe::2', TENANT_TRANSIT_MAC],
      [LAB.tenant, '198.18.0.1', PROVIDER_TRANSIT_MAC],
      [LAB.tenant, '2001:db8:fe::1', PROVIDER_TRANSIT_MAC],
      ...[LAB.vm1, LAB.vm2, LAB.vm3].flatMap((vm): [Id, string, Mac][] => [
        [LAB.tenant, vm.ip, mac(vm.mac)],
        [LAB.tenant, vm.ip6, mac(vm.mac)],
      ]),
    ];
    for (const [routerId, a, m] of entries) this.tables.learnArp(routerId, ip(a), m);
    return this;
  }
}

/**
 * Splits a disposition into the frame's own outputs and the generated walks' (the workflow lists the
 * walks' first). Every output action must have produced a frame: a rewrite that fails fails the test.
 */
function toDelivery(d: PacketDisposition): Delivery {
  if (d.kind === 'malformed') throw new Error(`frame does not decode: ${JSON.stringify(d.error)}`);
  if (d.kind === 'fastPath') {
    expectAllOutputs(d.outputs, d.flow.actions.actions);
    return { path: 'hit', result: undefined, flow: d.flow, actions: d.flow.actions.actions, outputs: d.outputs, generated: [], generatedResults: [] };
  }
  const generated = d.walks.flatMap((w) => w.outputs);
  for (const w of d.walks) expectAllOutputs(w.outputs, w.result.actions);
  const outputs = d.outputs.slice(generated.length);
  // A parked frame sends nothing, so a notYet result that asks for outputs fails here too.
  expectAllOutputs(outputs, d.result.actions);
  return {
    path: 'simulated',
    result: d.result,
    flow: d.kind === 'simulated' ? d.flow : undefined,
    actions: d.result.actions,
    outputs,
    generated,
    generatedResults: d.walks.map((w) => w.result),
  };
}

function expectAllOutputs(outputs: readonly PortOutput[], actions: FlowActions): void {
  const wanted = actions.filter((a) => a.kind === 'output').length;
  if (outputs.length !== wanted) throw new Error(`actions do not apply: ${outputs.length} of ${wanted} outputs`);
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
  /** IPv4 "don't fragment" (default clear). */
  readonly df?: boolean;
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
    ip4: { tos: s.tos ?? 0, id: 1, df: s.df ?? false, mf: false, fragOffset: 0, ttl, proto, src: ip4(s.src), dst: ip4(s.dst), options: new Uint8Array(0) },
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
