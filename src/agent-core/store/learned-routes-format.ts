// How learned (BGP) routes are stored: batch znodes under /tables/routers/{id}/routes/{hostId}/,
// each an ephemeral JSON array of up to ~1000 compact route tuples. DESIGN: Store (learned routes,
// ephemeral, batched); BGP (import: best paths become routes of the provider router).
import type { Id, Route } from '../topology/index.js';
import { decodeState, encodeState, type Decoded } from './codec.js';

/** A route one gateway learned over BGP: egress via one of the provider router's ports. */
export interface LearnedRoute {
  /** Destination prefix, IPv4 or IPv6 CIDR. */
  readonly dst: string;
  readonly egressPortId: Id;
  /** The BGP next hop; absent = on-link. */
  readonly gateway?: string;
  /** Lower wins; equal weights make ECMP. Default 100. */
  readonly weight?: number;
}

export const DEFAULT_LEARNED_ROUTE_WEIGHT = 100;

/** Stored tuple: [dst, egressPortId, gateway or null, weight]. Objects would double the bytes. */
type RouteTuple = [string, string, string | null, number];

export function learnedRouteKey(r: LearnedRoute): string {
  return `${r.dst}|${r.gateway ?? ''}|${r.egressPortId}`;
}

export function encodeRouteBatch(routes: Iterable<LearnedRoute>): Buffer {
  const tuples: RouteTuple[] = [];
  for (const r of routes) tuples.push([r.dst, r.egressPortId, r.gateway ?? null, r.weight ?? DEFAULT_LEARNED_ROUTE_WEIGHT]);
  return encodeState('routes', tuples);
}

/** The batch's routes as topology Route objects of `routerId` with origin 'bgp'. */
export function decodeRouteBatch(data: Buffer, routerId: Id, hostId: Id): Decoded<Route[]> {
  const env = decodeState(data, 'routes');
  if (!env.ok) return env;
  if (!Array.isArray(env.value)) return { ok: false, error: '"routes" is not a list' };
  const out: Route[] = [];
  for (const t of env.value as unknown[]) {
    if (
      !Array.isArray(t) ||
      typeof t[0] !== 'string' ||
      typeof t[1] !== 'string' ||
      (t[2] !== null && typeof t[2] !== 'string') ||
      typeof t[3] !== 'number'
    ) {
      return { ok: false, error: `malformed route entry ${JSON.stringify(t)}` };
    }
    const [dst, egressPortId, gateway, weight] = t as RouteTuple;
    const route: Route = {
      type: 'route',
      id: `bgp:${hostId}:${dst}|${gateway ?? ''}|${egressPortId}`,
      routerId,
      dst,
      nextHop: 'port',
      egressPortId,
      weight,
      origin: 'bgp',
      ...(gateway === null ? {} : { gateway }),
    };
    out.push(Object.freeze(route));
  }
  return { ok: true, value: out };
}

/** FNV-1a, to spread routes over batches stably (the same route stays in the same batch). */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
