// The agent's watched cache of the topology: a TopologyView over ZooKeeper that loads objects on
// demand, watches each loaded znode (and its reference children: a device's ports, a router's
// routes, a port's groups), re-reads after every notification, and serves from memory while the
// session is down. DESIGN: Store (agents load devices on demand, watch them, keep serving from cache).
import {
  idsDiff,
  objectTypeOf,
  stableIds,
  topologyChange,
  TOPOLOGY_OBJECT_TYPES,
  TypedTopologyView,
  type Id,
  type Route,
  type TopologyChange,
  type TopologyChangeListener,
  type TopologyObject,
  type TopologyObjectOf,
  type TopologyObjectType,
} from '../topology/index.js';
import { decodeTopologyObject } from './codec.js';
import { LearnedRoutesReader } from './learned-routes.js';
import { storeLogger, type Logger } from './log.js';
import { decodeId, parseRefName, StorePaths } from './paths.js';
import type { ZkClient, ZkWatchEvent } from './zk-client.js';

export interface TopologyCacheOptions {
  readonly root?: string;
  readonly logger?: Logger;
  /** Merge learned (BGP) routes of every host into routes(routerId); default true. */
  readonly learnedRoutes?: boolean;
}

/** An object's first load finished: `present` false when it does not exist (or is unreadable). */
export interface TopologyLoadEvent {
  readonly objectType: TopologyObjectType;
  readonly id: Id;
  readonly present: boolean;
}

type Status = 'loading' | 'present' | 'absent' | 'invalid';

interface Entry {
  readonly type: TopologyObjectType;
  readonly id: Id;
  readonly path: string;
  status: Status;
  obj: TopologyObject | undefined;
  raw: Buffer | undefined;
  /** Referrers by type, for the types whose referrers are derived views (device → ports, router → routes, port → groups). */
  referrers: ReadonlyMap<string, readonly Id[]> | undefined;
  loaded: boolean;
  waiters: (() => void)[];
  reading: boolean;
  readAgain: boolean;
  listing: boolean;
  listAgain: boolean;
}

const EMPTY: readonly never[] = Object.freeze([]);
const TRACKS_REFERRERS: ReadonlySet<TopologyObjectType> = new Set(['bridge', 'router', 'port']);

export class ZkTopologyCache extends TypedTopologyView {
  /** Bumped on every change of a rule object (TopologyView.ruleGeneration). */
  ruleGeneration = 0;
  private readonly paths: StorePaths;
  private readonly log: Logger;
  /** Entries per type, then id: the simulation reads these on every hop, so no composite string key. */
  private readonly entries = new Map<TopologyObjectType, Map<Id, Entry>>();
  private readonly byPath = new Map<string, Entry>();
  private readonly typeByDir = new Map<string, TopologyObjectType>();
  private readonly dirArmed = new Set<TopologyObjectType>();
  private readonly routesMemo = new Map<Id, readonly Route[]>();
  /** The last complete routes of each router, served while a newly listed route is still loading. */
  private readonly routesLast = new Map<Id, readonly Route[]>();
  private readonly learned: LearnedRoutesReader | undefined;
  private changeListeners: readonly TopologyChangeListener[] = [];
  private loadListeners: readonly ((e: TopologyLoadEvent) => void)[] = [];
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    private readonly zk: ZkClient,
    options: TopologyCacheOptions = {},
  ) {
    super();
    this.paths = new StorePaths(options.root);
    this.log = storeLogger(options.logger, 'topology-cache');
    for (const t of TOPOLOGY_OBJECT_TYPES) {
      this.typeByDir.set(this.paths.typeDir(t), t);
      this.entries.set(t, new Map());
    }
    this.unsubscribe.push(zk.onWatch((e) => this.onWatch(e)));
    this.unsubscribe.push(
      zk.onState((state) => {
        if (state === 'connected') this.catchUp();
      }),
    );
    if (options.learnedRoutes !== false) {
      this.learned = new LearnedRoutesReader(zk, { root: options.root, logger: options.logger });
      this.learned.onChange((routerId) => {
        this.routesMemo.delete(routerId);
        this.emit([{ objectType: 'route', id: `bgp:${routerId}`, change: 'updated', tags: [`route:${routerId}`] }]);
      });
    }
  }

  /** Stops watching (the cache keeps what it holds but no longer follows changes). */
  close(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    this.learned?.close();
  }

  // --- TopologyView (the object getters come from TypedTopologyView) ---

  portsOf(deviceId: Id): readonly Id[] | undefined {
    const e = this.presentDevice(deviceId);
    return e?.referrers?.get('port');
  }

  routes(routerId: Id): readonly Route[] | undefined {
    const memo = this.routesMemo.get(routerId);
    if (memo !== undefined && this.entriesOf('router').get(routerId)?.status === 'present') return memo;
    const r = this.entry('router', routerId);
    if (r.status !== 'present' || r.referrers === undefined) return undefined;
    const learned = this.learned === undefined ? EMPTY : this.learned.routesOf(routerId);
    const out: Route[] = [];
    let complete = learned !== undefined;
    for (const id of r.referrers.get('route') ?? EMPTY) {
      const e = this.entry('route', id);
      if (!e.loaded) complete = false;
      else if (e.status === 'present' && (e.obj as Route).routerId === routerId) out.push(e.obj as Route);
    }
    if (!complete || learned === undefined) return this.routesLast.get(routerId);
    const all = Object.freeze(learned.length === 0 ? out : out.concat(learned));
    this.routesMemo.set(routerId, all);
    this.routesLast.set(routerId, all);
    return all;
  }

  portGroupsOf(portId: Id): readonly Id[] {
    const e = this.entry('port', portId);
    return e.status === 'present' ? (e.referrers?.get('portGroup') ?? EMPTY) : EMPTY;
  }

  // --- loading API for the agent ---

  /** The object once loaded (undefined if absent or unreadable); for devices, once their ports are listed too. */
  async ensure<T extends TopologyObjectType>(type: T, id: Id): Promise<TopologyObjectOf<T> | undefined> {
    const e = this.entry(type, id);
    if (!e.loaded) await new Promise<void>((resolve) => e.waiters.push(resolve));
    return (e.status === 'present' ? e.obj : undefined) as TopologyObjectOf<T> | undefined;
  }

  /** Same as ensure: resolves when the object has been loaded (present or not). */
  whenLoaded<T extends TopologyObjectType>(type: T, id: Id): Promise<TopologyObjectOf<T> | undefined> {
    return this.ensure(type, id);
  }

  /** A router's routes once the router, its static routes and the learned routes of every host are loaded. */
  async ensureRoutes(routerId: Id): Promise<readonly Route[] | undefined> {
    const router = await this.ensure('router', routerId);
    if (router === undefined) return undefined;
    const ids = this.entry('router', routerId).referrers?.get('route') ?? EMPTY;
    await Promise.all([...ids.map((id) => this.ensure('route', id)), this.learned?.ensure(routerId)]);
    return this.routes(routerId);
  }

  isLoaded(type: TopologyObjectType, id: Id): boolean {
    return this.entriesOf(type).get(id)?.loaded === true;
  }

  onChange(listener: TopologyChangeListener): () => void {
    this.changeListeners = [...this.changeListeners, listener];
    return () => {
      this.changeListeners = this.changeListeners.filter((l) => l !== listener);
    };
  }

  /** Called when an object's first load completes: re-run simulations parked on it. */
  onLoaded(listener: (e: TopologyLoadEvent) => void): () => void {
    this.loadListeners = [...this.loadListeners, listener];
    return () => {
      this.loadListeners = this.loadListeners.filter((l) => l !== listener);
    };
  }

  // --- internals ---

  protected get<T extends TopologyObjectType>(type: T, id: Id): TopologyObjectOf<T> | undefined {
    const e = this.entry(type, id);
    return (e.status === 'present' ? e.obj : undefined) as TopologyObjectOf<T> | undefined;
  }

  private presentDevice(deviceId: Id): Entry | undefined {
    const b = this.entry('bridge', deviceId);
    if (b.status === 'present') return b;
    const r = this.entry('router', deviceId);
    return r.status === 'present' ? r : undefined;
  }

  private entriesOf(type: TopologyObjectType): Map<Id, Entry> {
    let m = this.entries.get(type);
    // Only for a type the list above lacks (a caller's bad type): kept apart all the same.
    if (m === undefined) this.entries.set(type, (m = new Map()));
    return m;
  }

  private *allEntries(): IterableIterator<Entry> {
    for (const m of this.entries.values()) yield* m.values();
  }

  /** The entry, created (and its first read started) on a miss. */
  private entry(type: TopologyObjectType, id: Id): Entry {
    const byId = this.entriesOf(type);
    let e = byId.get(id);
    if (e === undefined) {
      let path: string;
      try {
        path = this.paths.object(type, id);
      } catch {
        // An id that cannot name a znode names no object.
        e = newEntry(type, id, '');
        e.status = 'absent';
        e.loaded = true;
        byId.set(id, e);
        return e;
      }
      e = newEntry(type, id, path);
      byId.set(id, e);
      this.byPath.set(path, e);
      void this.readData(e);
    }
    return e;
  }

  private onWatch(ev: ZkWatchEvent): void {
    const e = this.byPath.get(ev.path);
    if (e !== undefined) {
      if (ev.type === 'childrenChanged') void this.readReferrers(e);
      else {
        void this.readData(e);
        if (ev.type === 'deleted' && TRACKS_REFERRERS.has(e.type)) void this.readReferrers(e);
      }
      return;
    }
    const type = this.typeByDir.get(ev.path);
    if (type !== undefined) {
      this.dirArmed.delete(type);
      void this.watchTypeDir(type);
    }
  }

  /** Re-reads everything held: after a reconnect the notifications of the gap may be lost. */
  private catchUp(): void {
    this.dirArmed.clear();
    for (const e of this.allEntries()) {
      if (e.path === '') continue;
      void this.readData(e);
      if (e.referrers !== undefined) void this.readReferrers(e);
    }
  }

  /** Reads the znode with a new watch; a notification arriving meanwhile makes it read once more. */
  private async readData(e: Entry): Promise<void> {
    if (e.reading) {
      e.readAgain = true;
      return;
    }
    e.reading = true;
    let ok = false;
    try {
      do {
        e.readAgain = false;
        const res = await this.zk.getData(e.path, true);
        if (res === undefined) {
          this.setObject(e, 'absent', undefined, undefined);
          void this.watchTypeDir(e.type);
        } else if (e.raw === undefined || !res.data.equals(e.raw) || e.status === 'absent') {
          const dec = decodeTopologyObject(e.type, e.id, res.data);
          if (dec.ok) this.setObject(e, 'present', dec.value, res.data);
          else {
            this.log.error({ path: e.path, error: dec.error }, `skipping ${e.type} ${e.id}: ${dec.error}`);
            this.setObject(e, 'invalid', undefined, res.data);
          }
        }
        if (e.status === 'present' && TRACKS_REFERRERS.has(e.type) && e.referrers === undefined) await this.readReferrers(e);
      } while (e.readAgain);
      ok = true;
    } catch (err) {
      this.log.warn({ path: e.path, err }, 'read failed; will retry on the next session event');
    } finally {
      e.reading = false;
    }
    if (ok) this.markLoaded(e);
  }

  private setObject(e: Entry, status: Status, obj: TopologyObject | undefined, raw: Buffer | undefined): void {
    const before = e.obj;
    e.status = status;
    e.obj = obj;
    e.raw = raw;
    if (status !== 'present') e.referrers = undefined;
    if (status !== 'present' && e.type === 'router') this.routesLast.delete(e.id);
    if (before === obj) return;
    if (e.type === 'rule') this.ruleGeneration++;
    this.invalidateRoutes(before);
    this.invalidateRoutes(obj);
    const change = topologyChange(e.type, e.id, before, obj);
    if (change !== undefined) this.emit([change]);
  }

  private invalidateRoutes(obj: TopologyObject | undefined): void {
    if (obj === undefined) return;
    const t = objectTypeOf(obj);
    if (t === 'route') this.routesMemo.delete((obj as Route).routerId);
    else if (t === 'router') this.routesMemo.delete(obj.id);
  }

  /** Lists the referrer znodes of a device or port with a watch and rebuilds the derived arrays that changed. */
  private async readReferrers(e: Entry): Promise<void> {
    if (e.listing) {
      e.listAgain = true;
      return;
    }
    e.listing = true;
    try {
      do {
        e.listAgain = false;
        const res = await this.zk.getChildren(e.path, true);
        if (res === undefined || e.status !== 'present') {
          e.referrers = undefined;
          continue;
        }
        const byType = new Map<string, Id[]>();
        for (const name of res.children) {
          const r = parseRefName(name);
          if (r === undefined) continue;
          let list = byType.get(r.type);
          if (list === undefined) byType.set(r.type, (list = []));
          list.push(r.id);
        }
        this.updateReferrers(e, byType);
      } while (e.listAgain);
    } catch (err) {
      this.log.warn({ path: e.path, err }, 'listing failed; will retry on the next session event');
    } finally {
      e.listing = false;
    }
  }

  private updateReferrers(e: Entry, byType: Map<string, Id[]>): void {
    const old = e.referrers;
    const next = new Map<string, readonly Id[]>();
    const changes: TopologyChange[] = [];
    const kinds = e.type === 'port' ? ['portGroup'] : e.type === 'router' ? ['port', 'route'] : ['port'];
    for (const kind of kinds) {
      const prev = old?.get(kind);
      const ids = stableIds(prev, (byType.get(kind) ?? []).sort());
      next.set(kind, ids);
      if (ids === prev) continue;
      const { added, removed } = idsDiff(prev ?? EMPTY, ids);
      if (kind === 'port' || kind === 'route') {
        // Load the members so that flooding and the routing table find them; each reports its own arrival.
        for (const id of added) this.entry(kind, id);
        if (kind === 'route') this.routesMemo.delete(e.id);
      } else if (old !== undefined) {
        for (const g of [...added, ...removed]) changes.push({ objectType: 'portGroup', id: g, change: 'updated', tags: [`device:${e.id}`] });
      }
    }
    e.referrers = next;
    this.emit(changes);
  }

  /** Watches a type's directory while objects of that type are known absent, to load them when created. */
  private async watchTypeDir(type: TopologyObjectType): Promise<void> {
    if (this.dirArmed.has(type)) return;
    const absent = [...this.entriesOf(type).values()].filter((e) => e.status === 'absent' && e.path !== '');
    if (absent.length === 0) return;
    this.dirArmed.add(type);
    try {
      const res = await this.zk.getChildren(this.paths.typeDir(type), true);
      if (res === undefined) {
        // The directory itself is missing: watch for its creation.
        await this.zk.exists(this.paths.typeDir(type), true);
        return;
      }
      const listed = new Set(res.children.map(decodeId));
      for (const e of absent) if (listed.has(e.id) && e.status === 'absent') void this.readData(e);
    } catch (err) {
      this.dirArmed.delete(type);
      this.log.warn({ type, err }, 'watching the type directory failed');
    }
  }

  private markLoaded(e: Entry): void {
    if (e.loaded || e.reading) return;
    if (e.status === 'present' && TRACKS_REFERRERS.has(e.type) && e.referrers === undefined) return;
    e.loaded = true;
    for (const w of e.waiters.splice(0)) w();
    const ev: TopologyLoadEvent = { objectType: e.type, id: e.id, present: e.status === 'present' };
    for (const l of this.loadListeners) l(ev);
  }

  private emit(changes: readonly TopologyChange[]): void {
    const listeners = this.changeListeners;
    for (const c of changes) for (const l of listeners) l(c);
  }
}

function newEntry(type: TopologyObjectType, id: Id, path: string): Entry {
  return {
    type,
    id,
    path,
    status: 'loading',
    obj: undefined,
    raw: undefined,
    referrers: undefined,
    loaded: false,
    waiters: [],
    reading: false,
    readAgain: false,
    listing: false,
    listAgain: false,
  };
}
