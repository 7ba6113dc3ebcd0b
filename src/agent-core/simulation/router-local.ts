// What a router answers itself (DESIGN: Virtual topology, Router): ARP (RFC 826) and neighbour
// discovery (RFC 4861) for its port addresses, learning neighbours into its cache, and ping (RFC 792,
// RFC 4443) to any of its addresses. Every answer is a generated packet out of the ingress port.
import { MAC_BROADCAST, formatIp, isMulticastMac, type Ip4, type Ip6, type IpAddr, type Mac } from '../packet/addr.js';
import { ARP_OP_REPLY, ARP_OP_REQUEST, ICMP6_ECHO_REQUEST, ICMP_ECHO_REQUEST, ND_NEIGHBOR_SOLICIT } from '../packet/constants.js';
import { Field, IPPROTO_ICMP, IPPROTO_ICMPV6 } from '../packet/flow-match.js';
import { buildArpReply, buildIcmp4EchoReply, buildIcmp6EchoReply, buildNdAdvert } from '../packet/index.js';
import { portOwnsIp } from '../topology/parsed.js';
import type { Id, Port, Router } from '../topology/types.js';
import type { Walker } from './ports.js';

/** Records the neighbour in the router's ARP/ND cache when it is new or its MAC changed. */
function learnNeighbour(w: Walker, routerId: Id, ip: IpAddr, mac: Mac): void {
  if (ip === 0 || ip === 0n || mac === 0 || isMulticastMac(mac)) return;
  const ctx = w.ctx;
  if (ctx.views.arp.lookup(routerId, ip) === mac) return;
  ctx.stateChanges.push({ kind: 'arpLearned', routerId, ip, mac });
  if (ctx.tracing) ctx.trace.push(`router ${routerId}: learned neighbour ${formatIp(ip)}`);
}

/** ARP at a router port: answer requests for the port's addresses, learn from requests and replies to it. */
export function handleArp(w: Walker, router: Router, inPort: Port, inMac: Mac, dstMac: Mac): void {
  if (dstMac !== inMac && dstMac !== MAC_BROADCAST) return w.drop(`router ${router.id}: ARP not addressed to port ${inPort.id}`);
  const m = w.ctx.match;
  const op = m.get(Field.IpProto);
  const target = m.getIp(Field.IpDst) as Ip4;
  const sender = m.getIp(Field.IpSrc) as Ip4;
  const senderMac = m.get(Field.ArpSha);
  const ours = portOwnsIp(inPort, target);
  if (op === ARP_OP_REQUEST) {
    if (!ours) return w.drop(`router ${router.id}: ARP request for ${formatIp(target)}, not an address of port ${inPort.id}`);
    learnNeighbour(w, router.id, sender, senderMac);
    if (!w.generate(inPort.id, buildArpReply(inMac, target, senderMac, sender))) return w.drop('cannot build ARP reply', true);
    return w.consume(`router ${router.id} answered ARP for ${formatIp(target)}`);
  }
  if (op === ARP_OP_REPLY && (ours || dstMac === inMac)) {
    learnNeighbour(w, router.id, sender, senderMac);
    return w.consume(`router ${router.id}: ARP reply from ${formatIp(sender)}`);
  }
  w.drop(`router ${router.id}: ARP op ${op} not for it`);
}

/** Neighbour solicitation / advertisement at a router port (RFC 4861 7.2.3-7.2.5). */
export function handleNd(w: Walker, router: Router, inPort: Port, inMac: Mac, type: number): void {
  const m = w.ctx.match;
  const target = m.getIp(Field.NdTarget) as Ip6;
  if (type === ND_NEIGHBOR_SOLICIT) {
    if (!portOwnsIp(inPort, target)) return w.drop(`router ${router.id}: solicitation for ${formatIp(target)}, not an address of port ${inPort.id}`);
    const src = m.getIp(Field.IpSrc) as Ip6;
    // Duplicate address detection of our own address by someone else: not answered here.
    if (src === 0n) return w.drop(`router ${router.id}: DAD probe for ${formatIp(target)}`);
    const sll = m.get(Field.ArpSha);
    const peerMac = sll !== 0 ? sll : m.get(Field.EthSrc);
    learnNeighbour(w, router.id, src, peerMac);
    const advert = buildNdAdvert(inMac, target, peerMac, src, { router: true, solicited: true, override: true });
    if (!w.generate(inPort.id, advert)) return w.drop('cannot build neighbour advertisement', true);
    return w.consume(`router ${router.id} answered ND for ${formatIp(target)}`);
  }
  const tll = m.get(Field.ArpTha);
  learnNeighbour(w, router.id, target, tll !== 0 ? tll : m.get(Field.EthSrc));
  w.consume(`router ${router.id}: neighbour advertisement for ${formatIp(target)}`);
}

/** A packet to one of the router's own addresses: echo requests are answered, the rest dropped. */
export function answerLocal(w: Walker, router: Router, inPort: Port, inMac: Mac, v6: boolean, dst: IpAddr): void {
  const m = w.ctx.match;
  const proto = m.get(Field.IpProto);
  const isPing = v6
    ? proto === IPPROTO_ICMPV6 && m.get(Field.L4Src) === ICMP6_ECHO_REQUEST
    : proto === IPPROTO_ICMP && m.get(Field.L4Src) === ICMP_ECHO_REQUEST;
  if (!isPing) return w.drop(`router ${router.id}: to its address ${formatIp(dst)}, not a ping`);
  const request = w.currentFrame();
  if (request === undefined) return w.drop('cannot rebuild the echo request', true);
  const srcMac = m.get(Field.EthSrc);
  const reply = v6 ? buildIcmp6EchoReply(request, inMac, srcMac) : buildIcmp4EchoReply(request, inMac, srcMac);
  if (!w.generate(inPort.id, reply)) return w.drop('cannot build echo reply', true);
  w.consume(`router ${router.id} answered ping to ${formatIp(dst)}`);
}
