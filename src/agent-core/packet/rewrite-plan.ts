// A flow's header rewrites compiled once at install: values checked and split into words ahead of
// time, and for the common IPv4 set (MACs, addresses, ports, echo id, TTL) applied as fixed writes
// with each checksum updated once from the summed word changes (RFC 1624 eqn. 3, RFC 768's zero).
// DESIGN: The packet's way, step 6 (fast path). The result equals applyModificationsInPlace's.
import type { DecodeError } from './errors.js';
import { Field, type HeaderModification, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from './flow-match.js';
import { isIcmp4Echo } from './icmp.js';
import { FrameLayout, parseLayout } from './layout.js';
import { applyModificationsInPlace, pseudoChecksumOffset } from './modify.js';
import { isMac, isUint, put16, u16, writeMac } from './wire.js';

/** The last value each field is set to; -1 = not set. */
interface Ip4Writes {
  readonly ethDst: number;
  readonly ethSrc: number;
  readonly ipSrc: number;
  readonly ipDst: number;
  readonly l4Src: number;
  readonly l4Dst: number;
  readonly icmpId: number;
  /** Times the TTL is decremented. */
  readonly ttlDecrements: number;
}

export interface RewritePlan {
  readonly mods: readonly HeaderModification[];
  /** Set when every rewrite is one of the IPv4 fast set with a valid value. */
  readonly ip4: Ip4Writes | undefined;
  /** No VLAN push or pop: headers stay where they were, so a layout of the frame stays true. */
  readonly keepsLayout: boolean;
}

/** Compiles rewrites for applyRewritePlan; never fails (bad values fail when applied, as in applyModifications). */
export function compileRewritePlan(mods: readonly HeaderModification[]): RewritePlan {
  return { mods, ip4: ip4WritesOf(mods), keepsLayout: mods.every((m) => m.kind !== 'pushVlan' && m.kind !== 'popVlan') };
}

function ip4WritesOf(mods: readonly HeaderModification[]): Ip4Writes | undefined {
  const w = { ethDst: -1, ethSrc: -1, ipSrc: -1, ipDst: -1, l4Src: -1, l4Dst: -1, icmpId: -1, ttlDecrements: 0 };
  for (const m of mods) {
    if (m.kind === 'decTtl') {
      w.ttlDecrements++;
      continue;
    }
    if (m.kind !== 'setField') return undefined;
    const v = m.value;
    switch (m.field) {
      case Field.EthDst:
      case Field.EthSrc:
        if (!isMac(v)) return undefined;
        if (m.field === Field.EthDst) w.ethDst = v;
        else w.ethSrc = v;
        break;
      case Field.IpSrc:
      case Field.IpDst:
        if (!isUint(v, 0xffffffff)) return undefined;
        if (m.field === Field.IpSrc) w.ipSrc = v;
        else w.ipDst = v;
        break;
      case Field.L4Src:
      case Field.L4Dst:
      case Field.IcmpId:
        if (!isUint(v, 0xffff)) return undefined;
        if (m.field === Field.L4Src) w.l4Src = v;
        else if (m.field === Field.L4Dst) w.l4Dst = v;
        else w.icmpId = v;
        break;
      default:
        return undefined;
    }
  }
  if (w.icmpId >= 0 && (w.l4Src >= 0 || w.l4Dst >= 0)) return undefined; // no frame takes both: leave the error to the general path
  return w;
}

const OWN_LAYOUT = new FrameLayout();

/**
 * Applies the plan to `frame` in place (or to a new array when a VLAN push or pop changes its
 * length) and returns the array holding the result, as applyModificationsInPlace does. `layout`,
 * when given, must describe this frame as it is now (e.g. from extractFlowKey), which saves parsing it.
 */
export function applyRewritePlan(frame: Uint8Array, plan: RewritePlan, layout?: FrameLayout): Uint8Array | DecodeError {
  const w = plan.ip4;
  if (w === undefined) return applyModificationsInPlace(frame, plan.mods);
  let L = layout;
  if (L === undefined) {
    L = OWN_LAYOUT;
    if (!parseLayout(frame, L)) return applyModificationsInPlace(frame, plan.mods);
  }
  if (!fits(frame, w, L)) return applyModificationsInPlace(frame, plan.mods); // which says why
  writeIp4(frame, w, L);
  return frame;
}

/** Whether every write of the plan applies to this frame (else the general path gives the error). */
function fits(b: Uint8Array, w: Ip4Writes, L: FrameLayout): boolean {
  const l3Writes = w.ipSrc >= 0 || w.ipDst >= 0 || w.ttlDecrements > 0 || w.l4Src >= 0 || w.l4Dst >= 0 || w.icmpId >= 0;
  if (!l3Writes) return true;
  if (L.ipVersion !== 4) return false;
  if (b[L.l3 + 8] < w.ttlDecrements) return false;
  if ((w.l4Src >= 0 || w.l4Dst >= 0) && (L.l4 < 0 || (L.proto !== IPPROTO_TCP && L.proto !== IPPROTO_UDP))) return false;
  if (w.icmpId >= 0 && (L.l4 < 0 || L.proto !== IPPROTO_ICMP || !isIcmp4Echo(b[L.l4]))) return false;
  return true;
}

/** Sums of (~old + new) over the changed words each checksum covers, and whether any changed. */
class Deltas {
  ip = 0;
  ipChanged = false;
  l4 = 0;
  l4Changed = false;
}
const D = new Deltas();

/** Rewrites the word at `off`; `inIp` / `inL4`: covered by the IPv4 header / the L4 checksum. */
function word(b: Uint8Array, off: number, nv: number, inIp: boolean, inL4: boolean): void {
  const ov = u16(b, off);
  if (ov === nv) return;
  put16(b, off, nv);
  const d = (~ov & 0xffff) + nv;
  if (inIp) {
    D.ip += d;
    D.ipChanged = true;
  }
  if (inL4) {
    D.l4 += d;
    D.l4Changed = true;
  }
}

/**
 * The checksum after covered words changed by `sum` (RFC 1624 eqn. 3 over all of them at once). Its
 * result is the one-word updates' result: each lands on the same canonical value of its class mod 0xffff.
 */
function updateBy(b: Uint8Array, ck: number, sum: number, udp: boolean): void {
  let s = (~u16(b, ck) & 0xffff) + sum;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  if (s === 0) s = 0xffff;
  let nc = ~s & 0xffff;
  if (udp && nc === 0) nc = 0xffff; // RFC 768: 0 on the wire means "no checksum"
  put16(b, ck, nc);
}

function writeIp4(b: Uint8Array, w: Ip4Writes, L: FrameLayout): void {
  if (w.ethDst >= 0) writeMac(b, 0, w.ethDst);
  if (w.ethSrc >= 0) writeMac(b, 6, w.ethSrc);
  if (L.ipVersion !== 4) return; // only MAC writes (fits() said so)
  D.ip = 0;
  D.ipChanged = false;
  D.l4 = 0;
  D.l4Changed = false;
  const l3 = L.l3;
  const l4 = L.l4;
  const pseudoCk = pseudoChecksumOffset(b, l4, L.proto, false, L.l3End);
  const inPseudo = pseudoCk >= 0;
  if (w.ipSrc >= 0) {
    word(b, l3 + 12, w.ipSrc >>> 16, true, inPseudo);
    word(b, l3 + 14, w.ipSrc & 0xffff, true, inPseudo);
  }
  if (w.ipDst >= 0) {
    word(b, l3 + 16, w.ipDst >>> 16, true, inPseudo);
    word(b, l3 + 18, w.ipDst & 0xffff, true, inPseudo);
  }
  if (w.ttlDecrements > 0) word(b, l3 + 8, u16(b, l3 + 8) - 0x100 * w.ttlDecrements, true, false);
  if (w.l4Src >= 0) word(b, l4, w.l4Src, false, inPseudo);
  if (w.l4Dst >= 0) word(b, l4 + 2, w.l4Dst, false, inPseudo);
  let l4Ck = pseudoCk;
  if (w.icmpId >= 0) {
    l4Ck = l4 + 2;
    word(b, l4 + 4, w.icmpId, false, true);
  }
  if (D.ipChanged) updateBy(b, l3 + 10, D.ip, false);
  if (D.l4Changed) updateBy(b, l4Ck, D.l4, L.proto === IPPROTO_UDP);
}
