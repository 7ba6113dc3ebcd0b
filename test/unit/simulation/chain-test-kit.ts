// Test kit for chains, conditions, conntrack and NAT: packets as FlowMatch keys, Map-backed state
// views fed by the simulation's own state changes, and small topologies of chains and rules.
import { type IpAddr, parseIp } from '../../../src/agent-core/packet/addr.js';
import {
  ETHERTYPE_IPV4, ETHERTYPE_IPV6, FRAG_NONE, Field, IP_TTL_CLAMP, FlowMatch, IPPROTO_TCP, VLAN_NONE,
} from '../../../src/agent-core/packet/flow-match.js';
import { evaluateChain } from '../../../src/agent-core/simulation/chains.js';
import { SimContext } from '../../../src/agent-core/simulation/context.js';
import type { NatBinding, SimulationViews, StateChange } from '../../../src/agent-core/simulation/types.js';
import { InMemoryTopology } from '../../../src/agent-core/topology/in-memory-topology.js';
import type { Chain, Condition, Id, PortGroup, Rule, TopologyObject } from '../../../src/agent-core/topology/types.js';

export const ip = (text: string): IpAddr => {
  const a = parseIp(text);
  if (a === undefined) throw new Error(`bad ip ${text}`);
  return a;
};

export interface PacketSpec {
  ethType?: number;
  ethSrc?: number;
  ethDst?: number;
  vlan?: number;
  proto?: number;
  tos?: number;
  frag?: number;
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  icmpId?: number;
}

/** A packet's key, built field by field (IPv4 TCP 10.0.0.1:1000 -> 192.0.2.10:80 unless told). */
export function packet(s: PacketSpec = {}): FlowMatch {
  const m = FlowMatch.empty();
  const src = ip(s.src ?? '10.0.0.1');
  const dst = ip(s.dst ?? '192.0.2.10');
  const et = s.ethType ?? (typeof src === 'bigint' ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4);
  const put = (f: Field, v: number): void => {
    m.set(f, v);
  };
  put(Field.EthType, et);
  put(Field.EthSrc, s.ethSrc ?? 0x020000000001);
  put(Field.EthDst, s.ethDst ?? 0x020000000002);
  put(Field.VlanId, s.vlan ?? VLAN_NONE);
  put(Field.IpProto, s.proto ?? IPPROTO_TCP);
  put(Field.IpTos, s.tos ?? 0);
  put(Field.IpTtl, IP_TTL_CLAMP); // TTL 64 as the key holds it
  put(Field.IpFrag, s.frag ?? FRAG_NONE);
  m.setIp(Field.IpSrc, src);
  m.setIp(Field.IpDst, dst);
  put(Field.L4Src, s.sport ?? 1000);
  put(Field.L4Dst, s.dport ?? 80);
  put(Field.IcmpId, s.icmpId ?? 0);
  // The packet as it arrived: the built values are the original key, nothing seen or rewritten yet.
  return new FlowMatch(Float64Array.from(m.cur));
}

/** Conntrack and NAT tables as Maps, updated from recorded state changes as the shell would. */
export class StateTables {
  readonly conntrack = new Set<string>();
  readonly nat = new Map<string, NatBinding>();
  readonly leased: { deviceId: Id; ip: IpAddr; port: number }[] = [];
  /** Ports handed out by pickPort; `undefined` answers when exhausted. */
  portsLeft = Infinity;
  nextPort: number | undefined;
  /** Addresses with no free port in this host's blocks (pickPort answers undefined). */
  readonly noPortsOn = new Set<IpAddr>();
  /** Addresses whose blocks are all leased: waiting for one is in vain (exhausted answers true). */
  readonly exhaustedIps = new Set<IpAddr>();
  readonly pickCalls: { deviceId: Id; ip: IpAddr; from: number; to: number; hash: number }[] = [];

  apply(changes: readonly StateChange[]): void {
    for (const c of changes) {
      if (c.kind === 'conntrack') this.conntrack.add(c.key);
      else if (c.kind === 'nat') {
        this.nat.set(c.key, c.binding);
        if (c.leasedIp !== undefined) this.leased.push({ deviceId: c.deviceId, ip: c.leasedIp, port: c.binding.port });
      }
    }
  }

  views(topology: InMemoryTopology): SimulationViews {
    return {
      topology,
      macs: { lookup: () => undefined },
      arp: { lookup: () => undefined },
      conntrack: { has: (k) => this.conntrack.has(k) },
      nat: { get: (k) => this.nat.get(k) },
      natPorts: {
        pickPort: (deviceId, ipAddr, from, to, hash) => {
          this.pickCalls.push({ deviceId, ip: ipAddr, from, to, hash });
          if (this.portsLeft <= 0 || this.noPortsOn.has(ipAddr)) return undefined;
          this.portsLeft--;
          const used = new Set(this.leased.filter((l) => l.deviceId === deviceId && l.ip === ipAddr).map((l) => l.port));
          let p = this.nextPort ?? from + (hash % (to - from + 1));
          while (used.has(p)) p = p === to ? from : p + 1;
          return p;
        },
        exhausted: (_deviceId, ipAddr) => this.exhaustedIps.has(ipAddr),
      },
    };
  }
}

export interface CtxOptions {
  inPort?: Id;
  outPort?: Id;
  frame?: Uint8Array;
  state?: StateTables;
}

export function context(topology: InMemoryTopology, match: FlowMatch, o: CtxOptions = {}): SimContext {
  const state = o.state ?? new StateTables();
  const ctx = new SimContext(state.views(topology), { frame: o.frame ?? new Uint8Array(0), match, ingressPortId: o.inPort ?? 'p-in', trace: true }, match, 'dev');
  if (o.outPort !== undefined) ctx.outPortId = o.outPort;
  return ctx;
}

/**
 * Evaluates chain `chainId` at device "edge" for a packet; the state it recorded is applied to
 * `state` when the packet is accepted (the simulator discards the state of dropped packets).
 */
export function sim(topo: InMemoryTopology, chainId: Id, spec: PacketSpec, state: StateTables, o: CtxOptions = {}) {
  const m = packet(spec);
  const ctx = context(topo, m, { ...o, state });
  const verdict = evaluateChain(ctx, chainId, 'edge');
  if (verdict === 'accept') state.apply(ctx.stateChanges);
  return { verdict, ctx, m };
}

type RuleBody = Rule extends infer R ? (R extends Rule ? Omit<R, 'id' | 'chainId' | 'condition'> : never) : never;

export function rule(id: Id, chainId: Id, body: RuleBody, condition: Condition = {}): Rule {
  return { ...body, id, chainId, condition } as Rule;
}

export function chain(id: Id, ruleIds: readonly Id[]): Chain {
  return { type: 'chain', id, ruleIds };
}

export function portGroup(id: Id, portIds: readonly Id[]): PortGroup {
  return { type: 'portGroup', id, stateful: false, portIds };
}

/** A topology holding chain `id` with these rules (ids "<id>-r<i>"), plus any extra objects. */
export function chainWorld(id: Id, rules: readonly [RuleBody, Condition?][], extra: readonly TopologyObject[] = []): InMemoryTopology {
  const rs = rules.map(([b, c], i) => rule(`${id}-r${i}`, id, b, c ?? {}));
  return new InMemoryTopology([chain(id, rs.map((r) => r.id)), ...rs, ...extra]);
}

const be16 = (out: number[], v: number): void => {
  out.push((v >> 8) & 255, v & 255);
};
const be32 = (out: number[], v: number): void => {
  be16(out, (v >>> 16) & 0xffff);
  be16(out, v & 0xffff);
};

function ip4Header(out: number[], proto: number, src: number, dst: number, payloadLen: number): void {
  out.push(0x45, 0);
  be16(out, 20 + payloadLen);
  out.push(0, 0, 0, 0, 64, proto, 0, 0);
  be32(out, src);
  be32(out, dst);
}

/**
 * An Ethernet/IPv4 ICMP error (type/code) from `from` to `to`, embedding the IPv4 header and first
 * 8 bytes of a datagram (proto, src:sport -> dst:dport; for ICMP echo, sport is the id).
 */
export function icmp4ErrorFrame(
  type: number, code: number, from: string, to: string,
  inner: { proto: number; src: string; sport: number; dst: string; dport: number },
): Uint8Array {
  const innerBytes: number[] = [];
  ip4Header(innerBytes, inner.proto, ip(inner.src) as number, ip(inner.dst) as number, 8);
  if (inner.proto === 1) {
    innerBytes.push(8, 0, 0, 0);
    be16(innerBytes, inner.sport);
    be16(innerBytes, 1);
  } else {
    be16(innerBytes, inner.sport);
    be16(innerBytes, inner.dport);
    be32(innerBytes, 0);
  }
  const icmp = [type, code, 0, 0, 0, 0, 0, 0, ...innerBytes];
  const out: number[] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
  be16(out, ETHERTYPE_IPV4);
  ip4Header(out, 1, ip(from) as number, ip(to) as number, icmp.length);
  out.push(...icmp);
  return Uint8Array.from(out);
}
