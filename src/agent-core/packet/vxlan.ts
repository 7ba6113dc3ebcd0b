// VXLAN header (RFC 7348 5): 8 bytes in the UDP payload with a 24-bit VNI, which Tollgate uses as
// the tunnel key (DESIGN: Tunnels).
import { type DecodeError, DecodeLayer, DecodeReason, decodeError } from './errors.js';
import { put32, u32 } from './wire.js';

export const VXLAN_HEADER_LEN = 8;
/** The I flag: the VNI is valid (RFC 7348 5); it must be set. */
export const VXLAN_FLAG_I = 0x08;

export interface VxlanHeader {
  /** The flags byte; the I flag is set in every valid header. */
  readonly flags: number;
  readonly vni: number;
}

export interface VxlanDecoded {
  readonly header: VxlanHeader;
  /** The inner Ethernet frame (a view into the input). */
  readonly inner: Uint8Array;
}

export function decodeVxlan(b: Uint8Array, off = 0): VxlanDecoded | DecodeError {
  if (b.length - off < VXLAN_HEADER_LEN) return decodeError(DecodeLayer.Vxlan, DecodeReason.Truncated, off);
  const flags = b[off];
  if ((flags & VXLAN_FLAG_I) === 0) return decodeError(DecodeLayer.Vxlan, DecodeReason.BadFlags, off);
  return { header: { flags, vni: u32(b, off + 4) >>> 8 }, inner: b.subarray(off + VXLAN_HEADER_LEN) };
}

/** Writes a header with the I flag and reserved fields 0 (the flags byte keeps any other bits given). */
export function writeVxlan(b: Uint8Array, off: number, h: VxlanHeader): number {
  b[off] = h.flags | VXLAN_FLAG_I;
  b[off + 1] = 0;
  b[off + 2] = 0;
  b[off + 3] = 0;
  put32(b, off + 4, ((h.vni & 0xffffff) << 8) >>> 0);
  return off + VXLAN_HEADER_LEN;
}

/** The UDP payload that carries `inner` with tunnel key `vni`. */
export function encodeVxlan(vni: number, inner: Uint8Array, flags = VXLAN_FLAG_I): Uint8Array {
  const b = new Uint8Array(VXLAN_HEADER_LEN + inner.length);
  b.set(inner, writeVxlan(b, 0, { flags, vni }));
  return b;
}
