// The BGP role's settings from the agent's YAML (DESIGN: BGP; Gateway roles — peers, ASNs,
// passwords, timers, multihop and families come from the uplinks): the `bgp` section is the global
// part, every uplink's `peers` become peers of that uplink. Pure.
import { isIp6, parseCidr, parseIp, type IpAddr } from '../../agent-core/packet/index.js';
import type { BgpConfig as RoleConfig, BgpPeerConfig as RolePeer } from '../../bgp/index.js';
import type { TollgateConfig, UplinkConfig } from '../config/index.js';

/** The uplink port's own addresses (without prefix lengths). */
export function uplinkAddresses(u: UplinkConfig): IpAddr[] {
  return u.port.address.flatMap((text) => {
    const c = parseCidr(text);
    return c === undefined ? [] : [c.addr];
  });
}

/** Uplinks that carry at least one BGP peer. */
export function peeringUplinks(config: TollgateConfig): UplinkConfig[] {
  return config.uplinks.filter((u) => u.peers.length > 0);
}

/** The role's config, or undefined when this agent has no `bgp` section (no BGP role). */
export function bgpRoleConfigOf(config: TollgateConfig): RoleConfig | undefined {
  if (config.bgp === undefined) return undefined;
  const peers: RolePeer[] = [];
  for (const u of config.uplinks) {
    const addrs = u.port.address.map((t) => t.split('/')[0]!);
    for (const p of u.peers) {
      const peerIp = parseIp(p.address);
      // The session is sourced from the uplink's address of the peer's family (the next hop the peer sees).
      const local = addrs.find((a) => {
        const ip = parseIp(a);
        return ip !== undefined && peerIp !== undefined && isIp6(ip) === isIp6(peerIp);
      });
      peers.push({
        address: p.address,
        asn: p.asn,
        ...(p.password !== undefined && { password: p.password }),
        holdTime: p.holdTime,
        keepalive: p.keepalive,
        ...(p.multihop !== undefined && { multihop: { ttl: p.multihop } }),
        families: [...p.families],
        ...(p.maxPrefixes !== undefined && { maxPrefixes: { limit: p.maxPrefixes.limit, action: p.maxPrefixes.action } }),
        ...(local !== undefined && { localAddress: local }),
        uplink: u.name,
        uplinkPortId: u.port.id,
      });
    }
  }
  return {
    global: { asn: config.bgp.asn, routerId: config.bgp.routerId, listenPort: config.bgp.listenPort },
    peers,
  };
}
