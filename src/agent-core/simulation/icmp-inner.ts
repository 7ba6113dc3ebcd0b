// The datagram embedded in an ICMP/ICMPv6 error (RFC 792, RFC 4443 2.4), as the simulation sees it
// after the NAT rewrites recorded so far: reverse NAT and conntrack key it by that inner tuple.
import {
  Field, ICMP6_ECHO_REPLY, ICMP6_ECHO_REQUEST, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, IPPROTO_ICMP, IPPROTO_ICMPV6,
  IPPROTO_TCP, IPPROTO_UDP, type IcmpErrorInner, isDecodeError, parseIcmpErrorInner,
} from '../packet/index.js';
import type { SimContext } from './context.js';
import type { FlowTuple } from './state-keys.js';

/** The embedded datagram's header fields (packet/ parses them; an echo carries its id). */
export type IcmpInner = IcmpErrorInner;

export function isEchoType(type: number, v6: boolean): boolean {
  return v6 ? type === ICMP6_ECHO_REQUEST || type === ICMP6_ECHO_REPLY : type === ICMP_ECHO_REQUEST || type === ICMP_ECHO_REPLY;
}

const parsedInner = new WeakMap<SimContext, IcmpInner | null>();

/**
 * The embedded datagram as it is now: parsed once from the input frame, then with this run's
 * setInnerField rewrites applied in order (a second NAT device sees the first one's translation).
 */
export function currentInner(ctx: SimContext): IcmpInner | undefined {
  let base = parsedInner.get(ctx);
  if (base === undefined) {
    const parsed = parseIcmpErrorInner(ctx.input.frame);
    base = isDecodeError(parsed) ? null : parsed;
    parsedInner.set(ctx, base);
  }
  if (base === null) return undefined;
  let cur: { -readonly [K in keyof IcmpInner]: IcmpInner[K] } | undefined;
  for (const a of ctx.actions) {
    if (a.kind !== 'setInnerField') continue;
    cur ??= { ...base };
    const v = a.value;
    if (a.field === Field.IpSrc) cur.ipSrc = v;
    else if (a.field === Field.IpDst) cur.ipDst = v;
    else if (typeof v === 'number') {
      if (a.field === Field.L4Src) cur.l4Src = v;
      else if (a.field === Field.L4Dst) cur.l4Dst = v;
      else if (a.field === Field.IcmpId) cur.icmpId = v;
    }
  }
  return cur ?? base;
}

/** The inner datagram's connection tuple (ICMP echo: the id in both port places). */
export function innerTuple(inner: IcmpInner, v6: boolean): FlowTuple {
  const { proto, ipSrc: src, ipDst: dst } = inner;
  if (proto === IPPROTO_TCP || proto === IPPROTO_UDP) return { v6, proto, src, sport: inner.l4Src, dst, dport: inner.l4Dst, l4: 'ports' };
  const icmp = v6 ? proto === IPPROTO_ICMPV6 : proto === IPPROTO_ICMP;
  if (icmp && isEchoType(inner.l4Src, v6)) return { v6, proto, src, sport: inner.icmpId, dst, dport: inner.icmpId, l4: 'echo' };
  return { v6, proto, src, sport: 0, dst, dport: 0, l4: 'other' };
}
