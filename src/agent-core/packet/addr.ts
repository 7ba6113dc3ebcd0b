// Addresses as plain values: IPv4 = number (uint32), IPv6 = bigint (128 bit), MAC = number (48 bit).
// Parsing and formatting for IPv4 (RFC 791), IPv6 text form (RFC 5952), MAC (EUI-48), and CIDR prefixes.

export type Ip4 = number;
export type Ip6 = bigint;
export type IpAddr = Ip4 | Ip6;
export type Mac = number;

export interface Cidr {
  readonly addr: IpAddr;
  readonly len: number;
}

export const MAC_BROADCAST: Mac = 0xffffffffffff;

export function isIp6(a: IpAddr): a is Ip6 {
  return typeof a === 'bigint';
}

export function parseIp4(text: string): Ip4 | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = v * 256 + n;
  }
  return v;
}

export function formatIp4(a: Ip4): string {
  return `${(a >>> 24) & 255}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

export function parseIp6(text: string): Ip6 | undefined {
  if (text.length < 2 || text.length > 45) return undefined;
  let head = text;
  let tailV4: number | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    tailV4 = parseIp4(text.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    head = text.slice(0, lastColon + 1) + '0:0';
  }
  const dbl = head.indexOf('::');
  if (dbl !== head.lastIndexOf('::')) return undefined;
  const groupsOf = (s: string): string[] => (s === '' ? [] : s.split(':'));
  let groups: string[];
  if (dbl >= 0) {
    const left = groupsOf(head.slice(0, dbl));
    const right = groupsOf(head.slice(dbl + 2));
    const fill = 8 - left.length - right.length;
    if (fill < 1) return undefined;
    groups = [...left, ...new Array<string>(fill).fill('0'), ...right];
  } else {
    groups = head.split(':');
  }
  if (groups.length !== 8) return undefined;
  let v = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  if (tailV4 !== undefined) v = (v & ~0xffffffffn) | BigInt(tailV4);
  return v;
}

export function formatIp6(a: Ip6): string {
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((a >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: compress the longest run (>= 2) of zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

export function parseIp(text: string): IpAddr | undefined {
  return text.includes(':') ? parseIp6(text) : parseIp4(text);
}

export function formatIp(a: IpAddr): string {
  return isIp6(a) ? formatIp6(a) : formatIp4(a);
}

export function parseMac(text: string): Mac | undefined {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(text)) return undefined;
  return parseInt(text.replace(/:/g, ''), 16);
}

export function formatMac(m: Mac): string {
  return m.toString(16).padStart(12, '0').replace(/(..)(?!$)/g, '$1:');
}

export function isMulticastMac(m: Mac): boolean {
  return Math.floor(m / 0x10000000000) % 2 === 1;
}

export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const addr = parseIp(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (addr === undefined || !/^\d{1,3}$/.test(lenText)) return undefined;
  const len = Number(lenText);
  if (len > (isIp6(addr) ? 128 : 32)) return undefined;
  return { addr, len };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.addr)}/${c.len}`;
}

/** Network address of `a` under a prefix of `len` bits. */
export function maskIp(a: IpAddr, len: number): IpAddr {
  if (isIp6(a)) {
    if (len <= 0) return 0n;
    const bits = 128n - BigInt(len);
    return (a >> bits) << bits;
  }
  if (len <= 0) return 0;
  if (len >= 32) return a >>> 0;
  return (a & (0xffffffff << (32 - len))) >>> 0;
}

export function cidrContains(c: Cidr, a: IpAddr): boolean {
  if (isIp6(c.addr) !== isIp6(a)) return false;
  return maskIp(a, c.len) === maskIp(c.addr, c.len);
}

/** Whether the address equals its own network address (no host bits set). */
export function isNetworkAddress(c: Cidr): boolean {
  return maskIp(c.addr, c.len) === c.addr;
}

/** Splits an IPv6 address into four 32-bit words, most significant first. */
export function ip6ToWords(a: Ip6, out: number[] | Float64Array, offset: number): void {
  out[offset] = Number((a >> 96n) & 0xffffffffn);
  out[offset + 1] = Number((a >> 64n) & 0xffffffffn);
  out[offset + 2] = Number((a >> 32n) & 0xffffffffn);
  out[offset + 3] = Number(a & 0xffffffffn);
}

export function wordsToIp6(w: ArrayLike<number>, offset: number): Ip6 {
  return (
    (BigInt(w[offset]) << 96n) |
    (BigInt(w[offset + 1]) << 64n) |
    (BigInt(w[offset + 2]) << 32n) |
    BigInt(w[offset + 3])
  );
}
