// Peers between the role's config and gobgpd's API: the API Peer a configured peer becomes, the
// parts of it that need a new session versus those gobgpd changes in place, and the status the
// REST API shows. Pure. DESIGN: BGP (peers from the uplinks); RFC 4271 timers, RFC 2385 MD5.
import { API_FAMILY } from './api-paths.js';
import { canonicalAddress, DEFAULT_CONNECT_RETRY, DEFAULT_HOLD_TIME, type BgpFamily, type BgpGlobalConfig, type BgpPeerConfig } from './config.js';
import type { ApiAfiSafi, ApiGlobal, ApiPeer, ApiSessionState } from './gobgp-api-types.js';

export const BGP_PORT = 179;

export function globalToApi(g: BgpGlobalConfig): ApiGlobal {
  return {
    asn: g.asn,
    router_id: g.routerId,
    listen_port: g.listenPort ?? BGP_PORT,
    listen_addresses: [...(g.listenAddresses ?? [])],
    use_multiple_paths: g.multipath === true,
  };
}

/**
 * The API Peer. Fields gobgpd would default (local ASN, peer type, local address) are given
 * explicitly: UpdatePeer compares the stored, defaulted config with the request's as it is and
 * resets the session on any difference ("Other configuration change").
 */
export function peerToApi(p: BgpPeerConfig, localAsn: number): ApiPeer {
  return { ...sessionPart(p, localAsn), timers: timersPart(p), afi_safis: afiSafis(p, true) };
}

/** What gobgpd can only change by resetting the session (it sends a new OPEN): identity, MD5, transport, families. */
export function sessionKey(p: BgpPeerConfig, localAsn: number): string {
  // Addresses compared as addresses: 2001:DB8::2 and 2001:db8:0::2 are one peer to gobgpd.
  const same = { ...p, address: canonicalAddress(p.address), localAddress: p.localAddress === undefined ? undefined : canonicalAddress(p.localAddress) };
  return JSON.stringify({ ...sessionPart(same, localAsn), afi_safis: afiSafis(p, false) });
}

/** What UpdatePeer changes in place: timers (used from the next session on) and prefix limits. */
export function tunablesKey(p: BgpPeerConfig): string {
  return JSON.stringify({ timers: timersPart(p), afi_safis: afiSafis(p, true) });
}

function sessionPart(p: BgpPeerConfig, localAsn: number): ApiPeer {
  return {
    conf: { neighbor_address: p.address, peer_asn: p.asn, local_asn: localAsn, type: p.asn === localAsn ? 'INTERNAL' : 'EXTERNAL', auth_password: p.password ?? '' },
    transport: { local_address: p.localAddress ?? (p.address.includes(':') ? '::' : '0.0.0.0'), passive_mode: false },
    ebgp_multihop: { enabled: p.multihop !== undefined, multihop_ttl: p.multihop?.ttl ?? 0 },
  };
}

function timersPart(p: BgpPeerConfig): NonNullable<ApiPeer['timers']> {
  const hold = p.holdTime ?? DEFAULT_HOLD_TIME;
  return { config: { hold_time: hold, keepalive_interval: p.keepalive ?? Math.floor(hold / 3), connect_retry: p.connectRetry ?? DEFAULT_CONNECT_RETRY } };
}

function afiSafis(p: BgpPeerConfig, withLimits: boolean): ApiAfiSafi[] {
  // Only 'restart' is gobgpd's own limit (it closes the session); 'drop' and 'warn' are the importer's.
  const limit = withLimits && p.maxPrefixes?.action === 'restart' ? p.maxPrefixes.limit : undefined;
  return p.families.map((f) => ({
    config: { family: API_FAMILY[f], enabled: true },
    ...(limit === undefined ? {} : { prefix_limits: { family: API_FAMILY[f], max_prefixes: limit, shutdown_threshold_pct: 0 } }),
  }));
}

export type PeerSessionState = 'unknown' | 'idle' | 'connect' | 'active' | 'opensent' | 'openconfirm' | 'established';
export type PeerAdminState = 'up' | 'down' | 'prefix-limit';

export interface PeerFamilyCounts {
  readonly family: BgpFamily;
  readonly received: number;
  readonly accepted: number;
  readonly advertised: number;
}

/** One peer as gobgpd reports it. */
export interface PeerSessionStatus {
  readonly address: string;
  readonly asn: number;
  readonly state: PeerSessionState;
  readonly adminState: PeerAdminState;
  /** Seconds since the session was established; undefined when it is not. */
  readonly uptimeSeconds: number | undefined;
  readonly flaps: number;
  readonly families: readonly PeerFamilyCounts[];
}

export function sessionState(s: ApiSessionState | undefined): PeerSessionState {
  return s === undefined ? 'unknown' : (s.toLowerCase() as PeerSessionState);
}

export function peerStatusFromApi(peer: ApiPeer, nowMs: number): PeerSessionStatus {
  const state = sessionState(peer.state?.session_state);
  const admin = peer.state?.admin_state;
  const uptime = peer.timers?.state?.uptime;
  const families: PeerFamilyCounts[] = [];
  for (const a of peer.afi_safis ?? []) {
    const fam = a.state?.family ?? a.config?.family;
    const family: BgpFamily | undefined = fam?.afi === 'AFI_IP' ? 'ipv4' : fam?.afi === 'AFI_IP6' ? 'ipv6' : undefined;
    if (family === undefined) continue;
    families.push({ family, received: a.state?.received ?? 0, accepted: a.state?.accepted ?? 0, advertised: a.state?.advertised ?? 0 });
  }
  return {
    address: peer.conf?.neighbor_address ?? peer.state?.neighbor_address ?? '',
    asn: peer.conf?.peer_asn ?? peer.state?.peer_asn ?? 0,
    state,
    adminState: admin === 'PFX_CT' ? 'prefix-limit' : admin === 'DOWN' ? 'down' : 'up',
    uptimeSeconds: state === 'established' && uptime !== undefined && uptime !== null && uptime.seconds > 0 ? Math.max(0, Math.floor(nowMs / 1000 - uptime.seconds)) : undefined,
    flaps: peer.state?.flops ?? 0,
    families,
  };
}
