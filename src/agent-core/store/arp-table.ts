// ARP (IPv4) and neighbour (IPv6) caches per router, replicated through ZooKeeper: the ArpTableView
// the simulator reads, the entries the shell writes, and change events with the flow tag.
// DESIGN: Store (/tables/routers/{id}/arp/{ip},{mac},{seq}); Virtual topology (Router).
import { formatIp, formatMac, parseIp, parseMac, type IpAddr, type Mac } from '../packet/addr.js';
import { arpTag } from '../simulation/tags.js';
import type { ArpTableView } from '../simulation/types.js';
import type { Id } from '../topology/index.js';
import { storeLogger, type Logger } from './log.js';
import { StorePaths } from './paths.js';
import { SeqEntryMap } from './seq-entry-map.js';
import type { ZkClient } from './zk-client.js';

export interface ArpChange {
  readonly routerId: Id;
  readonly ip: IpAddr;
  /** null when no host has an entry any more. */
  readonly mac: Mac | null;
  /** The flow tag to invalidate ("arp:<router>:<ip>"). */
  readonly tag: string;
}

const MAX_PARSED = 4096;

/** Entries are owned by the host that resolved them; like MAC entries they are not re-created after a session expiry. */
export class ArpTable implements ArpTableView {
  private readonly paths: StorePaths;
  private readonly map: SeqEntryMap;
  private readonly dirs = new Map<string, Id>();
  /** routerId → dir path, built once. */
  private readonly dirOf = new Map<Id, string>();
  /** Stored MAC text → MAC, so that a lookup per simulated hop does not parse (cleared past MAX_PARSED). */
  private readonly parsed = new Map<string, Mac | undefined>();

  constructor(zk: ZkClient, options: { readonly root?: string; readonly logger?: Logger } = {}) {
    this.paths = new StorePaths(options.root);
    this.map = new SeqEntryMap(zk, storeLogger(options.logger, 'arp-table'));
  }

  close(): void {
    this.map.close();
  }

  /** The MAC for the IP; undefined when there is no entry or the router's table is still loading (its load starts). */
  lookup(routerId: Id, ip: IpAddr): Mac | undefined {
    const v = this.map.lookup(this.dir(routerId), formatIp(ip));
    if (typeof v !== 'string') return undefined;
    if (this.parsed.has(v)) return this.parsed.get(v);
    const mac = parseMac(v);
    if (this.parsed.size >= MAX_PARSED) this.parsed.clear();
    this.parsed.set(v, mac);
    return mac;
  }

  isLoaded(routerId: Id): boolean {
    return this.map.isLoaded(this.dir(routerId));
  }

  ensure(routerId: Id): Promise<void> {
    return this.map.ensure(this.dir(routerId));
  }

  learn(routerId: Id, ip: IpAddr, mac: Mac): Promise<void> {
    return this.map.put(this.dir(routerId), formatIp(ip), formatMac(mac));
  }

  forget(routerId: Id, ip: IpAddr): Promise<void> {
    return this.map.remove(this.dir(routerId), formatIp(ip));
  }

  entries(routerId: Id): Map<string, Mac> {
    const out = new Map<string, Mac>();
    for (const [k, v] of this.map.entries(this.dir(routerId))) {
      const mac = parseMac(v);
      if (mac !== undefined) out.set(k, mac);
    }
    return out;
  }

  onChange(listener: (change: ArpChange) => void): () => void {
    return this.map.onChange((dir, key, value) => {
      const routerId = this.dirs.get(dir);
      const ip = parseIp(key);
      if (routerId === undefined || ip === undefined) return;
      const mac = value === null ? null : (parseMac(value) ?? null);
      listener({ routerId, ip, mac, tag: arpTag(routerId, ip) });
    });
  }

  private dir(routerId: Id): string {
    let path = this.dirOf.get(routerId);
    if (path === undefined) {
      path = this.paths.arpDir(routerId);
      this.dirOf.set(routerId, path);
      if (!this.dirs.has(path)) this.dirs.set(path, routerId);
    }
    return path;
  }
}
