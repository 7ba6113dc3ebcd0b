// Learned MAC → port tables per bridge and VLAN, replicated through ZooKeeper: the MacTableView the
// simulator reads, the learning the shell writes, and change events carrying the flow tag to
// invalidate. DESIGN: Store (/tables/bridges/{id}/mac/{vlan}/{mac},{port},{seq}); Virtual topology (Bridge).
import { parseMac, type Mac } from '../packet/addr.js';
import { macTag, macText } from '../simulation/tags.js';
import type { MacTableView } from '../simulation/types.js';
import type { Id } from '../topology/index.js';
import { storeLogger, type Logger } from './log.js';
import { decodeId, encodeId, StorePaths } from './paths.js';
import { SeqEntryMap } from './seq-entry-map.js';
import type { ZkClient } from './zk-client.js';

export interface MacChange {
  readonly bridgeId: Id;
  readonly vlanId: number;
  readonly mac: Mac;
  /** The port the MAC is now at; null when no host has an entry any more. */
  readonly portId: Id | null;
  /** The flow tag to invalidate ("mac:<bridge>:<vlan>:<mac>"). */
  readonly tag: string;
}

/**
 * Entries are owned by the host that learned them and vanish with its session. After a session
 * expiry this host does not re-create its entries: the next frame from each MAC learns it again,
 * and a stale entry re-created late could override a newer location learned elsewhere.
 */
export class MacTable implements MacTableView {
  private readonly paths: StorePaths;
  private readonly map: SeqEntryMap;
  /** dir path → [bridgeId, vlanId]. */
  private readonly dirs = new Map<string, readonly [Id, number]>();
  /** bridgeId → vlanId → dir path: lookups run per simulated hop, paths are built once. */
  private readonly dirOf = new Map<Id, Map<number, string>>();

  constructor(zk: ZkClient, options: { readonly root?: string; readonly logger?: Logger } = {}) {
    this.paths = new StorePaths(options.root);
    this.map = new SeqEntryMap(zk, storeLogger(options.logger, 'mac-table'));
  }

  close(): void {
    this.map.close();
  }

  /** The port of the MAC; null = known absent (flood); undefined = table not loaded yet (its load starts). */
  lookup(bridgeId: Id, vlanId: number, mac: Mac): Id | null | undefined {
    const v = this.map.lookup(this.dir(bridgeId, vlanId), macText(mac));
    return v === undefined || v === null ? v : decodeId(v);
  }

  /** Resolves once the bridge's table for that VLAN is loaded. */
  ensure(bridgeId: Id, vlanId: number): Promise<void> {
    return this.map.ensure(this.dir(bridgeId, vlanId));
  }

  /** Records that the MAC is at the port (as this host's entry); a no-op if that is already what wins. */
  learn(bridgeId: Id, vlanId: number, mac: Mac, portId: Id): Promise<void> {
    return this.map.put(this.dir(bridgeId, vlanId), macText(mac), encodeId(portId));
  }

  /** Removes this host's entry for the MAC (only if it points at `portId`, when given). */
  forget(bridgeId: Id, vlanId: number, mac: Mac, portId?: Id): Promise<void> {
    return this.map.remove(this.dir(bridgeId, vlanId), macText(mac), portId === undefined ? undefined : encodeId(portId));
  }

  /** Every MAC's winning port in a loaded table. */
  entries(bridgeId: Id, vlanId: number): Map<Mac, Id> {
    const out = new Map<Mac, Id>();
    for (const [k, v] of this.map.entries(this.dir(bridgeId, vlanId))) {
      const mac = parseMac(k);
      if (mac !== undefined) out.set(mac, decodeId(v));
    }
    return out;
  }

  onChange(listener: (change: MacChange) => void): () => void {
    return this.map.onChange((dir, key, value) => {
      const where = this.dirs.get(dir);
      const mac = parseMac(key);
      if (where === undefined || mac === undefined) return;
      const [bridgeId, vlanId] = where;
      listener({ bridgeId, vlanId, mac, portId: value === null ? null : decodeId(value), tag: macTag(bridgeId, vlanId, mac) });
    });
  }

  private dir(bridgeId: Id, vlanId: number): string {
    let byVlan = this.dirOf.get(bridgeId);
    if (byVlan === undefined) this.dirOf.set(bridgeId, (byVlan = new Map()));
    let path = byVlan.get(vlanId);
    if (path === undefined) {
      path = this.paths.macVlanDir(bridgeId, vlanId);
      byVlan.set(vlanId, path);
      if (!this.dirs.has(path)) this.dirs.set(path, [bridgeId, vlanId]);
    }
    return path;
  }
}
