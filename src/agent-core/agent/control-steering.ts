// Control traffic of a gateway's uplinks (DESIGN: BGP): gobgpd speaks for an uplink through a
// macvlan on the uplink's host interface, in its own namespace, with the uplink port's address and
// MAC. The kernel hands that interface its frames (BGP, ARP/ND replies) while the datapath's
// AF_PACKET socket sees copies of the same frames: the datapath must drop the BGP ones unsimulated
// (the virtual router would answer them with an ICMP error or a reset) and never install a flow
// general enough to cover them. gobgpd's own frames leave by the kernel, so when the agent dies and
// takes gobgpd with it, the peers see the session close at once. Pure classification.
import {
  ETHERTYPE_IPV4, ETHERTYPE_IPV6, FIELD_OFFSET, Field, IPPROTO_TCP, fieldBit, ip6ToWords, isIp6, type FieldMask, type IpAddr,
} from '../packet/index.js';
import type { Id } from '../topology/index.js';

export const BGP_TCP_PORT = 179;

export interface ControlSteering {
  /** The uplink (bound virtual port) gobgpd speaks for. */
  readonly uplinkPortId: Id;
  /** The uplink port's own addresses: only traffic to these is the kernel's. */
  readonly addresses: readonly IpAddr[];
  /** TCP ports left to the kernel (either direction): BGP's by default. */
  readonly tcpPorts: readonly number[];
}

/** What to do with a frame from an uplink whose control traffic is the kernel's. */
export type UplinkSteering =
  /** gobgpd's: drop it in the datapath (the kernel delivers it); install a drop flow with this mask. */
  | { readonly kind: 'kernel'; readonly mask: FieldMask }
  /**
   * Simulate as usual, but widen the installed flow's mask by these fields, so that it can never
   * match a frame that is the kernel's (a general flow learnt from other traffic must not take BGP).
   */
  | { readonly kind: 'simulate'; readonly extraMask: FieldMask };

const bits = (...fields: Field[]): FieldMask => fields.reduce<FieldMask>((m, f) => m | fieldBit(f), 0);
const ETH = bits(Field.EthType);
const ETH_DST = bits(Field.EthType, Field.IpDst);
const TO_SELF = bits(Field.EthType, Field.IpDst, Field.IpProto, Field.L4Src, Field.L4Dst);
const STEER_DST = bits(Field.InPort, Field.EthType, Field.IpDst, Field.IpProto, Field.L4Dst);
const STEER_SRC = bits(Field.InPort, Field.EthType, Field.IpDst, Field.IpProto, Field.L4Src);

const ip = FIELD_OFFSET[Field.IpDst];
const scratch = new Float64Array(4);

function keyHasIpDst(key: Float64Array, a: IpAddr): boolean {
  if (!isIp6(a)) return key[ip] === a;
  ip6ToWords(a, scratch, 0);
  return key[ip] === scratch[0] && key[ip + 1] === scratch[1] && key[ip + 2] === scratch[2] && key[ip + 3] === scratch[3];
}

/** Classifies a frame's flow key (from extractFlowKey) that arrived on an uplink with control steering. */
export function steerUplinkFrame(key: Float64Array, s: ControlSteering): UplinkSteering {
  const ethType = key[FIELD_OFFSET[Field.EthType]];
  // ARP and neighbour discovery reach gobgpd's interface from the kernel and the router from here.
  if (ethType !== ETHERTYPE_IPV4 && ethType !== ETHERTYPE_IPV6) return { kind: 'simulate', extraMask: ETH };
  const version = ethType === ETHERTYPE_IPV6;
  if (!s.addresses.some((a) => isIp6(a) === version && keyHasIpDst(key, a))) return { kind: 'simulate', extraMask: ETH_DST };
  if (key[FIELD_OFFSET[Field.IpProto]] === IPPROTO_TCP) {
    if (s.tcpPorts.includes(key[FIELD_OFFSET[Field.L4Dst]]!)) return { kind: 'kernel', mask: STEER_DST };
    if (s.tcpPorts.includes(key[FIELD_OFFSET[Field.L4Src]]!)) return { kind: 'kernel', mask: STEER_SRC };
  }
  return { kind: 'simulate', extraMask: TO_SELF };
}

/** The tag of the drop flows of an uplink's control traffic (dropped when steering stops). */
export function controlTag(uplinkPortId: Id): string {
  return `control:${uplinkPortId}`;
}
