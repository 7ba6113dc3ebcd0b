// The export side's desired set: which prefixes the provider router announces — its static routes
// marked `advertise` plus the uplinks' configured `advertise` lists — as canonical CIDRs. Pure.
// DESIGN: BGP (export: prefixes the provider router owns, kept in sync).
import { formatCidr, isIp6, maskIp, parseCidr, type Cidr } from '../agent-core/packet/index.js';
import type { Route } from '../agent-core/topology/index.js';

/** An entry that is no prefix and was left out. */
export interface SkippedPrefix {
  /** Where it came from: `extra[<index>]` or `route <id>`. */
  readonly from: string;
  /** The entry as given. */
  readonly text: string;
}

export interface AdvertisedPrefixes {
  /** Canonical CIDR text, each once, IPv4 before IPv6, then by address and prefix length. */
  readonly prefixes: string[];
  /** Entries skipped because they do not parse as a CIDR, in input order (routes first). */
  readonly invalid: SkippedPrefix[];
}

/**
 * The prefixes to announce: the dst of every static route with `advertise: true` (whatever its next
 * hop: a blackhole aggregate is a normal way to announce a range) and every `extra` entry, host bits
 * cleared (203.0.113.7/24 -> 203.0.113.0/24). Routes learned over BGP are never announced, even if
 * marked. `routes` undefined (the router is not loaded yet) contributes nothing: a caller that
 * applies the result as the whole desired set should wait for the routes rather than withdraw them.
 */
export function advertisedPrefixes(routes: readonly Route[] | undefined, extra: readonly string[]): AdvertisedPrefixes {
  const byText = new Map<string, Cidr>();
  const invalid: SkippedPrefix[] = [];
  const add = (from: string, text: unknown): void => {
    const c = typeof text === 'string' ? parseCidr(text) : undefined;
    if (c === undefined) {
      invalid.push({ from, text: String(text) });
      return;
    }
    const net: Cidr = { addr: maskIp(c.addr, c.len), len: c.len };
    byText.set(formatCidr(net), net);
  };
  for (const r of routes ?? []) {
    if (r.advertise === true && r.origin === 'static') add(`route ${r.id}`, r.dst);
  }
  extra.forEach((text, i) => add(`extra[${i}]`, text));
  const sorted = [...byText].sort(([, a], [, b]) => compareCidr(a, b));
  return { prefixes: sorted.map(([text]) => text), invalid };
}

function compareCidr(a: Cidr, b: Cidr): number {
  const a6 = isIp6(a.addr);
  if (a6 !== isIp6(b.addr)) return a6 ? 1 : -1;
  if (a.addr !== b.addr) return a.addr < b.addr ? -1 : 1;
  return a.len - b.len;
}
