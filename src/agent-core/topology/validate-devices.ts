// Validation of bridges, routers and ports: addresses, MACs, VLANs, MTU and how ports link devices.
// DESIGN: Virtual topology (Bridge, Router, Port); RFC 791 (IPv4 minimum MTU 68), RFC 8200 (IPv6 minimum 1280).
import { isIp6, maskIp, type IpAddr } from '../packet/addr.js';
import {
  asArray,
  checkCidr,
  checkEnum,
  checkInt,
  checkIp,
  checkRef,
  checkUnicastMac,
  show,
  text,
  type IssueSink,
} from './validate-common.js';
import type { Bridge, Port, Router, TopologyView } from './types.js';

/** RFC 791: every IPv4 link carries at least 68 octets. */
export const IPV4_MIN_MTU = 68;
/** RFC 8200 section 5: every IPv6 link carries at least 1280 octets. */
export const IPV6_MIN_MTU = 1280;
export const MAX_MTU = 65535;
/** 802.1Q VLAN ids are 12 bits. */
export const VLAN_ID_MAX = 4095;

const DEVICE_TYPES = ['bridge', 'router'] as const;

export function validateBridge(b: Bridge, view: TopologyView | undefined, sink: IssueSink): void {
  const chain = view === undefined ? undefined : (id: string) => view.chain(id);
  if (b.inboundChainId !== undefined) checkRef(sink, 'inboundChainId', b.inboundChainId, 'chain', chain);
  if (b.outboundChainId !== undefined) checkRef(sink, 'outboundChainId', b.outboundChainId, 'chain', chain);
  if (b.arpEntries === undefined) return;
  const entries = asArray(b.arpEntries);
  if (entries === undefined) {
    sink.add('arpEntries', `${show(b.arpEntries)} is not a list`);
    return;
  }
  const seen = new Map<IpAddr, string>();
  entries.forEach((e, i) => {
    const entry = (typeof e === 'object' && e !== null ? e : {}) as { ip?: unknown; mac?: unknown };
    const ip = checkIp(sink, `arpEntries[${i}].ip`, entry.ip);
    checkUnicastMac(sink, `arpEntries[${i}].mac`, entry.mac);
    if (ip === undefined) return;
    const earlier = seen.get(ip);
    if (earlier !== undefined) sink.add(`arpEntries[${i}].ip`, `${show(entry.ip)} is listed twice (also ${earlier})`);
    else seen.set(ip, `arpEntries[${i}]`);
  });
}

export function validateRouter(r: Router, view: TopologyView | undefined, sink: IssueSink): void {
  const chain = view === undefined ? undefined : (id: string) => view.chain(id);
  if (r.preRoutingChainId !== undefined) checkRef(sink, 'preRoutingChainId', r.preRoutingChainId, 'chain', chain);
  if (r.postRoutingChainId !== undefined) checkRef(sink, 'postRoutingChainId', r.postRoutingChainId, 'chain', chain);
}

export function validatePort(p: Port, view: TopologyView | undefined, sink: IssueSink): void {
  checkEnum(sink, 'deviceType', p.deviceType, DEVICE_TYPES);
  checkOwner(p, view, sink);
  const chain = view === undefined ? undefined : (id: string) => view.chain(id);
  if (p.inboundChainId !== undefined) checkRef(sink, 'inboundChainId', p.inboundChainId, 'chain', chain);
  if (p.outboundChainId !== undefined) checkRef(sink, 'outboundChainId', p.outboundChainId, 'chain', chain);
  checkPeer(p, view, sink);
  const hasIp6 = p.deviceType === 'router' ? checkRouterPortAddressing(p, sink) : checkBridgePortAddressing(p, sink);
  if (p.deviceType === 'bridge') checkVlan(p, view, sink);
  else {
    if (p.vlanId !== undefined) sink.add('vlanId', `${show(p.vlanId)} is set on a router port; VLANs are for bridge ports`);
    if (p.trunk !== undefined) sink.add('trunk', `is set on a router port; trunks are bridge ports of a VLAN-aware bridge`);
  }
  if (p.mtu !== undefined) {
    const mtu = checkInt(sink, 'mtu', p.mtu, IPV4_MIN_MTU, MAX_MTU);
    if (mtu !== undefined && mtu < IPV6_MIN_MTU && hasIp6 !== undefined) {
      sink.add('mtu', `${mtu} is below ${IPV6_MIN_MTU}, the IPv6 minimum (RFC 8200), but the port has IPv6 address ${show(hasIp6)}`);
    }
  }
}

/** The port's device exists and is of the kind `deviceType` says. */
function checkOwner(p: Port, view: TopologyView | undefined, sink: IssueSink): void {
  if (!checkRef(sink, 'deviceId', p.deviceId, 'device', undefined) || view === undefined) return;
  if (p.deviceType !== 'bridge' && p.deviceType !== 'router') return;
  if (p.deviceType === 'bridge' ? view.bridge(p.deviceId) : view.router(p.deviceId)) return;
  const other = p.deviceType === 'bridge' ? view.router(p.deviceId) : view.bridge(p.deviceId);
  if (other !== undefined) {
    sink.add('deviceId', `${show(p.deviceId)} names a ${text(other.type)}, but deviceType is ${show(p.deviceType)}`);
  } else {
    sink.add('deviceId', `${show(p.deviceId)} names no ${p.deviceType}`);
  }
}

/**
 * Interior ports: the peer exists, points back, sits on another device, and the pair is linkable.
 * Bridge-to-bridge links are refused (two bridges joined make one broadcast domain with two MAC
 * tables), except the L2 gateway's: a VLAN-aware bridge's port with a vlanId maps that VLAN onto
 * a tenant bridge (DESIGN: Gateway roles, L2 gateway).
 */
function checkPeer(p: Port, view: TopologyView | undefined, sink: IssueSink): void {
  const bound = p.hostId !== undefined ? 'hostId' : p.interfaceName !== undefined ? 'interfaceName' : undefined;
  if (p.peerId === undefined) return;
  if (bound !== undefined) {
    sink.add(bound, `${show(p[bound])} binds an interior port (peerId ${show(p.peerId)}); a port is either linked to a peer or bound to a host, not both`);
  }
  if (!checkRef(sink, 'peerId', p.peerId, 'port', undefined)) return;
  if (p.peerId === p.id) {
    sink.add('peerId', `${show(p.peerId)} is the port itself; a port cannot be peered with itself`);
    return;
  }
  if (view === undefined) return;
  const peer = view.port(p.peerId);
  if (peer === undefined) {
    sink.add('peerId', `${show(p.peerId)} names no port`);
    return;
  }
  if (peer.peerId !== p.id) {
    const back = peer.peerId === undefined ? 'has no peerId' : `has peerId ${show(peer.peerId)}`;
    sink.add('peerId', `${show(p.peerId)} does not point back: port ${text(peer.id)} ${back}`);
  }
  if (peer.deviceId === p.deviceId) {
    sink.add('peerId', `${show(p.peerId)} is on the same device ${show(p.deviceId)}; a link joins two devices`);
  }
  if (p.deviceType === 'bridge' && peer.deviceType === 'bridge' && !isVlanMapping(p, view) && !isVlanMapping(peer, view)) {
    sink.add(
      'peerId',
      `${show(p.peerId)} links two bridge ports; bridges connect through a router, or through a VLAN-aware bridge's port with a vlanId (L2 gateway)`,
    );
  }
}

function isVlanMapping(p: Port, view: TopologyView): boolean {
  return p.vlanId !== undefined && view.bridge(p.deviceId)?.vlanAware === true;
}

/** Router ports need addresses and a MAC. Returns the first IPv6 address text, if any (for the MTU check). */
function checkRouterPortAddressing(p: Port, sink: IssueSink): string | undefined {
  checkMacPresent(p, sink);
  const addresses = p.addresses === undefined ? undefined : asArray(p.addresses);
  if (addresses === undefined || addresses.length === 0) {
    sink.add('addresses', `${p.addresses === undefined ? 'is missing' : `${show(p.addresses)} is empty`}; a router port needs at least one address`);
    return undefined;
  }
  let firstIp6: string | undefined;
  const seen = new Set<IpAddr>();
  addresses.forEach((text, i) => {
    const field = `addresses[${i}]`;
    const cidr = checkCidr(sink, field, text);
    if (cidr === undefined) return;
    if (seen.has(cidr.addr)) sink.add(field, `${show(text)} repeats an address of this port`);
    seen.add(cidr.addr);
    if (isIp6(cidr.addr)) {
      firstIp6 ??= text as string;
    } else if (cidr.len <= 30) {
      // /31 (RFC 3021) and /32 have no network or broadcast address to avoid.
      const net = maskIp(cidr.addr, cidr.len) as number;
      const bcast = (net + 2 ** (32 - cidr.len) - 1) >>> 0;
      if (cidr.addr === net) sink.add(field, `${show(text)} is the network address of its subnet, not a host address`);
      else if (cidr.addr === bcast) sink.add(field, `${show(text)} is the broadcast address of its subnet, not a host address`);
    }
  });
  return firstIp6;
}

function checkMacPresent(p: Port, sink: IssueSink): void {
  if (p.mac === undefined) sink.add('mac', 'is missing; a router port needs a MAC');
  else checkUnicastMac(sink, 'mac', p.mac);
}

/** Bridge ports are L2 only: addresses and MACs belong to the router ports linked to the bridge. */
function checkBridgePortAddressing(p: Port, sink: IssueSink): string | undefined {
  if (p.addresses !== undefined && (asArray(p.addresses)?.length ?? 1) > 0) {
    sink.add('addresses', `${show(p.addresses)} are set on a bridge port; only router ports have addresses`);
  }
  if (p.mac !== undefined) sink.add('mac', `${show(p.mac)} is set on a bridge port; only router ports have a MAC`);
  return undefined;
}

function checkVlan(p: Port, view: TopologyView | undefined, sink: IssueSink): void {
  if (p.vlanId !== undefined) checkInt(sink, 'vlanId', p.vlanId, 0, VLAN_ID_MAX);
  if (p.trunk === undefined || p.trunk === false) return;
  if (p.trunk !== true) {
    sink.add('trunk', `${show(p.trunk)} is not true or false`);
    return;
  }
  const bridge = view?.bridge(p.deviceId);
  if (bridge !== undefined && bridge.vlanAware !== true) {
    sink.add('trunk', `is set but bridge ${text(bridge.id)} is not VLAN-aware; trunk ports need vlanAware: true`);
  }
  if (p.peerId !== undefined) sink.add('trunk', `is set on an interior port; a trunk is a host interface carrying 802.1Q`);
}
