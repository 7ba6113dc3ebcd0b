// Flow tags naming what a simulated flow depends on (DESIGN: Flows): spelled only here, so that the
// simulator and whoever invalidates flows (MAC/ARP table watchers, topology changes) agree.
import { formatIp, type IpAddr, type Mac } from '../packet/addr.js';
import type { Id } from '../topology/types.js';

// Interned per id: a walk tags every device it touches, and building the same strings per packet
// would cost more than the lookup. Ids are bounded by the topology; the cap only guards a leak.
const INTERN_LIMIT = 1 << 16;
const deviceTags = new Map<Id, string>();
const routeTags = new Map<Id, string>();

function interned(cache: Map<Id, string>, prefix: string, id: Id): string {
  let t = cache.get(id);
  if (t === undefined) {
    if (cache.size >= INTERN_LIMIT) cache.clear();
    t = prefix + id;
    cache.set(id, t);
  }
  return t;
}

/** "device:<id>": a bridge, router, port or chain. */
export function deviceTag(id: Id): string {
  return interned(deviceTags, 'device:', id);
}

/** "route:<routerId>": any route of the router (its table is rebuilt on any route change). */
export function routeTag(routerId: Id): string {
  return interned(routeTags, 'route:', routerId);
}

const HEX2: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** A MAC as "aa:bb:cc:dd:ee:ff" (the same text as formatMac, without a regex per call). */
export function macText(mac: Mac): string {
  const hi = Math.floor(mac / 0x100000000);
  const lo = mac >>> 0;
  return `${HEX2[(hi >>> 8) & 255]}:${HEX2[hi & 255]}:${HEX2[lo >>> 24]}:${HEX2[(lo >>> 16) & 255]}:${HEX2[(lo >>> 8) & 255]}:${HEX2[lo & 255]}`;
}

/** "mac:<bridgeId>:<vlanId>:<mac>": one MAC table entry (vlanId is VLAN_NONE for untagged). */
export function macTag(bridgeId: Id, vlanId: number, mac: Mac): string {
  return `mac:${bridgeId}:${vlanId}:${macText(mac)}`;
}

/** "arp:<routerId>:<ip>": one ARP/ND cache entry. */
export function arpTag(routerId: Id, ip: IpAddr): string {
  return `arp:${routerId}:${formatIp(ip)}`;
}
