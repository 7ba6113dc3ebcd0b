// The virtual bridge (DESIGN: Virtual topology, Bridge; L2 gateway): MAC learning per VLAN, unicast
// to the learned port, flooding, ARP/ND answered from its table and its router ports, VLAN-aware mode.
import { MAC_BROADCAST, formatIp, isMulticastMac, type Ip4, type Ip6, type IpAddr, type Mac } from '../packet/addr.js';
import { ARP_OP_REQUEST, ND_NEIGHBOR_SOLICIT } from '../packet/constants.js';
import {
  ETHERTYPE_ARP,
  ETHERTYPE_IPV6,
  Field,
  IPPROTO_ICMPV6,
  VLAN_NONE,
  type HeaderModification,
} from '../packet/flow-match.js';
import { buildArpReply, buildNdAdvert } from '../packet/index.js';
import { bridgeArpLookup, portMac, portOwnsIp } from '../topology/parsed.js';
import type { Bridge, Id, Port } from '../topology/types.js';
import type { Walker } from './ports.js';
import { deviceTag, macTag, macText } from './tags.js';

const POP_VLAN: HeaderModification = Object.freeze({ kind: 'popVlan' });

/**
 * The VLAN (MAC-learning domain) of a frame entering a VLAN-aware bridge, or undefined to drop it:
 * a trunk carries tagged frames of any VLAN; a VLAN port (interior or access) carries its VLAN
 * untagged; a port with neither carries untagged frames of the untagged domain (VLAN_NONE).
 */
function ingressVlan(inPort: Port, frameVlan: number): number | undefined {
  if (inPort.trunk === true) return frameVlan === VLAN_NONE ? undefined : frameVlan;
  if (frameVlan !== VLAN_NONE) return undefined;
  return inPort.vlanId ?? VLAN_NONE;
}

/**
 * Whether `p` may carry a frame of `vlan` that entered on `inPort` of a VLAN-aware bridge. Trunks
 * never bridge to trunks: each VLAN belongs to its VLAN port (the L2 gateway's interior port).
 */
function inDomain(p: Port, inPort: Port, vlan: number): boolean {
  if (p.trunk === true) return vlan !== VLAN_NONE && inPort.trunk !== true;
  if (p.vlanId !== undefined) return p.vlanId === vlan;
  return vlan === VLAN_NONE;
}

export function processBridge(w: Walker, inPort: Port, depth: number): void {
  const ctx = w.ctx;
  const bridge = w.topo.bridge(inPort.deviceId);
  if (bridge === undefined) return w.missing('bridge', inPort.deviceId);
  ctx.tag(deviceTag(bridge.id));
  if (!bridge.adminStateUp) return w.drop(`bridge ${bridge.id} is down`);
  if (!w.chain(bridge.inboundChainId, bridge.id, undefined)) return;
  const m = ctx.match;

  let vlan = m.get(Field.VlanId);
  if (bridge.vlanAware === true) {
    const v = ingressVlan(inPort, vlan);
    if (v === undefined) {
      return w.drop(inPort.trunk === true ? `untagged frame on trunk port ${inPort.id}` : `tagged frame on VLAN port ${inPort.id}`);
    }
    vlan = v;
  }

  if (!learn(w, bridge.id, vlan, m.get(Field.EthSrc), inPort.id)) return;

  // A VLAN-aware bridge maps a VLAN to its port(s): with one candidate no MAC lookup is needed.
  let domain: Id[] | undefined;
  if (bridge.vlanAware === true) {
    domain = floodTargets(w, bridge, inPort, vlan);
    if (domain === undefined) return;
    if (domain.length === 0) return w.drop(`bridge ${bridge.id}: no port for VLAN ${vlan}`);
    // Nothing is answered towards a trunk: a reply would need the VLAN tag the generated frame lacks.
    if (domain.length === 1 && inPort.trunk === true) return sendToVlanPort(w, bridge, inPort, domain[0], vlan, depth);
  }

  const dst = m.get(Field.EthDst);
  if (isMulticastMac(dst)) {
    if (inPort.trunk !== true && answerNeighbour(w, bridge, inPort)) return;
    if (domain?.length === 1) return sendToVlanPort(w, bridge, inPort, domain[0], vlan, depth);
    if (ctx.tracing) ctx.trace.push(`bridge ${bridge.id}: flood ${dst === MAC_BROADCAST ? 'broadcast' : 'multicast'}`);
    return flood(w, bridge, inPort, vlan, depth, domain);
  }
  if (domain?.length === 1) return sendToVlanPort(w, bridge, inPort, domain[0], vlan, depth);

  // The source was learned on the ingress port just above: a frame to its own sender's MAC finds
  // it there, as on a switch that learns before it forwards (the table view does not have it yet).
  const known = dst === m.get(Field.EthSrc) ? inPort.id : ctx.views.macs.lookup(bridge.id, vlan, dst);
  if (known === undefined) {
    if (ctx.tracing) ctx.trace.push(`not yet: MAC table of bridge ${bridge.id} VLAN ${vlan}`);
    return ctx.notYet({ kind: 'macTable', bridgeId: bridge.id, vlanId: vlan });
  }
  ctx.tag(macTag(bridge.id, vlan, dst));
  const target = known ?? routerPortWithMac(w, bridge, dst);
  if (target === undefined || (domain !== undefined && !domain.includes(target) && target !== inPort.id)) {
    if (ctx.tracing) ctx.trace.push(`bridge ${bridge.id}: flood unknown ${macText(dst)}`);
    return flood(w, bridge, inPort, vlan, depth, domain);
  }
  if (target === inPort.id) return w.drop(`bridge ${bridge.id}: ${macText(dst)} is on the ingress port`);
  if (ctx.tracing) ctx.trace.push(`bridge ${bridge.id}: ${macText(dst)} -> port ${target}`);
  sendCopy(w, bridge, inPort, target, vlan, depth);
}

function sendToVlanPort(w: Walker, bridge: Bridge, inPort: Port, target: Id, vlan: number, depth: number): void {
  if (w.ctx.tracing) w.ctx.trace.push(`bridge ${bridge.id}: VLAN ${vlan} -> port ${target}`);
  sendCopy(w, bridge, inPort, target, vlan, depth);
}

/**
 * Learns the source MAC on the ingress port: a state change when it is new or moved (multicast
 * sources are never learned). False when the MAC table is not loaded (NotYet recorded).
 */
function learn(w: Walker, bridgeId: Id, vlan: number, src: Mac, inPortId: Id): boolean {
  if (isMulticastMac(src)) return true;
  const ctx = w.ctx;
  const cur = ctx.views.macs.lookup(bridgeId, vlan, src);
  if (cur === undefined) {
    if (ctx.tracing) ctx.trace.push(`not yet: MAC table of bridge ${bridgeId} VLAN ${vlan}`);
    ctx.notYet({ kind: 'macTable', bridgeId, vlanId: vlan });
    return false;
  }
  // The flow must go when the entry changes, so that a moved MAC is learned again.
  ctx.tag(macTag(bridgeId, vlan, src));
  if (cur !== inPortId) {
    ctx.stateChanges.push({ kind: 'macLearned', bridgeId, vlanId: vlan, mac: src, portId: inPortId });
    if (ctx.tracing) ctx.trace.push(`bridge ${bridgeId}: learned ${macText(src)} on port ${inPortId}`);
  }
  return true;
}

/** The bridge's ports a flood goes to: all but the ingress (on a VLAN-aware bridge, of its VLAN). */
function floodTargets(w: Walker, bridge: Bridge, inPort: Port, vlan: number): Id[] | undefined {
  const ids = w.topo.portsOf(bridge.id);
  if (ids === undefined) {
    w.missing('bridge', bridge.id);
    return undefined;
  }
  const out: Id[] = [];
  let complete = true;
  for (const id of ids) {
    if (id === inPort.id) continue;
    if (bridge.vlanAware === true) {
      const p = w.topo.port(id);
      if (p === undefined) {
        w.missing('port', id);
        complete = false;
        continue;
      }
      if (!inDomain(p, inPort, vlan)) continue;
    }
    out.push(id);
  }
  return complete ? out : undefined;
}

function flood(w: Walker, bridge: Bridge, inPort: Port, vlan: number, depth: number, domain: Id[] | undefined): void {
  const targets = domain ?? floodTargets(w, bridge, inPort, vlan);
  if (targets === undefined) return;
  if (targets.length === 0) return w.drop(`bridge ${bridge.id}: no port to flood to`);
  if (targets.length === 1) return sendCopy(w, bridge, inPort, targets[0], vlan, depth);
  w.copies(targets.length, (i) => sendCopy(w, bridge, inPort, targets[i], vlan, depth));
}

/** One copy out of `targetId`: bridge outbound chain, VLAN push/pop of a VLAN-aware bridge, the port. */
function sendCopy(w: Walker, bridge: Bridge, inPort: Port, targetId: Id, vlan: number, depth: number): void {
  const ctx = w.ctx;
  ctx.outPortId = targetId;
  if (!w.chain(bridge.outboundChainId, bridge.id, undefined)) return;
  if (bridge.vlanAware === true) {
    const target = w.topo.port(targetId);
    if (target === undefined) return w.missing('port', targetId);
    if (target.trunk === true && inPort.trunk !== true) ctx.modify({ kind: 'pushVlan', vlanId: vlan });
    else if (inPort.trunk === true && target.trunk !== true) ctx.modify(POP_VLAN);
  }
  w.leavePort(targetId, depth, undefined);
}

/** The bridge port peered with a router port of this MAC (a bridge knows its routers' MACs). */
function routerPortWithMac(w: Walker, bridge: Bridge, mac: Mac): Id | undefined {
  for (const id of w.topo.portsOf(bridge.id) ?? []) {
    const peer = routerPeer(w, id);
    if (peer !== undefined && portMac(peer) === mac) return id;
  }
  return undefined;
}

function routerPeer(w: Walker, bridgePortId: Id): Port | undefined {
  const p = w.topo.port(bridgePortId);
  if (p?.peerId === undefined) return undefined;
  const peer = w.topo.port(p.peerId);
  return peer?.deviceType === 'router' ? peer : undefined;
}

/** Who answers for `ip` on this bridge: its static entries, then the router ports peered with it. */
function neighbourOf(w: Walker, bridge: Bridge, ip: IpAddr): { readonly mac: Mac; readonly router: boolean } | undefined {
  const mac = bridgeArpLookup(bridge, ip);
  if (mac !== undefined) return { mac, router: false };
  for (const id of w.topo.portsOf(bridge.id) ?? []) {
    const peer = routerPeer(w, id);
    if (peer === undefined || !portOwnsIp(peer, ip)) continue;
    const peerMac = portMac(peer);
    if (peerMac !== undefined) return { mac: peerMac, router: true };
  }
  return undefined;
}

/**
 * Answers a broadcast ARP request (RFC 826) or a multicast neighbour solicitation (RFC 4861 7.2.4)
 * for an address the bridge knows, out of the ingress port. True when answered (consumed).
 */
function answerNeighbour(w: Walker, bridge: Bridge, inPort: Port): boolean {
  const ctx = w.ctx;
  const m = ctx.match;
  const et = m.get(Field.EthType);
  if (et === ETHERTYPE_ARP) {
    if (m.get(Field.IpProto) !== ARP_OP_REQUEST) return false;
    const target = m.getIp(Field.IpDst) as Ip4;
    const n = neighbourOf(w, bridge, target);
    if (n === undefined) return false;
    const reply = buildArpReply(n.mac, target, m.get(Field.ArpSha), m.getIp(Field.IpSrc) as Ip4);
    if (!w.generate(inPort.id, reply)) return false;
    w.consume(`bridge ${bridge.id} answered ARP for ${formatIp(target)}`);
    return true;
  }
  if (et !== ETHERTYPE_IPV6 || m.get(Field.IpProto) !== IPPROTO_ICMPV6 || m.get(Field.L4Src) !== ND_NEIGHBOR_SOLICIT) return false;
  const src = m.getIp(Field.IpSrc) as Ip6;
  // Duplicate address detection (source ::) is for the owner to answer, not a proxy.
  if (src === 0n) return false;
  const target = m.getIp(Field.NdTarget) as Ip6;
  const n = neighbourOf(w, bridge, target);
  if (n === undefined) return false;
  const advert = buildNdAdvert(n.mac, target, m.get(Field.EthSrc), src, { router: n.router, solicited: true, override: true });
  if (!w.generate(inPort.id, advert)) return false;
  w.consume(`bridge ${bridge.id} answered ND for ${formatIp(target)}`);
  return true;
}
