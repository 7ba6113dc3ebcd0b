// applyModifications: the header rewrites of a flow (HeaderModification, flow-match.ts) applied to frame
// bytes, each affected checksum updated incrementally (RFC 1624): IPv4 header, TCP/UDP/ICMPv6 pseudo-headers,
// and an ICMP error's checksum over the datagram it embeds. DESIGN: The packet's way, step 6 (fast path).
import { updateChecksum } from './checksum.js';
import { decodeFrame } from './decode.js';
import { type DecodeError, DecodeLayer, DecodeReason, decodeError, isDecodeError } from './errors.js';
import { frameWithVlan, frameWithoutVlan } from './ethernet.js';
import { Field, type HeaderModification, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from './flow-match.js';
import { isIcmp4Echo } from './icmp.js';
import { isIcmp6Echo } from './icmp6.js';
import { FrameLayout, InnerLayout, parseInnerLayout, parseLayout } from './layout.js';
import { isIp6Value, isMac, isUint, put16, u16, writeMac } from './wire.js';

const L = new FrameLayout();
const IL = new InnerLayout();
/** Whether IL describes the frame being rewritten. */
let innerParsed = false;

function modifyError(reason: DecodeReason, offset: number): DecodeError {
  return decodeError(DecodeLayer.Modify, reason, offset);
}

/** A copy of the frame with the rewrites applied in order; the input is not changed. */
export function applyModifications(frame: Uint8Array, mods: readonly HeaderModification[]): Uint8Array | DecodeError {
  return applyModificationsInPlace(frame.slice(), mods);
}

/**
 * Applies the rewrites to `frame` itself, or to a new array once a VLAN push or pop changes its length;
 * returns the array holding the result. After an error the frame's content is unspecified.
 */
export function applyModificationsInPlace(frame: Uint8Array, mods: readonly HeaderModification[]): Uint8Array | DecodeError {
  let b = frame;
  innerParsed = false;
  if (!parseLayout(b, L)) return malformed(b);
  for (const m of mods) {
    let err: DecodeError | undefined;
    switch (m.kind) {
      case 'setField':
        err = setField(b, m.field, m.value);
        break;
      case 'decTtl':
        err = decTtl(b);
        break;
      case 'pushVlan': {
        if (!isUint(m.vlanId, 0xfff)) return modifyError(DecodeReason.BadValue, 12);
        const r = frameWithVlan(b, m.vlanId);
        if (isDecodeError(r)) return r;
        b = r;
        innerParsed = false;
        if (!parseLayout(b, L)) return malformed(b);
        break;
      }
      case 'popVlan': {
        if (L.vlanCount === 0) return modifyError(DecodeReason.NoVlan, 12);
        const r = frameWithoutVlan(b);
        if (isDecodeError(r)) return r;
        b = r;
        innerParsed = false;
        // A third tag or an L3 header hidden behind the second tag may now be parsed, and be malformed.
        if (!parseLayout(b, L)) return malformed(b);
        break;
      }
      case 'setInnerField':
        err = setInnerField(b, m.field, m.value);
        break;
    }
    if (err) return err;
  }
  return b;
}

function malformed(b: Uint8Array): DecodeError {
  const d = decodeFrame(b, { verifyChecksums: false });
  return isDecodeError(d) ? d : modifyError(DecodeReason.Truncated, 0);
}

function updateCovered(b: Uint8Array, ck: number, ov: number, nv: number, ckOuter: number, udp: boolean): void {
  const oc = u16(b, ck);
  let nc = updateChecksum(oc, ov, nv);
  // RFC 768: a computed 0 is sent as all ones; 0 on the wire means "no checksum".
  if (udp && nc === 0) nc = 0xffff;
  put16(b, ck, nc);
  if (ckOuter >= 0) put16(b, ckOuter, updateChecksum(u16(b, ckOuter), oc, nc));
}

/**
 * Rewrites the 16-bit word at `off` and updates the checksums covering it: ckA and ckB directly, and
 * ckOuter both for the word and for the change to ckA/ckB (an ICMP error's checksum covers the embedded
 * header and its checksums). -1 = none. Bit 1 / 2 of `udpMask` marks ckA / ckB as a UDP checksum.
 */
function rewrite16(b: Uint8Array, off: number, nv: number, ckA: number, ckB: number, ckOuter: number, udpMask: number): void {
  const ov = u16(b, off);
  if (ov === nv) return;
  put16(b, off, nv);
  if (ckOuter >= 0) put16(b, ckOuter, updateChecksum(u16(b, ckOuter), ov, nv));
  if (ckA >= 0) updateCovered(b, ckA, ov, nv, ckOuter, (udpMask & 1) !== 0);
  if (ckB >= 0) updateCovered(b, ckB, ov, nv, ckOuter, (udpMask & 2) !== 0);
}

/**
 * Offset of the checksum of the upper-layer header at `l4` that a pseudo-header (address) change
 * affects, or -1: TCP, UDP unless 0 (none sent), ICMPv6; `end` bounds a cut-short embedded header.
 */
export function pseudoChecksumOffset(b: Uint8Array, l4: number, proto: number, v6: boolean, end: number): number {
  if (l4 < 0) return -1;
  if (proto === IPPROTO_TCP) return l4 + 18 <= end ? l4 + 16 : -1;
  if (proto === IPPROTO_UDP) return l4 + 8 <= end && u16(b, l4 + 6) !== 0 ? l4 + 6 : -1;
  if (proto === IPPROTO_ICMPV6 && v6) return l4 + 4 <= end ? l4 + 2 : -1;
  return -1;
}

/** Rewrites the address at `at` (IPv4 or IPv6 by `v6`), with the given checksums. */
function rewriteAddr(
  b: Uint8Array, at: number, v6: boolean, value: number | bigint, ckA: number, ckB: number, ckOuter: number, udpMask: number,
): DecodeError | undefined {
  if (!v6) {
    if (!isUint(value, 0xffffffff)) return modifyError(typeof value === 'bigint' ? DecodeReason.FamilyMismatch : DecodeReason.BadValue, at);
    rewrite16(b, at, value >>> 16, ckA, ckB, ckOuter, udpMask);
    rewrite16(b, at + 2, value & 0xffff, ckA, ckB, ckOuter, udpMask);
    return undefined;
  }
  if (!isIp6Value(value)) return modifyError(typeof value === 'number' ? DecodeReason.FamilyMismatch : DecodeReason.BadValue, at);
  for (let i = 0; i < 4; i++) {
    const w = Number((value >> BigInt(96 - 32 * i)) & 0xffffffffn);
    rewrite16(b, at + 4 * i, w >>> 16, ckA, ckB, ckOuter, udpMask);
    rewrite16(b, at + 4 * i + 2, w & 0xffff, ckA, ckB, ckOuter, udpMask);
  }
  return undefined;
}

function setField(b: Uint8Array, f: Field, v: number | bigint): DecodeError | undefined {
  switch (f) {
    case Field.EthSrc:
    case Field.EthDst:
      if (!isMac(v)) return modifyError(DecodeReason.BadValue, 0);
      writeMac(b, f === Field.EthDst ? 0 : 6, v);
      return undefined;
    case Field.VlanId: {
      if (L.vlan0 < 0) return modifyError(DecodeReason.NoVlan, 12);
      if (!isUint(v, 0xfff)) return modifyError(DecodeReason.BadValue, L.vlan0);
      put16(b, L.vlan0 + 2, (u16(b, L.vlan0 + 2) & 0xf000) | v);
      return undefined;
    }
    case Field.IpSrc:
    case Field.IpDst:
      return setIpAddr(b, f === Field.IpSrc, v);
    case Field.IpTos:
      return setTos(b, v);
    case Field.L4Src:
    case Field.L4Dst: {
      const l4 = L.l4;
      if (l4 < 0 || (L.proto !== IPPROTO_TCP && L.proto !== IPPROTO_UDP)) return modifyError(DecodeReason.NoL4Header, L.l3);
      if (!isUint(v, 0xffff)) return modifyError(DecodeReason.BadValue, l4);
      const ck = pseudoChecksumOffset(b, l4, L.proto, L.ipVersion === 6, L.l3End);
      rewrite16(b, f === Field.L4Src ? l4 : l4 + 2, v, ck, -1, -1, L.proto === IPPROTO_UDP ? 1 : 0);
      return undefined;
    }
    case Field.IcmpId: {
      const l4 = L.l4;
      const echo =
        l4 >= 0 &&
        ((L.ipVersion === 4 && L.proto === IPPROTO_ICMP && isIcmp4Echo(b[l4])) ||
          (L.ipVersion === 6 && L.proto === IPPROTO_ICMPV6 && isIcmp6Echo(b[l4])));
      if (!echo) return modifyError(DecodeReason.NotEcho, l4 < 0 ? L.l3 : l4);
      if (!isUint(v, 0xffff)) return modifyError(DecodeReason.BadValue, l4);
      rewrite16(b, l4 + 4, v, l4 + 2, -1, -1, 0);
      return undefined;
    }
    default:
      return modifyError(DecodeReason.UnsupportedField, 0);
  }
}

function setIpAddr(b: Uint8Array, src: boolean, v: number | bigint): DecodeError | undefined {
  const l3 = L.l3;
  if (L.ipVersion === 4) {
    const l4ck = pseudoChecksumOffset(b, L.l4, L.proto, false, L.l3End);
    return rewriteAddr(b, l3 + (src ? 12 : 16), false, v, l3 + 10, l4ck, -1, L.proto === IPPROTO_UDP ? 2 : 0);
  }
  if (L.ipVersion === 6) {
    // With a routing header in use the pseudo-header names the final destination, not this one.
    const inPseudo = src || L.pseudoDst === l3 + 24;
    const l4ck = inPseudo ? pseudoChecksumOffset(b, L.l4, L.proto, true, L.l3End) : -1;
    return rewriteAddr(b, l3 + (src ? 8 : 24), true, v, l4ck, -1, -1, L.proto === IPPROTO_UDP ? 1 : 0);
  }
  return modifyError(DecodeReason.NotIp, l3);
}

function setTos(b: Uint8Array, v: number | bigint): DecodeError | undefined {
  const l3 = L.l3;
  if (L.ipVersion === 0) return modifyError(DecodeReason.NotIp, l3);
  if (!isUint(v, 0xff)) return modifyError(DecodeReason.BadValue, l3);
  if (L.ipVersion === 4) rewrite16(b, l3, (b[l3] << 8) | v, l3 + 10, -1, -1, 0);
  else put16(b, l3, (u16(b, l3) & 0xf00f) | (v << 4));
  return undefined;
}

function decTtl(b: Uint8Array): DecodeError | undefined {
  const l3 = L.l3;
  if (L.ipVersion === 4) {
    if (b[l3 + 8] === 0) return modifyError(DecodeReason.TtlExpired, l3 + 8);
    rewrite16(b, l3 + 8, u16(b, l3 + 8) - 0x100, l3 + 10, -1, -1, 0);
    return undefined;
  }
  if (L.ipVersion === 6) {
    if (b[l3 + 7] === 0) return modifyError(DecodeReason.TtlExpired, l3 + 7);
    b[l3 + 7]--;
    return undefined;
  }
  return modifyError(DecodeReason.NotIp, l3);
}

/** Rewrites the datagram embedded in an ICMP/ICMPv6 error (NAT of the flow the error is about). */
function setInnerField(b: Uint8Array, f: Field, v: number | bigint): DecodeError | undefined {
  if (!innerParsed) {
    const err = parseInnerLayout(b, L, IL);
    if (err) return err;
    innerParsed = true;
  }
  const v6 = IL.ipVersion === 6;
  const outerCk = L.l4 + 2;
  const innerL4Ck = pseudoChecksumOffset(b, IL.l4, IL.proto, v6, IL.end);
  const udpBit = IL.proto === IPPROTO_UDP;
  switch (f) {
    case Field.IpSrc:
    case Field.IpDst: {
      const src = f === Field.IpSrc;
      if (!v6) {
        return rewriteAddr(b, IL.l3 + (src ? 12 : 16), false, v, IL.l3 + 10, innerL4Ck, outerCk, udpBit ? 2 : 0);
      }
      const ck = src || IL.pseudoDst === IL.l3 + 24 ? innerL4Ck : -1;
      return rewriteAddr(b, IL.l3 + (src ? 8 : 24), true, v, ck, -1, outerCk, udpBit ? 1 : 0);
    }
    case Field.L4Src:
    case Field.L4Dst: {
      if (IL.l4 < 0 || (IL.proto !== IPPROTO_TCP && IL.proto !== IPPROTO_UDP)) return modifyError(DecodeReason.NoL4Header, IL.l3);
      if (!isUint(v, 0xffff)) return modifyError(DecodeReason.BadValue, IL.l4);
      rewrite16(b, f === Field.L4Src ? IL.l4 : IL.l4 + 2, v, innerL4Ck, -1, outerCk, udpBit ? 1 : 0);
      return undefined;
    }
    case Field.IcmpId: {
      const l4 = IL.l4;
      const echo =
        l4 >= 0 &&
        ((!v6 && IL.proto === IPPROTO_ICMP && isIcmp4Echo(b[l4])) || (v6 && IL.proto === IPPROTO_ICMPV6 && isIcmp6Echo(b[l4])));
      if (!echo) return modifyError(DecodeReason.NotEcho, l4 < 0 ? IL.l3 : l4);
      if (!isUint(v, 0xffff)) return modifyError(DecodeReason.BadValue, l4);
      rewrite16(b, l4 + 4, v, l4 + 2, -1, outerCk, 0);
      return undefined;
    }
    default:
      return modifyError(DecodeReason.UnsupportedField, IL.l3);
  }
}
