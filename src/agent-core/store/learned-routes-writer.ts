// A gateway's writer of its learned routes: keeps the desired set in memory, spreads it over batch
// znodes by hash, writes only the batches that changed in multis bounded in bytes, and re-creates
// every batch after a session expiry. DESIGN: Store (learned routes, ephemeral, batched); BGP import.
import type { Id } from '../topology/index.js';
import { ConnectionLossError } from './errors.js';
import { encodeRouteBatch, hash32, learnedRouteKey, type LearnedRoute } from './learned-routes-format.js';
import { storeLogger, type Logger } from './log.js';
import { StorePaths } from './paths.js';
import { zkErrorCode, ZK_NODE_EXISTS, ZK_NO_NODE, type ZkClient, type ZkOp } from './zk-client.js';

export interface LearnedRoutesWriterOptions {
  readonly routerId: Id;
  readonly hostId: Id;
  readonly root?: string;
  readonly logger?: Logger;
  /** Target routes per batch znode. */
  readonly routesPerBatch?: number;
  /** Bytes of data per multi: ZooKeeper refuses requests over jute.maxbuffer (1 MiB by default). */
  readonly maxTransactionBytes?: number;
}

export class LearnedRoutesWriter {
  private readonly paths: StorePaths;
  private readonly log: Logger;
  private readonly dir: string;
  private readonly perBatch: number;
  private readonly maxBytes: number;
  private readonly desired = new Map<string, LearnedRoute>();
  private bucketCount = 1;
  /** Batch name → bytes as last written in this session. */
  private written = new Map<string, Buffer>();
  private dirty = new Set<number>();
  /** The stored batches are not known (new session, lost connection): list them before writing. */
  private unknown = true;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly offState: () => void;

  constructor(
    private readonly zk: ZkClient,
    options: LearnedRoutesWriterOptions,
  ) {
    this.paths = new StorePaths(options.root);
    this.log = storeLogger(options.logger, 'learned-routes');
    this.dir = this.paths.routesHostDir(options.routerId, options.hostId);
    this.perBatch = options.routesPerBatch ?? 1000;
    this.maxBytes = options.maxTransactionBytes ?? 512 * 1024;
    this.offState = zk.onState((state, { newSession }) => {
      if (state !== 'connected' || !newSession || this.closed) return;
      // The old session's batches died with it: write every batch again.
      this.written.clear();
      this.unknown = true;
      this.markAllDirty();
      void this.enqueue().catch((err: unknown) => this.log.error({ err }, 're-creating learned routes after session expiry failed'));
    });
  }

  get size(): number {
    return this.desired.size;
  }

  /** Makes the stored routes exactly `routes`. */
  replaceAll(routes: Iterable<LearnedRoute>): Promise<void> {
    const next = new Map<string, LearnedRoute>();
    for (const r of routes) next.set(learnedRouteKey(r), r);
    for (const [k, r] of this.desired) if (!next.has(k)) this.remove(k, r);
    for (const [k, r] of next) this.add(k, r);
    return this.enqueue();
  }

  /** Adds (or replaces) and withdraws routes. */
  update(changes: { readonly add?: Iterable<LearnedRoute>; readonly remove?: Iterable<LearnedRoute> }): Promise<void> {
    for (const r of changes.remove ?? []) this.remove(learnedRouteKey(r), r);
    for (const r of changes.add ?? []) this.add(learnedRouteKey(r), r);
    return this.enqueue();
  }

  /** Withdraws every route (BGP session down). */
  clear(): Promise<void> {
    return this.replaceAll([]);
  }

  /** Stops following the session; the batches stay until this session ends. */
  close(): void {
    this.closed = true;
    this.offState();
  }

  // --- internals ---

  private add(k: string, r: LearnedRoute): void {
    const old = this.desired.get(k);
    if (old !== undefined && old.weight === r.weight) return;
    this.desired.set(k, r);
    this.dirty.add(hash32(k) % this.bucketCount);
  }

  private remove(k: string, _r: LearnedRoute): void {
    if (this.desired.delete(k)) this.dirty.add(hash32(k) % this.bucketCount);
  }

  private markAllDirty(): void {
    for (let i = 0; i < this.bucketCount; i++) this.dirty.add(i);
  }

  /** Syncs are serialized: one writer, applied in order. */
  private enqueue(): Promise<void> {
    const run = this.chain.then(() => this.sync());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async sync(): Promise<void> {
    if (this.unknown) await this.readBack();
    // Keep batches near perBatch: grow or shrink the bucket count by powers of two (rewrites all).
    let count = this.bucketCount;
    while (this.desired.size > count * this.perBatch) count *= 2;
    while (count > 1 && this.desired.size < (count * this.perBatch) / 4) count /= 2;
    if (count !== this.bucketCount) {
      this.bucketCount = count;
      this.markAllDirty();
    }
    if (this.dirty.size === 0) return;
    const buckets = new Map<number, LearnedRoute[]>();
    for (const i of this.dirty) buckets.set(i, []);
    for (const [k, r] of this.desired) buckets.get(hash32(k) % count)?.push(r);
    const target = new Map<string, Buffer>();
    for (const [i, routes] of buckets) if (routes.length > 0) target.set(batchName(count, i), encodeRouteBatch(routes));
    const creates: ZkOp[] = [];
    const removes: ZkOp[] = [];
    for (const [name, data] of target) {
      const old = this.written.get(name);
      if (old === undefined) creates.push({ op: 'create', path: `${this.dir}/${name}`, data, mode: 'ephemeral' });
      else if (!old.equals(data)) creates.push({ op: 'setData', path: `${this.dir}/${name}`, data });
    }
    for (const name of this.written.keys()) {
      const [c, i] = parseBatchName(name);
      // Batches of another bucket count, and dirty buckets that became empty.
      if (c !== count || (this.dirty.has(i) && !target.has(name))) removes.push({ op: 'remove', path: `${this.dir}/${name}` });
    }
    // New batches first, removals last: readers may see a route twice for a moment, never miss it.
    try {
      await this.apply([...creates, ...removes]);
    } catch (err) {
      const code = zkErrorCode(err);
      if (err instanceof ConnectionLossError || code === ZK_NODE_EXISTS || code === ZK_NO_NODE) this.unknown = true;
      throw err;
    }
    for (const [name, data] of target) this.written.set(name, data);
    for (const op of removes) this.written.delete(op.path.slice(this.dir.length + 1));
    this.dirty.clear();
  }

  private async apply(ops: readonly ZkOp[]): Promise<void> {
    let batch: ZkOp[] = [];
    let bytes = 0;
    for (const op of ops) {
      const size = op.op === 'create' || op.op === 'setData' ? (op.data?.length ?? 0) + op.path.length : op.path.length;
      if (batch.length > 0 && (bytes + size > this.maxBytes || batch.length >= 1000)) {
        await this.zk.multi(batch);
        batch = [];
        bytes = 0;
      }
      batch.push(op);
      bytes += size;
    }
    if (batch.length > 0) await this.zk.multi(batch);
  }

  /** Learns which batches exist (after a new session or an unknown outcome) so that the next sync is exact. */
  private async readBack(): Promise<void> {
    await this.zk.mkdirp(this.dir);
    const res = await this.zk.getChildren(this.dir);
    const written = new Map<string, Buffer>();
    await Promise.all(
      (res?.children ?? []).map(async (name) => {
        const d = await this.zk.getData(`${this.dir}/${name}`);
        if (d === undefined) return;
        // A batch still held by an older session of this host would vanish under us: replace it with our own.
        if (d.stat.ephemeralOwner.equals(this.zk.sessionId)) written.set(name, d.data);
        else await this.zk.remove(`${this.dir}/${name}`).catch(() => undefined);
      }),
    );
    this.written = written;
    this.unknown = false;
    this.markAllDirty();
    for (const name of written.keys()) {
      const [c] = parseBatchName(name);
      if (c !== this.bucketCount) this.markAllDirty();
    }
    this.log.debug({ dir: this.dir, batches: written.size }, 'read back learned route batches');
  }
}

function batchName(count: number, index: number): string {
  return `${count}-${index}`;
}

function parseBatchName(name: string): [number, number] {
  const [c, i] = name.split('-').map(Number);
  return [c ?? -1, i ?? -1];
}
