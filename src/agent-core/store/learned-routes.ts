// Every agent's reader of learned routes: per router, watches the hosts' directories and their batch
// znodes and serves the union as topology Route objects (origin 'bgp'), the same array while
// unchanged. A gateway's batches vanish with its session. DESIGN: Store (learned routes); BGP import.
import type { Id, Route } from '../topology/index.js';
import { decodeRouteBatch } from './learned-routes-format.js';
import { storeLogger, type Logger } from './log.js';
import { decodeId, StorePaths } from './paths.js';
import type { ZkClient, ZkWatchEvent } from './zk-client.js';

export { LearnedRoutesWriter, type LearnedRoutesWriterOptions } from './learned-routes-writer.js';
export type { LearnedRoute } from './learned-routes-format.js';

interface RouterRoutes {
  readonly routerId: Id;
  readonly dir: string;
  loaded: boolean;
  /** Host directory path → host id. */
  readonly hosts: Map<string, Id>;
  /** Batch path → its routes. */
  readonly batches: Map<string, readonly Route[]>;
  merged: readonly Route[] | undefined;
  waiters: (() => void)[];
}

type Watched = { readonly kind: 'routesDir' | 'hostDir' | 'batch'; readonly router: RouterRoutes; readonly hostId?: Id };

export class LearnedRoutesReader {
  private readonly paths: StorePaths;
  private readonly log: Logger;
  private readonly routers = new Map<Id, RouterRoutes>();
  private readonly watched = new Map<string, Watched>();
  private readonly busy = new Map<string, { again: boolean }>();
  private listeners: readonly ((routerId: Id) => void)[] = [];
  private readonly pendingEmit = new Set<Id>();
  private emitScheduled = false;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    private readonly zk: ZkClient,
    options: { readonly root?: string; readonly logger?: Logger } = {},
  ) {
    this.paths = new StorePaths(options.root);
    this.log = storeLogger(options.logger, 'learned-routes');
    this.unsubscribe.push(zk.onWatch((e) => this.onWatch(e)));
    this.unsubscribe.push(
      zk.onState((s) => {
        if (s !== 'connected') return;
        for (const [path, w] of this.watched) void this.refresh(path, w);
      }),
    );
  }

  close(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }

  /** Learned routes of every host for the router; undefined while loading (the load starts on the first call). */
  routesOf(routerId: Id): readonly Route[] | undefined {
    const r = this.router(routerId);
    if (!r.loaded) return undefined;
    if (r.merged === undefined) {
      const all: Route[] = [];
      for (const batch of r.batches.values()) for (const route of batch) all.push(route);
      r.merged = Object.freeze(all);
    }
    return r.merged;
  }

  async ensure(routerId: Id): Promise<readonly Route[]> {
    const r = this.router(routerId);
    if (!r.loaded) await new Promise<void>((resolve) => r.waiters.push(resolve));
    return this.routesOf(routerId) ?? [];
  }

  /** Called (once per tick at most per router) after the router's learned routes changed. */
  onChange(listener: (routerId: Id) => void): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  // --- internals ---

  private router(routerId: Id): RouterRoutes {
    const known = this.routers.get(routerId);
    if (known === undefined) {
      const r: RouterRoutes = { routerId, dir: this.paths.routesDir(routerId), loaded: false, hosts: new Map(), batches: new Map(), merged: undefined, waiters: [] };
      this.routers.set(routerId, r);
      const w: Watched = { kind: 'routesDir', router: r };
      this.watched.set(r.dir, w);
      void this.refresh(r.dir, w).then(() => {
        r.loaded = true;
        for (const f of r.waiters.splice(0)) f();
      });
      return r;
    }
    return known;
  }

  private onWatch(e: ZkWatchEvent): void {
    const w = this.watched.get(e.path);
    if (w !== undefined) void this.refresh(e.path, w);
  }

  /** Re-reads one watched znode with a new watch; a notification arriving meanwhile makes it read again. */
  private async refresh(path: string, w: Watched): Promise<void> {
    const state = this.busy.get(path);
    if (state !== undefined) {
      state.again = true;
      return;
    }
    const me = { again: false };
    this.busy.set(path, me);
    try {
      do {
        me.again = false;
        if (w.kind === 'batch') await this.readBatch(path, w);
        else await this.readDir(path, w);
      } while (me.again);
    } catch (err) {
      this.log.warn({ path, err }, 'reading learned routes failed; will retry on the next session event');
    } finally {
      this.busy.delete(path);
    }
  }

  private async readDir(path: string, w: Watched): Promise<void> {
    const r = w.router;
    const res = await this.zk.getChildren(path, true);
    if (res === undefined) {
      // Not there (yet): watch for its creation; whatever was below it is gone.
      if (w.kind === 'routesDir') await this.zk.exists(path, true);
      else this.watched.delete(path);
      this.dropBelow(r, path);
      return;
    }
    const names = new Set(res.children.map((c) => `${path}/${c}`));
    this.dropBelow(r, path, names);
    const loads: Promise<void>[] = [];
    for (const child of names) {
      if (this.watched.has(child)) continue;
      const cw: Watched =
        w.kind === 'routesDir'
          ? { kind: 'hostDir', router: r, hostId: decodeId(child.slice(path.length + 1)) }
          : { kind: 'batch', router: r, hostId: w.hostId };
      if (cw.kind === 'hostDir') r.hosts.set(child, cw.hostId as Id);
      this.watched.set(child, cw);
      loads.push(this.refresh(child, cw));
    }
    await Promise.all(loads);
  }

  /** Forgets watched paths under `dir` whose child of `dir` is not in `keep`. */
  private dropBelow(r: RouterRoutes, dir: string, keep?: ReadonlySet<string>): void {
    for (const p of [...this.watched.keys()]) {
      if (!p.startsWith(`${dir}/`)) continue;
      const rest = p.slice(dir.length + 1);
      const slash = rest.indexOf('/');
      if (keep?.has(slash < 0 ? p : `${dir}/${rest.slice(0, slash)}`) === true) continue;
      this.watched.delete(p);
      r.hosts.delete(p);
      if (r.batches.delete(p)) this.changed(r);
    }
  }

  private async readBatch(path: string, w: Watched): Promise<void> {
    const r = w.router;
    const res = await this.zk.getData(path, true);
    if (res === undefined) {
      this.watched.delete(path);
      if (r.batches.delete(path)) this.changed(r);
      return;
    }
    const dec = decodeRouteBatch(res.data, r.routerId, w.hostId ?? '');
    if (!dec.ok) {
      this.log.error({ path, error: dec.error }, `skipping learned route batch ${path}: ${dec.error}`);
      if (r.batches.delete(path)) this.changed(r);
      return;
    }
    r.batches.set(path, dec.value);
    this.changed(r);
  }

  private changed(r: RouterRoutes): void {
    r.merged = undefined;
    if (!r.loaded) return;
    this.pendingEmit.add(r.routerId);
    if (this.emitScheduled) return;
    this.emitScheduled = true;
    setImmediate(() => {
      this.emitScheduled = false;
      const ids = [...this.pendingEmit];
      this.pendingEmit.clear();
      for (const id of ids) for (const l of this.listeners) l(id);
    });
  }
}
