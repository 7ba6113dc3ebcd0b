// Paths as gobgpd's API carries them: building the path that advertises a prefix (IPv4 unicast with
// a NEXT_HOP attribute, IPv6 unicast with MP_REACH_NLRI, RFC 4760) and reading a watched path back
// into prefix, next hop and the peer that sent it. Pure. DESIGN: BGP (import, export).
import { formatCidr, isIp6, isNetworkAddress, parseCidr } from '../agent-core/packet/index.js';
import type { BgpFamily } from './config.js';
import { ANY_PREFIX, type ApiAny, type ApiFamily, type ApiPath } from './gobgp-api-types.js';

export const API_FAMILY: Readonly<Record<BgpFamily, ApiFamily>> = {
  ipv4: { afi: 'AFI_IP', safi: 'SAFI_UNICAST' },
  ipv6: { afi: 'AFI_IP6', safi: 'SAFI_UNICAST' },
};

const ORIGIN_IGP = 0;
const TYPE_PREFIX = `${ANY_PREFIX}IPAddressPrefix`;
const TYPE_ORIGIN = `${ANY_PREFIX}OriginAttribute`;
const TYPE_NEXT_HOP = `${ANY_PREFIX}NextHopAttribute`;
const TYPE_MP_REACH = `${ANY_PREFIX}MpReachNLRIAttribute`;

/** A prefix to advertise, in canonical text and with its family. */
export interface AdvertisedPrefix {
  readonly prefix: string;
  readonly family: BgpFamily;
  readonly addr: string;
  readonly len: number;
}

/** Parses and canonicalizes a prefix to advertise; undefined with a reason when it is not one. */
export function parseAdvertisedPrefix(text: string): AdvertisedPrefix | string {
  const c = typeof text === 'string' ? parseCidr(text) : undefined;
  if (c === undefined) return `not a prefix: ${JSON.stringify(text)}`;
  if (!isNetworkAddress(c)) return `${text} has host bits set`;
  const prefix = formatCidr(c);
  const slash = prefix.indexOf('/');
  return { prefix, family: isIp6(c.addr) ? 'ipv6' : 'ipv4', addr: prefix.slice(0, slash), len: c.len };
}

/**
 * The path that originates `p` (origin IGP). The next hop defaults to the unspecified address,
 * which gobgpd replaces per session with the session's local address, i.e. the uplink's, for eBGP
 * and iBGP peers alike (GoBGP internal/pkg/table/path.go UpdatePathAttrs).
 */
export function advertisedPath(p: AdvertisedPrefix, nextHop?: string): ApiPath {
  const nlri: ApiAny = { '@type': TYPE_PREFIX, prefix: p.addr, prefix_len: p.len };
  const origin: ApiAny = { '@type': TYPE_ORIGIN, origin: ORIGIN_IGP };
  const family = API_FAMILY[p.family];
  if (p.family === 'ipv4') {
    return { family, nlri, pattrs: [origin, { '@type': TYPE_NEXT_HOP, next_hop: nextHop ?? '0.0.0.0' }] };
  }
  return { family, nlri, pattrs: [origin, { '@type': TYPE_MP_REACH, family, next_hops: [nextHop ?? '::'], nlris: [nlri] }] };
}

/** A best path from a watch, reduced to what the store needs. */
export interface WatchedPath {
  readonly family: BgpFamily;
  /** Canonical CIDR text, the learned route's dst. */
  readonly prefix: string;
  readonly withdraw: boolean;
  /** The peer that sent it, as gobgpd prints it; '<nil>' or '' for locally originated paths. */
  readonly peer: string;
  /** The BGP next hop (IPv6: the global one when a link-local one comes with it). */
  readonly nextHop: string | undefined;
}

/** Reads a watched path; undefined for families and NLRI types the role does not import. */
export function readWatchedPath(path: ApiPath): WatchedPath | undefined {
  const fam = path.family;
  if (fam === null || fam === undefined || fam.safi !== 'SAFI_UNICAST') return undefined;
  const family: BgpFamily | undefined = fam.afi === 'AFI_IP' ? 'ipv4' : fam.afi === 'AFI_IP6' ? 'ipv6' : undefined;
  const nlri = path.nlri;
  if (family === undefined || nlri === null || nlri['@type'] !== TYPE_PREFIX) return undefined;
  const addr = nlri.prefix;
  const len = nlri.prefix_len;
  if (typeof addr !== 'string' || typeof len !== 'number') return undefined;
  return { family, prefix: `${addr}/${len}`, withdraw: path.is_withdraw === true, peer: path.neighbor_ip ?? '', nextHop: nextHopOf(path.pattrs) };
}

/** True for paths gobgpd originated itself (our own advertisements), which are never imported. */
export function isLocalPath(p: WatchedPath): boolean {
  return p.peer === '' || p.peer === '<nil>';
}

function nextHopOf(pattrs: readonly ApiAny[]): string | undefined {
  for (const a of pattrs) {
    if (a['@type'] === TYPE_NEXT_HOP && typeof a.next_hop === 'string') return a.next_hop;
    if (a['@type'] === TYPE_MP_REACH && Array.isArray(a.next_hops)) {
      const hops = a.next_hops.filter((h): h is string => typeof h === 'string' && h !== '');
      return hops.find((h) => !h.toLowerCase().startsWith('fe80:')) ?? hops[0];
    }
  }
  return undefined;
}
