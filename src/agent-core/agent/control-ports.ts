// Control-plane ports of a gateway's uplinks (DESIGN: BGP; MidoNet's "BGP port"): a host interface
// — the root end of a veth whose other end, in gobgpd's namespace, carries the uplink port's
// addresses and MAC — paired with a bound uplink port. BGP (TCP 179) to the uplink's addresses goes
// there instead of to the simulation; ARP and IPv6 neighbour discovery are copied there and still
// simulated (the virtual router learns from them too); whatever the control port sends leaves by
// the uplink unchanged. The classification is pure; the agent turns it into flows and executes.
import {
  ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, FIELD_OFFSET, Field, IPPROTO_ICMPV6, IPPROTO_TCP, ND_NEIGHBOR_ADVERT,
  ND_NEIGHBOR_SOLICIT, fieldBit, ip6ToWords, isIp6, type FieldMask, type IpAddr,
} from '../packet/index.js';
import type { Id } from '../topology/index.js';

export const BGP_TCP_PORT = 179;

export interface ControlPort {
  /** The uplink (bound virtual port) whose control traffic this port carries. */
  readonly uplinkPortId: Id;
  /** Datapath port number of the control interface (never a tunnel key). */
  readonly dpPort: number;
  readonly ifname: string;
  readonly netns?: string;
  /** The uplink port's own addresses: only traffic to these is steered. */
  readonly addresses: readonly IpAddr[];
  /** TCP ports steered (either direction): BGP's by default. */
  readonly tcpPorts: readonly number[];
}

/** What to do with a frame from an uplink that has a control port. */
export type UplinkSteering =
  /** Output to the control port only; install a flow with this mask. */
  | { readonly kind: 'control'; readonly mask: FieldMask }
  /** Output a copy to the control port, simulate the frame, install no flow (later ones must come up too). */
  | { readonly kind: 'copy' }
  /**
   * Simulate as usual, but widen the installed flow's mask by these fields, so that it can never
   * match a frame that is steered (a general flow learnt from other traffic must not swallow BGP).
   */
  | { readonly kind: 'simulate'; readonly extraMask: FieldMask };

const bits = (...fields: Field[]): FieldMask => fields.reduce<FieldMask>((m, f) => m | fieldBit(f), 0);
const ETH = bits(Field.EthType);
const ETH_DST = bits(Field.EthType, Field.IpDst);
const TO_SELF = bits(Field.EthType, Field.IpDst, Field.IpProto, Field.L4Src, Field.L4Dst);
const STEER_DST = bits(Field.InPort, Field.EthType, Field.IpDst, Field.IpProto, Field.L4Dst);
const STEER_SRC = bits(Field.InPort, Field.EthType, Field.IpDst, Field.IpProto, Field.L4Src);
/** Flows from the control port: everything it sends goes out of the uplink. */
export const FROM_CONTROL_MASK = bits(Field.InPort);

const ip = FIELD_OFFSET[Field.IpDst];
const scratch = new Float64Array(4);

function keyHasIpDst(key: Float64Array, a: IpAddr): boolean {
  if (!isIp6(a)) return key[ip] === a;
  ip6ToWords(a, scratch, 0);
  return key[ip] === scratch[0] && key[ip + 1] === scratch[1] && key[ip + 2] === scratch[2] && key[ip + 3] === scratch[3];
}

/** Classifies a frame's flow key (from extractFlowKey) that arrived on an uplink with a control port. */
export function steerUplinkFrame(key: Float64Array, cp: ControlPort): UplinkSteering {
  const ethType = key[FIELD_OFFSET[Field.EthType]];
  if (ethType === ETHERTYPE_ARP) return { kind: 'copy' };
  if (ethType !== ETHERTYPE_IPV4 && ethType !== ETHERTYPE_IPV6) return { kind: 'simulate', extraMask: ETH };
  const proto = key[FIELD_OFFSET[Field.IpProto]];
  const l4Src = key[FIELD_OFFSET[Field.L4Src]];
  // Neighbour solicitations go to a solicited-node multicast address, not to the port's own.
  if (ethType === ETHERTYPE_IPV6 && proto === IPPROTO_ICMPV6 && (l4Src === ND_NEIGHBOR_SOLICIT || l4Src === ND_NEIGHBOR_ADVERT)) return { kind: 'copy' };
  const version = ethType === ETHERTYPE_IPV6;
  if (!cp.addresses.some((a) => isIp6(a) === version && keyHasIpDst(key, a))) return { kind: 'simulate', extraMask: ETH_DST };
  if (proto === IPPROTO_TCP) {
    const l4Dst = key[FIELD_OFFSET[Field.L4Dst]];
    if (cp.tcpPorts.includes(l4Dst)) return { kind: 'control', mask: STEER_DST };
    if (cp.tcpPorts.includes(l4Src)) return { kind: 'control', mask: STEER_SRC };
  }
  return { kind: 'simulate', extraMask: TO_SELF };
}

/** The tag of every flow that involves a control port (dropped when it detaches). */
export function controlTag(uplinkPortId: Id): string {
  return `control:${uplinkPortId}`;
}

/** The control ports of this host, by uplink and by datapath port. */
export class ControlPorts {
  private readonly byUplink = new Map<Id, ControlPort>();
  private readonly byDpPort = new Map<number, ControlPort>();

  add(cp: ControlPort): void {
    if (this.byUplink.has(cp.uplinkPortId)) throw new Error(`uplink ${cp.uplinkPortId} has a control port already`);
    this.byUplink.set(cp.uplinkPortId, cp);
    this.byDpPort.set(cp.dpPort, cp);
  }

  remove(uplinkPortId: Id): ControlPort | undefined {
    const cp = this.byUplink.get(uplinkPortId);
    if (cp === undefined) return undefined;
    this.byUplink.delete(uplinkPortId);
    this.byDpPort.delete(cp.dpPort);
    return cp;
  }

  ofUplink(uplinkPortId: Id): ControlPort | undefined {
    return this.byUplink.get(uplinkPortId);
  }

  ofDpPort(dpPort: number): ControlPort | undefined {
    return this.byDpPort.get(dpPort);
  }

  all(): ControlPort[] {
    return [...this.byUplink.values()];
  }
}
