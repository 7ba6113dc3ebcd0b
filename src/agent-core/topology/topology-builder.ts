// Builds valid topology objects with deterministic ids (a counter per kind, no randomness) for unit
// tests, simulation scenarios and the lab. DESIGN: Virtual topology.
import { formatCidr, formatMac, maskIp, parseCidr } from '../packet/addr.js';
import { InMemoryTopology, type TopologyObjectOf } from './in-memory-topology.js';
import { objectTypeOf } from './object-type.js';
import type {
  Bridge,
  Chain,
  Condition,
  Id,
  Port,
  PortGroup,
  Route,
  Router,
  Rule,
  TopologyObject,
  TopologyObjectType,
} from './types.js';

/** An object or its id. */
export type Ref = Id | { readonly id: Id };

/** A rule as written in a scenario: the builder fills in id (unless given), chainId and an empty condition. */
export type RuleSpec = Rule extends infer R
  ? R extends Rule
    ? Omit<R, 'id' | 'chainId' | 'condition'> & { readonly id?: Id; readonly condition?: Condition }
    : never
  : never;

export interface BridgeOptions {
  readonly id?: Id;
  readonly name?: string;
  readonly vlanAware?: boolean;
  readonly inboundChainId?: Id;
  readonly outboundChainId?: Id;
  readonly arpEntries?: Bridge['arpEntries'];
}

export interface RouterOptions {
  readonly id?: Id;
  readonly name?: string;
  readonly preRoutingChainId?: Id;
  readonly postRoutingChainId?: Id;
}

interface PortOptionsCommon {
  readonly id?: Id;
  readonly hostId?: Id;
  readonly interfaceName?: string;
  readonly inboundChainId?: Id;
  readonly outboundChainId?: Id;
  readonly mtu?: number;
  readonly adminStateUp?: boolean;
}

export interface BridgePortOptions extends PortOptionsCommon {
  readonly vlanId?: number;
  readonly trunk?: boolean;
}

export interface RouterPortOptions extends PortOptionsCommon {
  /** Default: the next of 02:00:00:00:00:01, 02:00:00:00:00:02, ... (locally administered). */
  readonly mac?: string;
  /**
   * Also store a route to each of the port's subnets via the port. Default false: the routing table
   * derives connected routes from port addresses itself (routing-table.ts).
   */
  readonly connectedRoutes?: boolean;
}

export interface RouteOptions {
  readonly id?: Id;
  /** Egress port; when given, nextHop defaults to 'port'. */
  readonly egressPort?: Ref;
  readonly gateway?: string;
  readonly src?: string;
  readonly nextHop?: Route['nextHop'];
  readonly weight?: number;
  readonly origin?: Route['origin'];
  /** Announce the prefix over BGP (provider router static routes). */
  readonly advertise?: boolean;
}

export interface ChainOptions {
  readonly id?: Id;
  readonly name?: string;
}

export interface PortGroupOptions {
  readonly id?: Id;
  readonly name?: string;
  readonly stateful?: boolean;
}

/** Locally administered unicast MACs (the 0x02 bit of the first octet), counted from here. */
const BUILDER_MAC_BASE = 0x020000000000;

const refId = (r: Ref): Id => (typeof r === 'string' ? r : r.id);

/**
 * Collects the objects it creates (latest version of each, in creation order). Methods that link
 * or extend objects (link, addRule) replace the stored versions: read them back with get() or
 * objects(). Passing an id this builder did not create to such a method is a programming error
 * and throws.
 */
export class TopologyBuilder {
  private readonly built = new Map<string, TopologyObject>();
  private readonly counters = new Map<string, number>();
  private macCount = 0;

  /** `idPrefix` keeps ids of two builders apart ("a-bridge-1"). */
  constructor(private readonly idPrefix = '') {}

  bridge(opts: BridgeOptions = {}): Bridge {
    const { id, ...rest } = opts;
    return this.keep<Bridge>({ type: 'bridge', id: id ?? this.nextId('bridge'), adminStateUp: true, ...rest });
  }

  router(opts: RouterOptions = {}): Router {
    const { id, ...rest } = opts;
    return this.keep<Router>({ type: 'router', id: id ?? this.nextId('router'), adminStateUp: true, ...rest });
  }

  bridgePort(bridge: Ref, opts: BridgePortOptions = {}): Port {
    const b = this.must('bridge', bridge);
    const { id, adminStateUp, ...rest } = opts;
    return this.keep<Port>({
      type: 'port',
      id: id ?? this.nextId('port'),
      deviceId: b.id,
      deviceType: 'bridge',
      adminStateUp: adminStateUp ?? true,
      ...rest,
    });
  }

  routerPort(router: Ref, addresses: string | readonly string[], opts: RouterPortOptions = {}): Port {
    const r = this.must('router', router);
    const { id, adminStateUp, mac, connectedRoutes, ...rest } = opts;
    const port = this.keep<Port>({
      type: 'port',
      id: id ?? this.nextId('port'),
      deviceId: r.id,
      deviceType: 'router',
      adminStateUp: adminStateUp ?? true,
      addresses: typeof addresses === 'string' ? [addresses] : [...addresses],
      mac: mac ?? this.nextMac(),
      ...rest,
    });
    if (connectedRoutes === true) this.connectedRoutes(port);
    return port;
  }

  /** An exterior bridge port bound to a VM's interface on a host. */
  vmPort(bridge: Ref, hostId: Id, interfaceName: string, opts: BridgePortOptions = {}): Port {
    return this.bridgePort(bridge, { ...opts, hostId, interfaceName });
  }

  /** An exterior router port bound to a gateway host's uplink interface. */
  uplink(router: Ref, address: string | readonly string[], hostId: Id, interfaceName: string, opts: RouterPortOptions = {}): Port {
    return this.routerPort(router, address, { ...opts, hostId, interfaceName });
  }

  /** Makes two ports peers (sets peerId on both); returns their new versions. */
  link(a: Ref, b: Ref): readonly [Port, Port] {
    const pa = this.must('port', a);
    const pb = this.must('port', b);
    return [this.keep<Port>({ ...pa, peerId: pb.id }), this.keep<Port>({ ...pb, peerId: pa.id })];
  }

  /** A router port with `address` linked to a new port of the bridge (the router is the bridge's gateway). */
  connect(
    router: Ref,
    bridge: Ref,
    address: string | readonly string[],
    opts: RouterPortOptions = {},
  ): { readonly routerPort: Port; readonly bridgePort: Port } {
    const rp = this.routerPort(router, address, opts);
    const bp = this.bridgePort(bridge);
    const [routerPort, bridgePort] = this.link(rp, bp);
    return { routerPort, bridgePort };
  }

  /** Two router ports linked to each other (e.g. provider router ↔ tenant router). */
  connectRouters(a: Ref, aAddress: string, b: Ref, bAddress: string): { readonly aPort: Port; readonly bPort: Port } {
    const [aPort, bPort] = this.link(this.routerPort(a, aAddress), this.routerPort(b, bAddress));
    return { aPort, bPort };
  }

  /** A chain holding the given rules, in order. */
  chain(rules: readonly RuleSpec[] = [], opts: ChainOptions = {}): Chain {
    const { id, ...rest } = opts;
    const chain = this.keep<Chain>({ type: 'chain', id: id ?? this.nextId('chain'), ruleIds: [], ...rest });
    for (const spec of rules) this.addRule(chain, spec);
    return this.must('chain', chain);
  }

  /** Appends a rule to a chain built here. */
  addRule(chain: Ref, spec: RuleSpec): Rule {
    const c = this.must('chain', chain);
    const rule = { ...spec, id: spec.id ?? this.nextId('rule'), chainId: c.id, condition: spec.condition ?? {} } as Rule;
    this.keep<Chain>({ ...c, ruleIds: [...c.ruleIds, rule.id] });
    return this.keep(rule);
  }

  portGroup(ports: readonly Ref[], opts: PortGroupOptions = {}): PortGroup {
    const { id, stateful, ...rest } = opts;
    return this.keep<PortGroup>({
      type: 'portGroup',
      id: id ?? this.nextId('port-group'),
      stateful: stateful ?? false,
      portIds: ports.map(refId),
      ...rest,
    });
  }

  route(router: Ref, dst: string, opts: RouteOptions = {}): Route {
    const { id, egressPort, nextHop, weight, origin, ...rest } = opts;
    return this.keep<Route>({
      type: 'route',
      id: id ?? this.nextId('route'),
      routerId: refId(router),
      dst,
      nextHop: nextHop ?? (egressPort !== undefined ? 'port' : 'blackhole'),
      ...(egressPort !== undefined && { egressPortId: refId(egressPort) }),
      weight: weight ?? 0,
      origin: origin ?? 'static',
      ...rest,
    });
  }

  /** Stores one on-link route per subnet of a router port, egress via that port. */
  connectedRoutes(port: Ref): Route[] {
    const p = this.must('port', port);
    const out: Route[] = [];
    for (const text of p.addresses ?? []) {
      const c = parseCidr(text);
      if (c === undefined) continue;
      out.push(this.route(p.deviceId, formatCidr({ addr: maskIp(c.addr, c.len), len: c.len }), { egressPort: p }));
    }
    return out;
  }

  /** Stores a changed version of an object (tests that need an invalid or unusual object). */
  replace<T extends TopologyObject>(obj: T): T {
    return this.keep(obj);
  }

  get<T extends TopologyObjectType>(type: T, ref: Ref): TopologyObjectOf<T> | undefined {
    return this.built.get(`${type}:${refId(ref)}`) as TopologyObjectOf<T> | undefined;
  }

  objects(): TopologyObject[] {
    return [...this.built.values()];
  }

  topology(): InMemoryTopology {
    return new InMemoryTopology(this.objects());
  }

  private must<T extends TopologyObjectType>(type: T, ref: Ref): TopologyObjectOf<T> {
    const obj = this.get(type, ref);
    if (obj === undefined) throw new Error(`TopologyBuilder: no ${type} "${refId(ref)}" was built here`);
    return obj;
  }

  private keep<T extends TopologyObject>(obj: T): T {
    this.built.set(`${objectTypeOf(obj)}:${obj.id}`, obj);
    return obj;
  }

  private nextId(kind: string): Id {
    const n = (this.counters.get(kind) ?? 0) + 1;
    this.counters.set(kind, n);
    return `${this.idPrefix}${kind}-${n}`;
  }

  private nextMac(): string {
    this.macCount++;
    return formatMac(BUILDER_MAC_BASE + this.macCount);
  }
}
