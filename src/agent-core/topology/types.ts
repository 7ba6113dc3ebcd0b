// The virtual devices of DESIGN "Virtual topology", as stored (JSON-friendly: addresses as text).
// Devices refer to each other by id; a TopologyView resolves ids. Validation lives in validate.ts.

export type Id = string;

/** Version of the stored JSON shape; bumped when a stored type changes incompatibly. */
export const TOPOLOGY_SCHEMA_VERSION = 1;

export interface Bridge {
  readonly type: 'bridge';
  readonly id: Id;
  readonly name?: string;
  readonly adminStateUp: boolean;
  readonly inboundChainId?: Id;
  readonly outboundChainId?: Id;
  /** VLAN-aware mode (L2 gateway): trunk ports carry 802.1Q; interior ports with a vlanId map VLANs. */
  readonly vlanAware?: boolean;
  /** Static IP → MAC entries the bridge answers ARP/ND for (VM addresses known to the controller). */
  readonly arpEntries?: readonly { readonly ip: string; readonly mac: string }[];
}

export interface Router {
  readonly type: 'router';
  readonly id: Id;
  readonly name?: string;
  readonly adminStateUp: boolean;
  /** Pre-routing chain (DNAT, filtering before the route lookup). */
  readonly preRoutingChainId?: Id;
  /** Post-routing chain (SNAT, filtering after the route lookup, with the egress port known). */
  readonly postRoutingChainId?: Id;
}

export type DeviceType = 'bridge' | 'router';

export interface Port {
  readonly type: 'port';
  readonly id: Id;
  readonly deviceId: Id;
  readonly deviceType: DeviceType;
  readonly adminStateUp: boolean;
  /** Interior port: the peer port on another device. A port without a peer is exterior. */
  readonly peerId?: Id;
  /** Exterior port: the host that binds it and that host's interface (or uplink) name. */
  readonly hostId?: Id;
  readonly interfaceName?: string;
  readonly inboundChainId?: Id;
  readonly outboundChainId?: Id;
  /** Bridge port: the VLAN it maps to on a VLAN-aware bridge (interior) or its access VLAN. */
  readonly vlanId?: number;
  /** Bridge port on a VLAN-aware bridge that carries 802.1Q-tagged frames. */
  readonly trunk?: boolean;
  /** Router port: addresses with prefix (IPv4 and/or IPv6), e.g. "192.0.2.1/24", "2001:db8::1/64". */
  readonly addresses?: readonly string[];
  /** Router port MAC ("02:00:00:00:00:01"). */
  readonly mac?: string;
  /** Largest IP packet the port's link carries; default 1500. */
  readonly mtu?: number;
}

export interface PortRange {
  readonly start: number;
  readonly end: number;
}

/** A condition field with an optional "not". */
export interface Invertible<T> {
  readonly value: T;
  readonly invert?: boolean;
}

/** Connection state: the packet belongs to a forward flow, or to the return of a tracked one. */
export type ConnStateValue = 'forward' | 'return';

/** Fragment policy: unfragmented only, whole datagrams and first fragments (header), later fragments (nonheader), or any. */
export type FragmentPolicy = 'any' | 'unfragmented' | 'header' | 'nonheader';

/** A field written as a bare value or as { value, invert }: the bare value is short for { value }. */
export type ValueOrInvertible<T> = T | Invertible<T>;

/** The { value, invert } form of a ValueOrInvertible field. */
export function invertibleOf<T extends string>(x: ValueOrInvertible<T>): Invertible<T> {
  return typeof x === 'string' ? { value: x } : x;
}

/** Every field a rule can test; an absent field matches anything. All present fields must match. */
export interface Condition {
  readonly inPorts?: Invertible<readonly Id[]>;
  readonly outPorts?: Invertible<readonly Id[]>;
  readonly inPortGroup?: Invertible<Id>;
  readonly outPortGroup?: Invertible<Id>;
  readonly ethType?: Invertible<number>;
  readonly ethSrc?: Invertible<string>;
  readonly ethDst?: Invertible<string>;
  readonly vlanId?: Invertible<number>;
  /** CIDR text. */
  readonly nwSrc?: Invertible<string>;
  readonly nwDst?: Invertible<string>;
  readonly nwProto?: Invertible<number>;
  readonly nwTos?: Invertible<number>;
  readonly tpSrc?: Invertible<PortRange>;
  readonly tpDst?: Invertible<PortRange>;
  readonly icmpType?: Invertible<number>;
  readonly icmpCode?: Invertible<number>;
  /** Connection state; inverted, the other state (a bare value is short for { value }). */
  readonly connState?: ValueOrInvertible<ConnStateValue>;
  /** Fragment policy; inverted, the fragments it leaves out ("not unfragmented": every fragment). */
  readonly fragments?: ValueOrInvertible<FragmentPolicy>;
  /** Negates the whole condition. */
  readonly invert?: boolean;
}

export interface NatTarget {
  readonly addressFrom: string;
  readonly addressTo: string;
  readonly portFrom: number;
  readonly portTo: number;
}

/** What happens after a NAT rule matched and translated. */
export type NatFollowUp = 'accept' | 'continue';

interface RuleCommon {
  readonly id: Id;
  readonly chainId: Id;
  readonly condition: Condition;
}

export type Rule =
  | (RuleCommon & { readonly kind: 'literal'; readonly action: 'accept' | 'drop' | 'reject' | 'continue' | 'return' })
  | (RuleCommon & { readonly kind: 'jump'; readonly jumpChainId: Id })
  /** Dynamic SNAT/DNAT to a target range, tracked in the NAT table (forward key + reverse key). */
  | (RuleCommon & { readonly kind: 'nat'; readonly nat: 'snat' | 'dnat'; readonly targets: readonly NatTarget[]; readonly then: NatFollowUp })
  /** Reverse of a dynamic NAT: return traffic looked up in the NAT table and translated back. */
  | (RuleCommon & { readonly kind: 'reverseNat'; readonly nat: 'snat' | 'dnat'; readonly then: NatFollowUp })
  /** Stateless 1:1 translation (floating IP): rewrite the source (snat) or destination (dnat) address. */
  | (RuleCommon & { readonly kind: 'staticNat'; readonly nat: 'snat' | 'dnat'; readonly address: string; readonly then: NatFollowUp });

export type RuleKind = Rule['kind'];

export interface Chain {
  readonly type: 'chain';
  readonly id: Id;
  readonly name?: string;
  readonly ruleIds: readonly Id[];
}

export interface PortGroup {
  readonly type: 'portGroup';
  readonly id: Id;
  readonly name?: string;
  /** An ingress set: equivalent ingress points whose hosts all receive each flow's state. */
  readonly stateful: boolean;
  readonly portIds: readonly Id[];
}

export interface Route {
  readonly type: 'route';
  readonly id: Id;
  readonly routerId: Id;
  /** Destination prefix, IPv4 or IPv6 CIDR text. */
  readonly dst: string;
  /** Optional source prefix (policy routing); default any. */
  readonly src?: string;
  /** `port`: forward via egressPortId; `blackhole`: drop silently; `reject`: drop with ICMP unreachable. */
  readonly nextHop: 'port' | 'blackhole' | 'reject';
  readonly egressPortId?: Id;
  /** Next-hop gateway address; absent = destination is on-link. */
  readonly gateway?: string;
  /** Lower wins among equal prefixes; equal weights make an ECMP group. */
  readonly weight: number;
  readonly origin: 'static' | 'bgp';
  /**
   * Announce this prefix to the uplinks' BGP peers; meaningful on a provider router's static routes
   * (a blackhole aggregate is the usual way to announce a whole range). Never set on 'bgp' routes.
   */
  readonly advertise?: boolean;
}

export type TopologyObject = Bridge | Router | Port | Chain | Rule | PortGroup | Route;

/**
 * The kind of a stored object, as in the store path /topology/{type}/{id}. Rules carry no `type`
 * field (their `kind` is the action), so this names them 'rule'.
 */
export type TopologyObjectType = 'bridge' | 'router' | 'port' | 'chain' | 'rule' | 'portGroup' | 'route';

/**
 * Read-only access to the topology for the simulator. `undefined` means "not loaded (yet)": the
 * simulation answers NotYet. Implementations return the same object for an unchanged device, so
 * derived forms (parsed rules, routing tables) can be memoized by identity.
 */
export interface TopologyView {
  /**
   * Changes whenever a rule object is added, replaced or removed (undefined: the view cannot tell).
   * A chain evaluation that resolved its rules at one generation may reuse them until it changes,
   * instead of looking every rule up per packet.
   */
  readonly ruleGeneration?: number;
  bridge(id: Id): Bridge | undefined;
  router(id: Id): Router | undefined;
  port(id: Id): Port | undefined;
  chain(id: Id): Chain | undefined;
  rule(id: Id): Rule | undefined;
  portGroup(id: Id): PortGroup | undefined;
  /** Ports of a bridge or router, in a stable order. The same array while unchanged. */
  portsOf(deviceId: Id): readonly Id[] | undefined;
  /** Static and learned routes of a router. The same array while unchanged. */
  routes(routerId: Id): readonly Route[] | undefined;
  /** Port groups that contain the port. */
  portGroupsOf(portId: Id): readonly Id[];
}
