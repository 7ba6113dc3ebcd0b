// Inputs and outputs of the pure simulator (DESIGN: The packet's way, step 5; Flows; Flow state).
import type { FlowMatch, HeaderModification } from '../packet/flow-match.js';
import type { IpAddr, Mac } from '../packet/addr.js';
import type { Id, TopologyView } from '../topology/types.js';

/** Learned MAC → port per bridge and VLAN. `null` = known absent (flood); `undefined` = table not loaded. */
export interface MacTableView {
  lookup(bridgeId: Id, vlanId: number, mac: Mac): Id | null | undefined;
}

/** ARP (IPv4) and neighbour (IPv6) cache per router. `undefined` = no entry. */
export interface ArpTableView {
  lookup(routerId: Id, ip: IpAddr): Mac | undefined;
}

/** Conntrack: is this key (see state-keys.ts) known? */
export interface ConntrackView {
  has(key: string): boolean;
}

/** A NAT translation: the address and port (or ICMP id) to rewrite to. */
export interface NatBinding {
  readonly ip: IpAddr;
  readonly port: number;
}

export interface NatTableView {
  get(key: string): NatBinding | undefined;
}

/**
 * SNAT port allocation from the blocks this host leased (DESIGN: Store, /nat). Pure choice: it must
 * not mutate; the shell marks the port used when it applies the natKey state change. `undefined` =
 * no free port in this host's blocks for that ip: the simulation answers NotYet(natBlock), unless
 * `exhausted` says that no block with a free port can be had for it now.
 */
export interface NatPortAllocator {
  pickPort(deviceId: Id, ip: IpAddr, portFrom: number, portTo: number, flowHash: number): number | undefined;
  /**
   * Whether waiting for a port of `ip` in [portFrom, portTo] is in vain for now: every block there
   * is leased (by this host or others) and this host's are full. The simulation then tries the
   * rule's other target addresses, and drops the packet when all are exhausted.
   */
  exhausted(deviceId: Id, ip: IpAddr, portFrom: number, portTo: number): boolean;
}

export interface SimulationViews {
  readonly topology: TopologyView;
  readonly macs: MacTableView;
  readonly arp: ArpTableView;
  readonly conntrack: ConntrackView;
  readonly nat: NatTableView;
  readonly natPorts: NatPortAllocator;
}

export interface SimulationInput {
  /** The frame as received (needed for generated replies and ICMP errors that embed it). */
  readonly frame: Uint8Array;
  /** Built from the frame by packet/flowMatchFromFrame; the simulation records its reads on it. */
  readonly match: FlowMatch;
  /** The virtual port the frame entered on. */
  readonly ingressPortId: Id;
  /**
   * Record the walk, device by device, in the result's `trace` (debug logs, `tollgate lab --trace`).
   * Off by default: the lines are strings built at every hop, which cost a third of a bridged
   * simulation's time.
   */
  readonly trace?: boolean;
}

export type Missing =
  | { readonly kind: 'device'; readonly objectType: 'bridge' | 'router' | 'port' | 'chain' | 'rule' | 'portGroup' | 'routes'; readonly id: Id }
  | { readonly kind: 'macTable'; readonly bridgeId: Id; readonly vlanId: number }
  | { readonly kind: 'arp'; readonly routerId: Id; readonly ip: IpAddr }
  /** No free SNAT port of `ip` in [portFrom, portTo] among this host's blocks: lease one that has some. */
  | { readonly kind: 'natBlock'; readonly deviceId: Id; readonly ip: IpAddr; readonly portFrom: number; readonly portTo: number };

/** Why a drop happened, where the shell counts it apart from the others. */
export type DropCause =
  /** Dynamic SNAT found no free port on any target address (every block leased): not installed as a flow. */
  'snatExhausted';

export type SimulationOutcome =
  | { readonly kind: 'drop'; readonly error: boolean; readonly reason: string; readonly cause?: DropCause }
  /** A device answered or absorbed it (ARP reply, ping to a router port); see `generated`. */
  | { readonly kind: 'consumed'; readonly reason: string }
  /** Leaves through the output actions in `actions`. */
  | { readonly kind: 'forward' }
  | { readonly kind: 'notYet'; readonly missing: readonly Missing[] };

/** A datapath action, in order: rewrites apply to the packet as it is output after them. */
export type FlowAction = HeaderModification | { readonly kind: 'output'; readonly portId: Id };

/** A packet a device emits through one of its ports (ARP reply, ICMP error, ARP request). */
export interface GeneratedPacket {
  readonly egressPortId: Id;
  readonly frame: Uint8Array;
}

export type StateChange =
  | { readonly kind: 'macLearned'; readonly bridgeId: Id; readonly vlanId: number; readonly mac: Mac; readonly portId: Id }
  | { readonly kind: 'arpLearned'; readonly routerId: Id; readonly ip: IpAddr; readonly mac: Mac }
  /** A conntrack key for a forward flow (see state-keys.ts). */
  | { readonly kind: 'conntrack'; readonly key: string }
  /** A NAT translation: forward (packet's key → translated) and its reverse (reply's key → original). */
  | { readonly kind: 'nat'; readonly key: string; readonly binding: NatBinding; readonly deviceId: Id; readonly leasedIp?: IpAddr };

export interface SimulationResult {
  readonly outcome: SimulationOutcome;
  readonly actions: readonly FlowAction[];
  readonly generated: readonly GeneratedPacket[];
  /** The match with its seen mask: the installed flow matches only those fields of `match.orig`. */
  readonly match: FlowMatch;
  /** What the flow depends on ("device:<id>", "mac:<bridge>:<vlan>:<mac>", "route:<router>", "arp:<router>:<ip>", "ct:<key>", "nat:<key>"). */
  readonly tags: readonly string[];
  readonly stateChanges: readonly StateChange[];
  /** Whether the result may be installed as a flow (false for one-off packets such as ICMP errors). */
  readonly installFlow: boolean;
  /** Expiry class: drop flows (errors or not) live seconds; flows with state live shorter than their state. */
  readonly expiry: 'drop' | 'normal' | 'stateful';
  /**
   * The flow holds only for packets whose IP length is at most this (Infinity: any), among those
   * routers may not fragment (IPv6, IPv4 with DF): the smallest egress MTU a router checked. A longer
   * one matching the flow goes to the slow path instead, which answers it with fragmentation needed
   * / packet too big. An IPv4 packet without DF goes on whole, as the flow does.
   */
  readonly maxIpLength: number;
  /** Devices and ports traversed, for `tollgate trace`. */
  readonly trace: readonly string[];
}
