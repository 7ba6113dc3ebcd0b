// BGP settings of a gateway (what the uplinks' YAML maps into) and their validation: global ASN and
// router id, and per peer ASN (4-byte), TCP MD5 password, timers, multihop, families, maximum
// prefixes and the uplink it belongs to. Pure. DESIGN: BGP; Gateway roles (uplinks); RFC 4271, 6793.
import { formatIp, isIp6, parseIp, parseIp4 } from '../agent-core/packet/index.js';
import type { Id } from '../agent-core/topology/index.js';
import { BgpConfigError } from './errors.js';

export type BgpFamily = 'ipv4' | 'ipv6';
export const BGP_FAMILIES: readonly BgpFamily[] = ['ipv4', 'ipv6'];

/** What happens when a peer sends more prefixes (per address family) than its limit. */
export type MaxPrefixAction =
  /** gobgpd closes the session (Cease, RFC 4486) and the role re-enables it after restartAfterSeconds. */
  | 'restart'
  /** The session stays; prefixes past the limit are not imported (held back until others go). */
  | 'drop'
  /** Everything is imported; crossing the limit is logged. */
  | 'warn';

export interface BgpMaxPrefixes {
  readonly limit: number;
  readonly action: MaxPrefixAction;
  /** 'restart' only; default 60. */
  readonly restartAfterSeconds?: number;
}

export interface BgpGlobalConfig {
  /** Local ASN, 1..4294967295 (RFC 6793 4-byte ASNs). */
  readonly asn: number;
  /** BGP identifier, an IPv4 address. */
  readonly routerId: string;
  /** BGP port gobgpd listens on; default 179, -1 = no listener (outgoing connections only). */
  readonly listenPort?: number;
  readonly listenAddresses?: readonly string[];
  /** Import every equal-cost best path (ECMP) instead of the single best. */
  readonly multipath?: boolean;
}

export interface BgpPeerConfig {
  readonly address: string;
  readonly asn: number;
  /** TCP MD5 signature password (RFC 2385), at most 80 bytes. */
  readonly password?: string;
  /** Seconds; 0 (no keepalives) or 3..65535; default 90. */
  readonly holdTime?: number;
  /** Seconds; default holdTime / 3. */
  readonly keepalive?: number;
  /** Seconds between connection attempts; default 5 (gobgpd's minimum). */
  readonly connectRetry?: number;
  /** eBGP multihop: the peer is not on the uplink's link. */
  readonly multihop?: { readonly ttl: number };
  readonly families: readonly BgpFamily[];
  readonly maxPrefixes?: BgpMaxPrefixes;
  /** The uplink address the session is sourced from (and the next hop the peer sees). */
  readonly localAddress?: string;
  /** Name of the uplink (host interface) the peer is reached through. */
  readonly uplink: string;
  /** The provider router port the uplink carries: egress of the routes learned from this peer. */
  readonly uplinkPortId: Id;
}

export interface BgpConfig {
  readonly global: BgpGlobalConfig;
  readonly peers: readonly BgpPeerConfig[];
}

export const DEFAULT_HOLD_TIME = 90;
export const DEFAULT_CONNECT_RETRY = 5;
export const DEFAULT_MAX_PREFIX_RESTART_SECONDS = 60;
/** RFC 6793: AS_TRANS stands in for 4-byte ASNs on old speakers and is never a real ASN. */
export const AS_TRANS = 23456;
const TCP_MD5SIG_MAXKEYLEN = 80;

/** Checks every field; throws BgpConfigError naming the first bad one. Returns the input, frozen. */
export function validateBgpConfig(config: BgpConfig): BgpConfig {
  if (typeof config !== 'object' || config === null) throw new BgpConfigError('bgp', 'must be an object');
  validateGlobal(config.global);
  if (!Array.isArray(config.peers)) throw new BgpConfigError('peers', 'must be a list');
  const seen = new Set<string>();
  config.peers.forEach((p, i) => {
    validatePeer(p, `peers[${i}]`);
    const key = canonicalAddress(p.address);
    if (seen.has(key)) throw new BgpConfigError(`peers[${i}].address`, `${p.address} is configured twice`);
    seen.add(key);
  });
  return Object.freeze(config);
}

export function validateGlobal(g: BgpGlobalConfig): void {
  if (typeof g !== 'object' || g === null) throw new BgpConfigError('global', 'must be an object');
  checkAsn(g.asn, 'global.asn');
  const id = typeof g.routerId === 'string' ? parseIp4(g.routerId) : undefined;
  if (id === undefined || id === 0) throw new BgpConfigError('global.routerId', `must be a non-zero IPv4 address, got ${JSON.stringify(g.routerId)}`);
  if (g.listenPort !== undefined && g.listenPort !== -1 && !isIntIn(g.listenPort, 1, 65535)) {
    throw new BgpConfigError('global.listenPort', `must be 1..65535 or -1 (no listener), got ${JSON.stringify(g.listenPort)}`);
  }
  g.listenAddresses?.forEach((a, i) => {
    if (typeof a !== 'string' || parseIp(a) === undefined) throw new BgpConfigError(`global.listenAddresses[${i}]`, `not an IP address: ${JSON.stringify(a)}`);
  });
  if (g.multipath !== undefined && typeof g.multipath !== 'boolean') throw new BgpConfigError('global.multipath', 'must be true or false');
}

export function validatePeer(p: BgpPeerConfig, at: string): void {
  if (typeof p !== 'object' || p === null) throw new BgpConfigError(at, 'must be an object');
  const addr = typeof p.address === 'string' ? parseIp(p.address) : undefined;
  if (addr === undefined) throw new BgpConfigError(`${at}.address`, `not an IP address: ${JSON.stringify(p.address)}`);
  checkAsn(p.asn, `${at}.asn`);
  if (p.password !== undefined) {
    if (typeof p.password !== 'string' || p.password === '') throw new BgpConfigError(`${at}.password`, 'must be a non-empty string');
    if (Buffer.byteLength(p.password) > TCP_MD5SIG_MAXKEYLEN) throw new BgpConfigError(`${at}.password`, `longer than ${TCP_MD5SIG_MAXKEYLEN} bytes (TCP MD5 key limit)`);
  }
  const hold = p.holdTime ?? DEFAULT_HOLD_TIME;
  if (!isIntIn(hold, 0, 65535) || (hold > 0 && hold < 3)) throw new BgpConfigError(`${at}.holdTime`, `must be 0 or 3..65535 seconds (RFC 4271), got ${JSON.stringify(p.holdTime)}`);
  if (p.keepalive !== undefined) {
    if (!isIntIn(p.keepalive, 0, 21845)) throw new BgpConfigError(`${at}.keepalive`, `must be 0..21845 seconds, got ${JSON.stringify(p.keepalive)}`);
    if (hold > 0 && (p.keepalive === 0 || p.keepalive >= hold)) throw new BgpConfigError(`${at}.keepalive`, `must be between 1 and holdTime (${hold}) - 1`);
    if (hold === 0 && p.keepalive !== 0) throw new BgpConfigError(`${at}.keepalive`, 'must be 0 when holdTime is 0');
  }
  if (p.connectRetry !== undefined && !isIntIn(p.connectRetry, 1, 65535)) throw new BgpConfigError(`${at}.connectRetry`, `must be 1..65535 seconds, got ${JSON.stringify(p.connectRetry)}`);
  if (p.multihop !== undefined) {
    if (typeof p.multihop !== 'object' || p.multihop === null || !isIntIn(p.multihop.ttl, 1, 255)) {
      throw new BgpConfigError(`${at}.multihop.ttl`, `must be 1..255, got ${JSON.stringify(p.multihop?.ttl)}`);
    }
  }
  if (!Array.isArray(p.families) || p.families.length === 0) throw new BgpConfigError(`${at}.families`, `must list at least one of ${BGP_FAMILIES.join(', ')}`);
  const fams = new Set<string>();
  p.families.forEach((f, i) => {
    if (!BGP_FAMILIES.includes(f)) throw new BgpConfigError(`${at}.families[${i}]`, `unknown family ${JSON.stringify(f)} (expected ${BGP_FAMILIES.join(' or ')})`);
    if (fams.has(f)) throw new BgpConfigError(`${at}.families[${i}]`, `${f} is listed twice`);
    fams.add(f);
  });
  if (p.maxPrefixes !== undefined) {
    const m = p.maxPrefixes;
    if (typeof m !== 'object' || m === null) throw new BgpConfigError(`${at}.maxPrefixes`, 'must be an object');
    if (!isIntIn(m.limit, 1, 0xffffffff)) throw new BgpConfigError(`${at}.maxPrefixes.limit`, `must be a positive integer, got ${JSON.stringify(m.limit)}`);
    if (!['restart', 'drop', 'warn'].includes(m.action)) throw new BgpConfigError(`${at}.maxPrefixes.action`, `must be restart, drop or warn, got ${JSON.stringify(m.action)}`);
    if (m.restartAfterSeconds !== undefined && (m.action !== 'restart' || !isIntIn(m.restartAfterSeconds, 1, 86400))) {
      throw new BgpConfigError(`${at}.maxPrefixes.restartAfterSeconds`, 'is 1..86400 seconds and only goes with action restart');
    }
  }
  if (p.localAddress !== undefined) {
    const local = typeof p.localAddress === 'string' ? parseIp(p.localAddress) : undefined;
    if (local === undefined) throw new BgpConfigError(`${at}.localAddress`, `not an IP address: ${JSON.stringify(p.localAddress)}`);
    if (isIp6(local) !== isIp6(addr)) throw new BgpConfigError(`${at}.localAddress`, `${p.localAddress} is not of the same family as ${p.address}`);
  }
  if (typeof p.uplink !== 'string' || p.uplink === '') throw new BgpConfigError(`${at}.uplink`, 'must name the uplink');
  if (typeof p.uplinkPortId !== 'string' || p.uplinkPortId === '') throw new BgpConfigError(`${at}.uplinkPortId`, 'must name the provider router port of the uplink');
}

/** One spelling per address, so that `2001:db8::1` and `2001:DB8:0::1` are the same peer. */
export function canonicalAddress(address: string): string {
  const a = parseIp(address);
  return a === undefined ? address : formatIp(a);
}

function checkAsn(asn: unknown, field: string): void {
  if (!isIntIn(asn, 1, 0xffffffff)) throw new BgpConfigError(field, `must be an ASN 1..4294967295, got ${JSON.stringify(asn)}`);
  if (asn === AS_TRANS) throw new BgpConfigError(field, `${AS_TRANS} is AS_TRANS (RFC 6793), not a usable ASN`);
}

function isIntIn(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}
