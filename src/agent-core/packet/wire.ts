// Big-endian field access shared by the codecs (network byte order). Callers check bounds first:
// a Uint8Array read past its end yields undefined, which these would silently turn into 0.
import type { Ip6, Mac } from './addr.js';

export const EMPTY_BYTES = new Uint8Array(0);

export function u16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

export function u32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

export function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

export function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

export function readMac(b: Uint8Array, o: number): Mac {
  return u16(b, o) * 0x100000000 + u32(b, o + 2);
}

export function writeMac(b: Uint8Array, o: number, m: Mac): void {
  put16(b, o, Math.floor(m / 0x100000000) & 0xffff);
  put32(b, o + 2, m % 0x100000000);
}

export function readIp6Addr(b: Uint8Array, o: number): Ip6 {
  return (
    (BigInt(u32(b, o)) << 96n) | (BigInt(u32(b, o + 4)) << 64n) | (BigInt(u32(b, o + 8)) << 32n) | BigInt(u32(b, o + 12))
  );
}

export function writeIp6Addr(b: Uint8Array, o: number, a: Ip6): void {
  put32(b, o, Number((a >> 96n) & 0xffffffffn));
  put32(b, o + 4, Number((a >> 64n) & 0xffffffffn));
  put32(b, o + 8, Number((a >> 32n) & 0xffffffffn));
  put32(b, o + 12, Number(a & 0xffffffffn));
}

export function isMac(v: unknown): v is Mac {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffffffff;
}

export function isUint(v: unknown, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
}

export function isIp6Value(v: unknown): v is Ip6 {
  return typeof v === 'bigint' && v >= 0n && v < 1n << 128n;
}
