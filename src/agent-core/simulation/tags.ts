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

// MAC and ARP tags, interned per (device, VLAN, MAC) and (router, address) with number and bigint
// keys: a walk through two bridges and two routers would otherwise build four strings per packet
// and hash each anew when it joins the flow's tag set. Bounded like the id tags above.
const macTags = new Map<Id, Map<number, Map<Mac, string>>>();
const arpTags = new Map<Id, Map<IpAddr, string>>();
let entryTags = 0;

function entryTagCache<K, V>(outer: Map<Id, Map<K, V>>, id: Id): Map<K, V> {
  if (entryTags >= INTERN_LIMIT) {
    macTags.clear();
    arpTags.clear();
    entryTags = 0;
  }
  let inner = outer.get(id);
  if (inner === undefined) outer.set(id, (inner = new Map<K, V>()));
  return inner;
}

/** "mac:<bridgeId>:<vlanId>:<mac>": one MAC table entry (vlanId is VLAN_NONE for untagged). */
export function macTag(bridgeId: Id, vlanId: number, mac: Mac): string {
  const byVlan = entryTagCache(macTags, bridgeId);
  let byMac = byVlan.get(vlanId);
  if (byMac === undefined) byVlan.set(vlanId, (byMac = new Map<Mac, string>()));
  let t = byMac.get(mac);
  if (t === undefined) {
    t = `mac:${bridgeId}:${vlanId}:${macText(mac)}`;
    byMac.set(mac, t);
    entryTags++;
  }
  return t;
}

/** "arp:<routerId>:<ip>": one ARP/ND cache entry. */
export function arpTag(routerId: Id, ip: IpAddr): string {
  const byIp = entryTagCache(arpTags, routerId);
  let t = byIp.get(ip);
  if (t === undefined) {
    t = `arp:${routerId}:${formatIp(ip)}`;
    byIp.set(ip, t);
    entryTags++;
  }
  return t;
}
