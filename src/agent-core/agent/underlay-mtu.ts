// The overlay's headroom on the underlay (DESIGN: Tunnels): a frame tunnelled to another host grows
// by the outer IP header, UDP and VXLAN (or GRE with its key), and carries its own Ethernet header.
// If a bound port may send IP packets larger than the underlay leaves room for, the tunnel's
// datagrams exceed the underlay MTU and are fragmented on the way (or dropped where fragments
// are): the agent says so at bind time, naming both MTUs and the fix.
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { isIPv6 } from 'node:net';
import { cidrContains, parseCidr, parseIp } from '../packet/index.js';

export type TunnelType = 'vxlan' | 'gre';

const IPV4_HEADER = 20;
const IPV6_HEADER = 40;
const UDP_HEADER = 8;
const VXLAN_HEADER = 8;
/** GRE with the key field, no checksum (gre-tunnel.ts's default). */
const GRE_KEYED_HEADER = 8;
const ETHERNET_HEADER = 14;

/** Bytes a tunnelled inner IP packet grows by: the outer headers and the inner Ethernet header. */
export function tunnelOverhead(type: TunnelType, underlayIpv6: boolean): number {
  const outerIp = underlayIpv6 ? IPV6_HEADER : IPV4_HEADER;
  return outerIp + (type === 'gre' ? GRE_KEYED_HEADER : UDP_HEADER + VXLAN_HEADER) + ETHERNET_HEADER;
}

export interface Underlay {
  /** The interface carrying the tunnel's address. */
  readonly ifname: string;
  readonly mtu: number;
  /** The largest inner IP packet a tunnelled frame may carry without outgrowing the underlay MTU. */
  readonly maxInnerPacket: number;
}

/**
 * The underlay of a tunnel bound to `address`: the interface that has the address, else the one whose
 * subnet holds it (loopback's 127.0.0.0/8 holds the lab's tunnel addresses); undefined for a
 * wildcard bind or an address on no interface.
 */
export function underlayOf(address: string, type: TunnelType, readMtu: (ifname: string) => number | undefined = sysfsMtu): Underlay | undefined {
  const ip = parseIp(address);
  if (ip === undefined) return undefined;
  const all = Object.entries(networkInterfaces()).flatMap(([ifname, addrs]) => (addrs ?? []).map((a) => ({ ifname, a })));
  const found = all.find(({ a }) => a.address === address) ??
    all.find(({ a }) => {
      const cidr = a.cidr === null ? undefined : parseCidr(a.cidr);
      return cidr !== undefined && cidrContains(cidr, ip);
    });
  if (found === undefined) return undefined;
  const mtu = readMtu(found.ifname);
  return mtu === undefined ? undefined : { ifname: found.ifname, mtu, maxInnerPacket: mtu - tunnelOverhead(type, isIPv6(address)) };
}

/** Why a port's MTU does not fit the underlay, or undefined when it does. */
export function portMtuProblem(portId: string, portMtu: number, underlay: Underlay): string | undefined {
  if (portMtu <= underlay.maxInnerPacket) return undefined;
  const overhead = underlay.mtu - underlay.maxInnerPacket;
  return `port ${portId} may send IP packets of ${portMtu} bytes, but the tunnel adds ${overhead} and the underlay interface ` +
    `${underlay.ifname} has MTU ${underlay.mtu}: set the port's MTU to ${underlay.maxInnerPacket} at most (and the guests' to match), ` +
    `or the underlay's to ${portMtu + overhead}; until then larger packets leave this host fragmented`;
}

function sysfsMtu(ifname: string): number | undefined {
  try {
    const mtu = Number(readFileSync(`/sys/class/net/${ifname}/mtu`, 'utf8').trim());
    return Number.isInteger(mtu) && mtu > 0 ? mtu : undefined;
  } catch {
    return undefined;
  }
}
