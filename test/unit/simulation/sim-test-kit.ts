// Test kit for the device walk: a topology built with TopologyBuilder, Map-backed MAC/ARP/conntrack/NAT
// views that take the simulation's own state changes, real frames from the packet encoders, and a
// tiny datapath that executes a result's action list on the frame to see what each port would send.
import { executeActions } from '../../../src/agent-core/agent/packet-workflow.js';
import {
  decodeFrame,
  encodeFrame,
  flowMatchFromFrame,
  isDecodeError,
  parseIp,
  parseMac,
  type DecodedFrame,
  type Ip4,
  type Ip6,
  type IpAddr,
  type Mac,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_UDP,
  ICMP_ECHO_REQUEST,
  ICMP6_ECHO_REQUEST,
  ETHERTYPE_VLAN,
} from '../../../src/agent-core/packet/index.js';
import { simulate, simulateGenerated } from '../../../src/agent-core/simulation/simulator.js';
import type { FlowAction, NatBinding, SimulationResult, SimulationViews, StateChange } from '../../../src/agent-core/simulation/types.js';
import { TopologyBuilder } from '../../../src/agent-core/topology/topology-builder.js';
import type { InMemoryTopology } from '../../../src/agent-core/topology/in-memory-topology.js';
import type { Id } from '../../../src/agent-core/topology/types.js';

export const mac = (text: string): Mac => {
  const m = parseMac(text);
  if (m === undefined) throw new Error(`bad mac ${text}`);
  return m;
};
export const ip = (text: string): IpAddr => {
  const a = parseIp(text);
  if (a === undefined) throw new Error(`bad ip ${text}`);
  return a;
};
export const ip4 = (text: string): Ip4 => ip(text) as Ip4;
export const ip6 = (text: string): Ip6 => ip(text) as Ip6;

export const VM1 = mac('0a:00:00:00:00:01');
export const VM2 = mac('0a:00:00:00:00:02');
export const VM3 = mac('0a:00:00:00:00:03');

/** A world to simulate in: build the topology with `b`, then call `done()`. */
export class World {
  readonly b = new TopologyBuilder();
  topo!: InMemoryTopology;
  readonly macs = new Map<string, Id>();
  /** Bridges whose MAC table is "not loaded" (lookup answers undefined). */
  readonly unloadedMacTables = new Set<Id>();
  readonly arp = new Map<string, Mac>();
  readonly conntrack = new Set<string>();
  readonly nat = new Map<string, NatBinding>();

  done(): this {
    this.topo = this.b.topology();
    return this;
  }

  learnMac(bridgeId: Id, vlan: number, m: Mac, portId: Id): void {
    this.macs.set(`${bridgeId}|${vlan}|${m}`, portId);
  }

  setArp(routerId: Id, addr: IpAddr, m: Mac): void {
    this.arp.set(`${routerId}|${addr}`, m);
  }

  apply(changes: readonly StateChange[]): void {
    for (const c of changes) {
      if (c.kind === 'macLearned') this.learnMac(c.bridgeId, c.vlanId, c.mac, c.portId);
      else if (c.kind === 'arpLearned') this.setArp(c.routerId, c.ip, c.mac);
      else if (c.kind === 'conntrack') this.conntrack.add(c.key);
      else this.nat.set(c.key, c.binding);
    }
  }

  views(): SimulationViews {
    return {
      topology: this.topo,
      macs: {
        lookup: (bridgeId, vlan, m) => (this.unloadedMacTables.has(bridgeId) ? undefined : (this.macs.get(`${bridgeId}|${vlan}|${m}`) ?? null)),
      },
      arp: { lookup: (routerId, addr) => this.arp.get(`${routerId}|${addr}`) },
      conntrack: { has: (k) => this.conntrack.has(k) },
      nat: { get: (k) => this.nat.get(k) },
      natPorts: { pickPort: (_d, _ip, from, to, hash) => from + (hash % (to - from + 1)), exhausted: () => false },
    };
  }

  run(frame: Uint8Array, ingressPortId: Id, views = this.views()): SimulationResult {
    const match = flowMatchFromFrame(frame, 1);
    if (isDecodeError(match)) throw new Error(`test frame does not decode: ${JSON.stringify(match)}`);
    return simulate({ frame, match, ingressPortId, trace: true }, views);
  }

  runGenerated(frame: Uint8Array, egressPortId: Id): SimulationResult {
    return simulateGenerated(frame, egressPortId, this.views());
  }
}

export interface IpSpec {
  srcMac?: Mac;
  dstMac?: Mac;
  src: string;
  dst: string;
  ttl?: number;
  df?: boolean;
  vlan?: number;
  /** UDP payload bytes (to make a packet of a given size). */
  payload?: number;
  sport?: number;
  dport?: number;
}

const vlans = (vid: number | undefined) => (vid === undefined ? [] : [{ tpid: ETHERTYPE_VLAN, pcp: 0, dei: false, vid }]);

/** A UDP datagram over IPv4 or IPv6 (by the address family of `src`). */
export function udp(s: IpSpec): Uint8Array {
  const l4 = { kind: 'udp' as const, srcPort: s.sport ?? 40000, dstPort: s.dport ?? 53, payload: new Uint8Array(s.payload ?? 16) };
  return ipFrame(s, IPPROTO_UDP, IPPROTO_UDP, l4);
}

/** An ICMP / ICMPv6 echo request. */
export function ping(s: IpSpec & { id?: number; seq?: number }): Uint8Array {
  const rest = ((s.id ?? 7) << 16) | (s.seq ?? 1);
  const data = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  return s.src.includes(':')
    ? ipFrame(s, IPPROTO_ICMPV6, IPPROTO_ICMPV6, { kind: 'icmp6', type: ICMP6_ECHO_REQUEST, code: 0, rest, data })
    : ipFrame(s, IPPROTO_ICMP, IPPROTO_ICMP, { kind: 'icmp4', type: ICMP_ECHO_REQUEST, code: 0, rest, data });
}

type L4Init = NonNullable<Parameters<typeof encodeFrame>[0]['l4']>;

function ipFrame(s: IpSpec, proto4: number, proto6: number, l4: L4Init): Uint8Array {
  const eth = (etherType: number) => ({ dst: s.dstMac ?? VM2, src: s.srcMac ?? VM1, etherType });
  if (s.src.includes(':')) {
    return encodeFrame({
      eth: eth(ETHERTYPE_IPV6),
      vlans: vlans(s.vlan),
      ip6: { tc: 0, flowLabel: 0, hopLimit: s.ttl ?? 64, src: ip6(s.src), dst: ip6(s.dst), extHeaders: [], proto: proto6 },
      l4,
    });
  }
  return encodeFrame({
    eth: eth(ETHERTYPE_IPV4),
    vlans: vlans(s.vlan),
    ip4: {
      tos: 0, id: 1, df: s.df ?? false, mf: false, fragOffset: 0, ttl: s.ttl ?? 64, proto: proto4,
      src: ip4(s.src), dst: ip4(s.dst), options: new Uint8Array(0),
    },
    l4,
  });
}

export function decode(frame: Uint8Array): DecodedFrame {
  const d = decodeFrame(frame);
  if (isDecodeError(d)) throw new Error(`does not decode: ${JSON.stringify(d)}`);
  return d;
}

/** Executes an action list as the agent does (agent/packet-workflow.ts); every output must happen. */
export function execute(frame: Uint8Array, actions: readonly FlowAction[]): { portId: Id; frame: Uint8Array }[] {
  const out = executeActions(frame, actions);
  const wanted = actions.filter((a) => a.kind === 'output').length;
  if (out.length !== wanted) throw new Error(`actions do not apply: ${out.length} of ${wanted} outputs`);
  return out;
}

export const outputs = (r: SimulationResult): Id[] => r.actions.flatMap((a) => (a.kind === 'output' ? [a.portId] : []));
