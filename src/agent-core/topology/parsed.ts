// Parsed forms of stored objects for the simulator's hot path (addresses as numbers, id sets),
// memoized by object identity: a TopologyView returns the same object while it is unchanged.
// DESIGN: Virtual topology; Flows. Text that does not parse is left out: validation reports it.
import { cidrContains, parseCidr, parseIp, parseMac, type Cidr, type IpAddr, type Mac } from '../packet/addr.js';
import type { Bridge, Condition, Id, Port, Route, Rule } from './types.js';

/** Port MTU when the port does not set one (DESIGN: Port). */
export const DEFAULT_MTU = 1500;

// Stored JSON may hold anything where text is expected: parse only strings.
const ipOf = (v: unknown): IpAddr | undefined => (typeof v === 'string' ? parseIp(v) : undefined);
const cidrOf = (v: unknown): Cidr | undefined => (typeof v === 'string' ? parseCidr(v) : undefined);
const macOf = (v: unknown): Mac | undefined => (typeof v === 'string' ? parseMac(v) : undefined);
const listOf = (v: unknown): readonly unknown[] => (Array.isArray(v) ? (v as readonly unknown[]) : []);
const fieldOf = (v: unknown, key: string): unknown => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[key] : undefined);

function memoize<K extends object, V>(compute: (k: K) => V): (k: K) => V {
  const cache = new WeakMap<K, V>();
  return (k: K): V => {
    // Only objects can be WeakMap keys; anything else (malformed input) is computed every time.
    if (typeof k !== 'object' || k === null) return compute(k);
    if (cache.has(k)) return cache.get(k) as V;
    const v = compute(k);
    cache.set(k, v);
    return v;
  };
}

/**
 * A router port's addresses, each the port's own IP with the prefix length of its subnet
 * ("192.0.2.1/24" gives addr 192.0.2.1, len 24). Entries that do not parse are skipped.
 */
export const portCidrs: (port: Port) => readonly Cidr[] = memoize((port: Port) => {
  const out: Cidr[] = [];
  for (const text of listOf(port.addresses)) {
    const c = cidrOf(text);
    if (c !== undefined) out.push(c);
  }
  return Object.freeze(out);
});

export const portMac: (port: Port) => Mac | undefined = memoize((port: Port) => macOf(port.mac));

export function portMtu(port: Port): number {
  return port.mtu ?? DEFAULT_MTU;
}

/** Whether `ip` is one of the port's own addresses (ARP/ND and ping are answered for these). */
export function portOwnsIp(port: Port, ip: IpAddr): boolean {
  return portCidrs(port).some((c) => c.addr === ip);
}

/**
 * The port's own address on the subnet that contains `ip`, or undefined when `ip` is not on-link
 * (the source for an ARP request or an ICMP error sent out of that port).
 */
export function portAddressOnLink(port: Port, ip: IpAddr): IpAddr | undefined {
  return portCidrs(port).find((c) => cidrContains(c, ip))?.addr;
}

/** A bridge's static IP → MAC entries. Keys mix number (IPv4) and bigint (IPv6): a Map keeps them apart. */
export const bridgeArpTable: (bridge: Bridge) => ReadonlyMap<IpAddr, Mac> = memoize((bridge: Bridge) => {
  const table = new Map<IpAddr, Mac>();
  for (const e of listOf(bridge.arpEntries)) {
    const ip = ipOf(fieldOf(e, 'ip'));
    const mac = macOf(fieldOf(e, 'mac'));
    if (ip !== undefined && mac !== undefined && !table.has(ip)) table.set(ip, mac);
  }
  return table;
});

export function bridgeArpLookup(bridge: Bridge, ip: IpAddr): Mac | undefined {
  return bridgeArpTable(bridge).get(ip);
}

export interface ParsedRoute {
  readonly dst: Cidr;
  /** Absent: any source. */
  readonly src?: Cidr;
  readonly gateway?: IpAddr;
}

/** A route's prefixes and gateway as numbers; undefined when any of its text does not parse. */
export const parsedRoute: (route: Route) => ParsedRoute | undefined = memoize((route: Route) => {
  const dst = cidrOf(route.dst);
  if (dst === undefined) return undefined;
  const src = route.src === undefined ? undefined : cidrOf(route.src);
  const gateway = route.gateway === undefined ? undefined : ipOf(route.gateway);
  if ((route.src !== undefined && src === undefined) || (route.gateway !== undefined && gateway === undefined)) return undefined;
  return { dst, ...(src !== undefined && { src }), ...(gateway !== undefined && { gateway }) };
});

/** The destination prefix of a route; undefined only for a route that fails validation. */
export function routeDst(route: Route): Cidr | undefined {
  return parsedRoute(route)?.dst;
}

export interface ParsedCondition {
  /** False when some text of the condition does not parse: the rule should be treated as not matching. */
  readonly valid: boolean;
  readonly inPorts?: ReadonlySet<Id>;
  readonly outPorts?: ReadonlySet<Id>;
  readonly ethSrc?: Mac;
  readonly ethDst?: Mac;
  readonly nwSrc?: Cidr;
  readonly nwDst?: Cidr;
}

/** The text and list fields of a condition, parsed (the numeric fields are used as they are). */
export const parsedCondition: (condition: Condition) => ParsedCondition = memoize((c: Condition) => {
  if (typeof c !== 'object' || c === null) return { valid: false };
  let valid = true;
  const text = <T>(v: unknown, parse: (s: unknown) => T | undefined): T | undefined => {
    if (v === undefined) return undefined;
    const out = parse(v);
    if (out === undefined) valid = false;
    return out;
  };
  const ethSrc = text(fieldOf(c.ethSrc, 'value'), macOf);
  const ethDst = text(fieldOf(c.ethDst, 'value'), macOf);
  const nwSrc = text(fieldOf(c.nwSrc, 'value'), cidrOf);
  const nwDst = text(fieldOf(c.nwDst, 'value'), cidrOf);
  return {
    valid,
    ...(c.inPorts !== undefined && { inPorts: new Set(listOf(fieldOf(c.inPorts, 'value')) as Id[]) }),
    ...(c.outPorts !== undefined && { outPorts: new Set(listOf(fieldOf(c.outPorts, 'value')) as Id[]) }),
    ...(ethSrc !== undefined && { ethSrc }),
    ...(ethDst !== undefined && { ethDst }),
    ...(nwSrc !== undefined && { nwSrc }),
    ...(nwDst !== undefined && { nwDst }),
  };
});

export interface ParsedNatTarget {
  readonly addressFrom: IpAddr;
  readonly addressTo: IpAddr;
  readonly portFrom: number;
  readonly portTo: number;
}

/** A dynamic NAT rule's targets with addresses as numbers; targets that do not parse are skipped. */
export const natTargets: (rule: Rule) => readonly ParsedNatTarget[] = memoize((rule: Rule) => {
  if (rule.kind !== 'nat') return Object.freeze([]);
  const out: ParsedNatTarget[] = [];
  for (const t of listOf(rule.targets)) {
    const addressFrom = ipOf(fieldOf(t, 'addressFrom'));
    const addressTo = ipOf(fieldOf(t, 'addressTo'));
    const portFrom = fieldOf(t, 'portFrom');
    const portTo = fieldOf(t, 'portTo');
    if (addressFrom === undefined || addressTo === undefined || typeof addressFrom !== typeof addressTo) continue;
    if (typeof portFrom !== 'number' || typeof portTo !== 'number') continue;
    out.push({ addressFrom, addressTo, portFrom, portTo });
  }
  return Object.freeze(out);
});

/** A static NAT rule's address; undefined for other rules or an address that does not parse. */
export const staticNatAddress: (rule: Rule) => IpAddr | undefined = memoize((rule: Rule) =>
  rule.kind === 'staticNat' ? ipOf(rule.address) : undefined,
);
