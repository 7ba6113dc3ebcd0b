// Address formats the config schema names (`format: ...`), checked with the packet codecs' own
// parsers so the config accepts exactly what the agent can use. Also splits host:port strings.
import { formatCidr, isIp6, isMulticastMac, maskIp, parseCidr, parseIp, parseIp4, parseMac, type IpAddr } from '../../agent-core/packet/index.js';

export interface HostPort {
  /** A hostname or an address; IPv6 without its brackets. */
  readonly host: string;
  readonly port: number;
}

// RFC 1123 host names: labels of letters, digits and inner hyphens.
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Splits `host:port` or `[ipv6]:port`; undefined when malformed. Does not check the host. */
export function parseHostPort(text: string): HostPort | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (m === null) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  const v6 = m[1];
  if (v6 !== undefined) return parseIp(v6) !== undefined && v6.includes(':') ? { host: v6, port } : undefined;
  return { host: m[2], port };
}

const isUnspecified = (a: IpAddr): boolean => (isIp6(a) ? a === 0n : a === 0);
const isMulticastIp = (a: IpAddr): boolean => (isIp6(a) ? a >> 120n === 0xffn : a >>> 28 === 0xe);

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const a = parseIp(host);
  if (a === undefined) return false;
  return isIp6(a) ? a === 1n : a >>> 24 === 127;
}

export const addressFamily = (text: string): 'ipv4' | 'ipv6' | undefined => {
  const a = parseIp(text);
  return a === undefined ? undefined : isIp6(a) ? 'ipv6' : 'ipv4';
};

export const CONFIG_FORMATS: Readonly<Record<string, (text: string) => boolean>> = {
  'ip-address': (t) => parseIp(t) !== undefined,
  'ipv4-address': (t) => parseIp4(t) !== undefined,
  /** An address a peer can send to: neither unspecified nor multicast. */
  'host-ip-address': (t) => {
    const a = parseIp(t);
    return a !== undefined && !isUnspecified(a) && !isMulticastIp(a);
  },
  cidr: (t) => parseCidr(t) !== undefined,
  'unicast-mac-address': (t) => {
    const m = parseMac(t);
    return m !== undefined && m !== 0 && !isMulticastMac(m);
  },
  'host-port': (t) => {
    const hp = parseHostPort(t);
    if (hp === undefined) return false;
    // All-numeric names would be read as IPv4 addresses by resolvers: they must be valid ones.
    return /^[\d.]+$/.test(hp.host) ? parseIp4(hp.host) !== undefined : parseIp(hp.host) !== undefined || HOSTNAME.test(hp.host);
  },
  'listen-address': (t) => {
    const hp = parseHostPort(t);
    return hp !== undefined && (parseIp(hp.host) !== undefined || hp.host === 'localhost');
  },
};

/** The network address of a CIDR, when its host bits are set (`203.0.113.5/24` -> `203.0.113.0/24`). */
export function networkOf(text: string): { readonly hasHostBits: boolean; readonly network: string } | undefined {
  const c = parseCidr(text);
  if (c === undefined) return undefined;
  const net = maskIp(c.addr, c.len);
  return { hasHostBits: net !== c.addr, network: formatCidr({ addr: net, len: c.len }) };
}
