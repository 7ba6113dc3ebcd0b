// NAT rules as MidoNet does them (DESIGN: Virtual topology, NAT rules; Flow state, NAT key):
// static 1:1 (floating IPs), dynamic SNAT/DNAT to a target range tracked by forward and reverse
// keys, and reverse NAT for replies and for ICMP errors about translated datagrams. IPv4 only for
// dynamic NAT; static NAT works in either family when the rule's address matches the packet's.
import {
  ETHERTYPE_IPV4, ETHERTYPE_IPV6, FRAG_LATER, Field, type FlowMatch, type IpAddr, formatIp, isIp6, parseIp,
} from '../packet/index.js';
import type { Id, NatTarget, Rule } from '../topology/types.js';
import type { SimContext } from './context.js';
import { currentInner, innerTuple } from './icmp-inner.js';
import {
  type FlowTuple, flowHash, natKey, natTag, readFlowTuple, readIsIcmpError, rehash, reverseTuple,
} from './state-keys.js';
import type { NatBinding } from './types.js';

export type NatRule = Extract<Rule, { kind: 'nat' | 'reverseNat' | 'staticNat' }>;

/**
 * applied: the packet was translated (the rule's `then` follows); skip: the rule does not apply to
 * this packet (the chain goes on); drop: the packet cannot be translated safely; notYet: no SNAT
 * port is free in this host's leased blocks (ctx.missing names the ip); exhausted: no SNAT port can
 * be had on any target address now (an error drop, not installed).
 */
export type NatResult = 'applied' | 'skip' | 'drop' | 'notYet' | 'exhausted';

/** SNAT ports when a target names none (0-0): everything above the well-known/registered split. */
export const SNAT_DEFAULT_PORT_FROM = 1024;
export const SNAT_DEFAULT_PORT_TO = 65535;

export function applyNatRule(ctx: SimContext, rule: NatRule, deviceId: Id): NatResult {
  if (rule.kind === 'staticNat') return applyStaticNat(ctx, rule);
  if (rule.kind === 'nat') return applyDynamicNat(ctx, rule, deviceId);
  return applyReverseNat(ctx, rule, deviceId);
}

function skip(ctx: SimContext, rule: NatRule, why: string): NatResult {
  if (ctx.tracing) ctx.trace.push(`rule ${rule.id}: ${rule.nat} skipped: ${why}`);
  return 'skip';
}

const ipPort = (ip: IpAddr, port: number): string => `${formatIp(ip)}:${port}`;

// ---- static NAT -------------------------------------------------------------------------------

const staticAddresses = new WeakMap<Rule, IpAddr | null>();

function staticAddressOf(rule: Extract<Rule, { kind: 'staticNat' }>): IpAddr | undefined {
  let a = staticAddresses.get(rule);
  if (a === undefined) {
    a = parseIp(rule.address) ?? null;
    staticAddresses.set(rule, a);
  }
  return a ?? undefined;
}

/**
 * Stateless rewrite of one address. For an ICMP error the embedded datagram travelled the other
 * way, so its mirrored address is rewritten too (outer source ↔ inner destination) and the error
 * reaches its destination with a header the receiver recognises.
 */
function applyStaticNat(ctx: SimContext, rule: Extract<Rule, { kind: 'staticNat' }>): NatResult {
  const addr = staticAddressOf(rule);
  if (addr === undefined) return skip(ctx, rule, `bad address ${rule.address}`);
  const m = ctx.match;
  const et = m.get(Field.EthType);
  if (et !== ETHERTYPE_IPV4 && et !== ETHERTYPE_IPV6) return 'skip';
  if (isIp6(addr) !== (et === ETHERTYPE_IPV6)) return skip(ctx, rule, 'address family differs from the packet');
  const snat = rule.nat === 'snat';
  const field = snat ? Field.IpSrc : Field.IpDst;
  if (readIsIcmpError(m)) {
    ctx.installFlow = false;
    const old = m.getIp(field);
    const inner = currentInner(ctx);
    if (inner !== undefined && (snat ? inner.ipDst : inner.ipSrc) === old) {
      ctx.modify({ kind: 'setInnerField', field: snat ? Field.IpDst : Field.IpSrc, value: addr });
    }
  }
  ctx.modify({ kind: 'setField', field, value: addr });
  if (ctx.tracing) ctx.trace.push(`rule ${rule.id}: static ${rule.nat} to ${formatIp(addr)}`);
  return 'applied';
}

// ---- dynamic NAT ------------------------------------------------------------------------------

interface TargetRange {
  readonly from: number;
  readonly count: number;
  readonly portFrom: number;
  readonly portTo: number;
}

interface CompiledTargets {
  readonly ranges: readonly TargetRange[];
  readonly total: number;
}

const compiledTargets = new WeakMap<Rule, CompiledTargets | string>();

function compileTargets(targets: readonly NatTarget[]): CompiledTargets | string {
  const ranges: TargetRange[] = [];
  let total = 0;
  for (const t of targets) {
    const from = parseIp(t.addressFrom);
    const to = parseIp(t.addressTo);
    if (from === undefined || to === undefined) return `bad target ${t.addressFrom}-${t.addressTo}`;
    if (isIp6(from) || isIp6(to)) return 'IPv6 NAT targets are not supported';
    if (to < from) return `empty target ${t.addressFrom}-${t.addressTo}`;
    ranges.push({ from, count: to - from + 1, portFrom: t.portFrom, portTo: t.portTo });
    total += to - from + 1;
  }
  if (total === 0) return 'no targets';
  return { ranges, total };
}

function targetsOf(rule: Extract<Rule, { kind: 'nat' }>): CompiledTargets | string {
  let c = compiledTargets.get(rule);
  if (c === undefined) {
    c = compileTargets(rule.targets);
    compiledTargets.set(rule, c);
  }
  return c;
}

/** The target address for a connection: the hash indexes the concatenated address ranges. */
function pickTarget(c: CompiledTargets, hash: number): { ip: number; range: TargetRange } {
  return targetAt(c, hash % c.total);
}

/** The i-th address of the concatenated ranges (0 <= i < total). */
function targetAt(c: CompiledTargets, index: number): { ip: number; range: TargetRange } {
  let i = index;
  for (const r of c.ranges) {
    if (i < r.count) return { ip: r.from + i, range: r };
    i -= r.count;
  }
  const last = c.ranges[c.ranges.length - 1];
  return { ip: last.from, range: last };
}

/**
 * DNAT target: address and port from the connection hash, so every host that simulates the first
 * packet picks the same backend. A target with ports 0-0 keeps the destination port; an ICMP echo
 * keeps its id (the id names the pinger's session, not a service).
 */
function chooseDnat(t: FlowTuple, c: CompiledTargets): NatBinding {
  const hash = flowHash(t);
  const { ip, range } = pickTarget(c, hash);
  if (t.l4 === 'echo' || (range.portFrom === 0 && range.portTo === 0)) return { ip, port: t.dport };
  const span = Math.max(1, range.portTo - range.portFrom + 1);
  return { ip, port: range.portFrom + (rehash(hash) % span) };
}

/**
 * SNAT target: the address from the hash, the port (or ICMP echo id) from this host's leased
 * blocks for that address. Always allocated, even when the original port would be free: a
 * source port may only be reused through the lease that owns it. An address whose ports are all
 * taken (every block leased, this host's full) gives way to the rule's next address; when every
 * address is exhausted the answer is 'exhausted' (the packet is dropped: waiting would not help).
 */
function chooseSnat(ctx: SimContext, deviceId: Id, t: FlowTuple, c: CompiledTargets): NatBinding | 'notYet' | 'exhausted' {
  const hash = flowHash(t);
  const first = hash % c.total;
  for (let k = 0; k < c.total; k++) {
    const { ip, range } = targetAt(c, (first + k) % c.total);
    const unset = range.portFrom === 0 && range.portTo === 0;
    const from = unset ? SNAT_DEFAULT_PORT_FROM : Math.max(1, range.portFrom);
    const to = unset ? SNAT_DEFAULT_PORT_TO : range.portTo;
    const port = ctx.views.natPorts.pickPort(deviceId, ip, from, to, hash);
    if (port !== undefined) return { ip, port };
    if (!ctx.views.natPorts.exhausted(deviceId, ip, from, to)) {
      ctx.notYet({ kind: 'natBlock', deviceId, ip, portFrom: from, portTo: to });
      return 'notYet';
    }
    if (ctx.tracing) ctx.trace.push(`snat: no port left on ${formatIp(ip)}`);
  }
  return 'exhausted';
}

/** Rewrites one side of the packet (source or destination) to `b`, emitting only real changes. */
function rewriteSide(ctx: SimContext, t: FlowTuple, source: boolean, b: NatBinding): void {
  const ipField = source ? Field.IpSrc : Field.IpDst;
  if ((source ? t.src : t.dst) !== b.ip) ctx.modify({ kind: 'setField', field: ipField, value: b.ip });
  const portField = t.l4 === 'echo' ? Field.IcmpId : source ? Field.L4Src : Field.L4Dst;
  if ((source ? t.sport : t.dport) !== b.port) ctx.modify({ kind: 'setField', field: portField, value: b.port });
}

function translated(t: FlowTuple, snat: boolean, b: NatBinding): FlowTuple {
  const echo = t.l4 === 'echo';
  if (snat) return { ...t, src: b.ip, sport: b.port, dport: echo ? b.port : t.dport };
  return { ...t, dst: b.ip, dport: b.port, sport: echo ? b.port : t.sport };
}

function isLaterFragment(m: FlowMatch): boolean {
  return m.get(Field.IpFrag) === FRAG_LATER;
}

/**
 * Forward dynamic NAT. An existing binding under the forward key wins (every packet of a
 * connection, on any host, gets one translation); otherwise one is chosen. Both keys are recorded
 * each time the flow is simulated, so an active connection refreshes and re-pushes its state.
 */
function applyDynamicNat(ctx: SimContext, rule: Extract<Rule, { kind: 'nat' }>, deviceId: Id): NatResult {
  const m = ctx.match;
  const t = readFlowTuple(m);
  if (t === undefined) return skip(ctx, rule, 'not an IP packet');
  if (t.v6) return skip(ctx, rule, 'IPv6 NAT is not supported');
  if (t.l4 === 'icmpError' || t.l4 === 'other') return skip(ctx, rule, `IP protocol ${t.proto} is not translated`);
  if (isLaterFragment(m)) {
    // A later fragment has no ports to key on; letting it out untranslated would leak the address.
    if (ctx.tracing) ctx.trace.push(`rule ${rule.id}: ${rule.nat} drops a non-first fragment`);
    return 'drop';
  }
  const targets = targetsOf(rule);
  if (typeof targets === 'string') return skip(ctx, rule, targets);
  const snat = rule.nat === 'snat';
  const fwdKey = natKey(snat ? 'fwd-snat' : 'fwd-dnat', deviceId, t);
  let b = ctx.views.nat.get(fwdKey);
  if (b === undefined) {
    const chosen = snat ? chooseSnat(ctx, deviceId, t, targets) : chooseDnat(t, targets);
    if (chosen === 'exhausted') {
      // Not installed: the connection's next attempt (a retransmitted SYN) is simulated again and
      // gets a port as soon as one is free.
      ctx.installFlow = false;
      return 'exhausted';
    }
    if (chosen === 'notYet') return 'notYet';
    b = chosen;
  }
  const revKey = natKey(snat ? 'rev-snat' : 'rev-dnat', deviceId, reverseTuple(translated(t, snat, b)));
  const original: NatBinding = snat ? { ip: t.src, port: t.sport } : { ip: t.dst, port: t.dport };
  if (snat) ctx.stateChanges.push({ kind: 'nat', key: fwdKey, binding: b, deviceId, leasedIp: b.ip });
  else ctx.stateChanges.push({ kind: 'nat', key: fwdKey, binding: b, deviceId });
  ctx.stateChanges.push({ kind: 'nat', key: revKey, binding: original, deviceId });
  rewriteSide(ctx, t, snat, b);
  ctx.stateful = true;
  ctx.tag(natTag(fwdKey));
  const from = snat ? ipPort(t.src, t.sport) : ipPort(t.dst, t.dport);
  if (ctx.tracing) ctx.trace.push(`rule ${rule.id}: ${rule.nat} ${from} -> ${ipPort(b.ip, b.port)}`);
  return 'applied';
}

// ---- reverse NAT ------------------------------------------------------------------------------

/**
 * Translates a reply back: reverse SNAT restores the destination (the original sender), reverse
 * DNAT the source (the address the client spoke to). No binding = the packet is not a reply of a
 * translated connection and the rule does not match; the lookup is tagged either way, so a flow
 * installed before the binding existed is invalidated when it appears.
 */
function applyReverseNat(ctx: SimContext, rule: Extract<Rule, { kind: 'reverseNat' }>, deviceId: Id): NatResult {
  const m = ctx.match;
  const t = readFlowTuple(m);
  if (t === undefined) return 'skip';
  if (t.v6) return skip(ctx, rule, 'IPv6 NAT is not supported');
  const snat = rule.nat === 'snat';
  if (t.l4 === 'icmpError') return reverseIcmpError(ctx, rule, deviceId, t, snat);
  if (t.l4 === 'other' || isLaterFragment(m)) return 'skip';
  const key = natKey(snat ? 'rev-snat' : 'rev-dnat', deviceId, t);
  ctx.tag(natTag(key));
  const b = ctx.views.nat.get(key);
  if (b === undefined) return 'skip';
  rewriteSide(ctx, t, !snat, b);
  const was = snat ? ipPort(t.dst, t.dport) : ipPort(t.src, t.sport);
  if (ctx.tracing) ctx.trace.push(`rule ${rule.id}: reverse ${rule.nat} ${was} -> ${ipPort(b.ip, b.port)}`);
  return 'applied';
}

/**
 * An ICMP error about a translated datagram. The embedded datagram is a packet of the connection
 * in its forward direction as it left the NAT (SNAT: from the NAT address; DNAT: to the backend),
 * so the reply-direction key is its reversed tuple. The embedded header is translated back
 * (setInnerField) and so is the outer address that named the NAT side. Not installed as a flow:
 * the decision depends on the embedded header, which the flow key does not cover.
 */
function reverseIcmpError(
  ctx: SimContext, rule: Extract<Rule, { kind: 'reverseNat' }>, deviceId: Id, outer: FlowTuple, snat: boolean,
): NatResult {
  ctx.installFlow = false;
  const inner = currentInner(ctx);
  if (inner === undefined) return 'skip';
  const it = innerTuple(inner, outer.v6);
  if (it.l4 === 'other') return 'skip';
  const key = natKey(snat ? 'rev-snat' : 'rev-dnat', deviceId, reverseTuple(it));
  const b = ctx.views.nat.get(key);
  if (b === undefined) return 'skip';
  ctx.tag(natTag(key));
  const portField = it.l4 === 'echo' ? Field.IcmpId : snat ? Field.L4Src : Field.L4Dst;
  if (snat) {
    if (outer.dst === it.src) ctx.modify({ kind: 'setField', field: Field.IpDst, value: b.ip });
    ctx.modify({ kind: 'setInnerField', field: Field.IpSrc, value: b.ip });
  } else {
    if (outer.src === it.dst) ctx.modify({ kind: 'setField', field: Field.IpSrc, value: b.ip });
    ctx.modify({ kind: 'setInnerField', field: Field.IpDst, value: b.ip });
  }
  if ((snat ? it.sport : it.dport) !== b.port) ctx.modify({ kind: 'setInnerField', field: portField, value: b.port });
  if (ctx.tracing) ctx.trace.push(`rule ${rule.id}: reverse ${rule.nat} of an ICMP error to ${ipPort(b.ip, b.port)}`);
  return 'applied';
}
