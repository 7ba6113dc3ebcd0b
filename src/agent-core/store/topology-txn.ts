// One optimistic topology transaction: reads record znode versions, writes are staged, and commit
// validates the staged objects against what they reference, checks referential integrity and
// applies everything in one ZooKeeper multi guarded by those versions. DESIGN: Store (multi-object
// changes are atomic, with version checks so that concurrent writers cannot interleave).
import {
  InMemoryTopology,
  isTopologyObjectType,
  objectTypeOf,
  validateObject,
  type Id,
  type TopologyObject,
  type TopologyObjectOf,
  type TopologyObjectType,
  type ValidationIssue,
} from '../topology/index.js';
import { decodeTopologyObject, encodeTopologyObject } from './codec.js';
import { CorruptObjectError, ObjectInUseError, ValidationError, ZooKeeperError, type Referrer } from './errors.js';
import { parseRefName, type StorePaths } from './paths.js';
import { followForValidation, refKey, refsOf, type ObjectRef } from './refs.js';
import { ZK_BAD_VERSION, type ZkClient, type ZkOp } from './zk-client.js';

interface Snapshot {
  /** undefined: the znode is absent. */
  readonly version: number | undefined;
  readonly obj: TopologyObject | undefined;
  readonly raw: Buffer | undefined;
  readonly corrupt?: string;
}

interface Staged {
  readonly type: TopologyObjectType;
  readonly id: Id;
  /** null: delete. */
  readonly obj: TopologyObject | null;
}

/** How many levels of references are loaded to validate staged objects (jump loops go deeper). */
const VALIDATION_DEPTH = 16;

export class TopologyTransaction {
  private readonly reads = new Map<string, Snapshot>();
  private readonly pending = new Map<string, Promise<Snapshot>>();
  private readonly staged = new Map<string, Staged>();
  /** Objects the caller read: their versions must still hold at commit. */
  private readonly checked = new Set<string>();
  private readonly children = new Map<string, readonly ObjectRef[]>();

  constructor(
    private readonly zk: ZkClient,
    private readonly paths: StorePaths,
  ) {}

  /** The object as this transaction sees it (its own staged writes included). */
  async get<T extends TopologyObjectType>(type: T, id: Id): Promise<TopologyObjectOf<T> | undefined> {
    const key = refKey(type, id);
    const staged = this.staged.get(key);
    if (staged !== undefined) return (staged.obj ?? undefined) as TopologyObjectOf<T> | undefined;
    const snap = await this.load(type, id);
    this.checked.add(key);
    if (snap.corrupt !== undefined) throw new CorruptObjectError(type, id, snap.corrupt);
    return snap.obj as TopologyObjectOf<T> | undefined;
  }

  /** The znode's data version as this transaction read it (undefined: absent). Reads the object if needed. */
  async version(type: TopologyObjectType, id: Id): Promise<number | undefined> {
    await this.get(type, id);
    return this.reads.get(refKey(type, id))?.version;
  }

  /** Objects that name this one (from its reference znodes). */
  async referrers(type: TopologyObjectType, id: Id): Promise<readonly ObjectRef[]> {
    const key = refKey(type, id);
    let refs = this.children.get(key);
    if (refs === undefined) {
      const res = await this.zk.getChildren(this.paths.object(type, id));
      refs = (res?.children ?? []).flatMap((name) => {
        const r = parseRefName(name);
        return r !== undefined && isTopologyObjectType(r.type) ? [{ type: r.type, id: r.id }] : [];
      });
      this.children.set(key, refs);
    }
    return refs;
  }

  put(obj: TopologyObject): void {
    const type = objectTypeOf(obj);
    this.staged.set(refKey(type, obj.id), { type, id: obj.id, obj });
  }

  delete(type: TopologyObjectType, id: Id): void {
    this.staged.set(refKey(type, id), { type, id, obj: null });
  }

  isDeleted(type: TopologyObjectType, id: Id): boolean {
    return this.staged.get(refKey(type, id))?.obj === null;
  }

  get size(): number {
    return this.staged.size;
  }

  /** Validates, checks integrity and applies the staged changes in one multi. Throws on conflict. */
  async commit(): Promise<void> {
    if (this.staged.size === 0 && this.checked.size === 0) return;
    await Promise.all([...this.staged.values()].map((s) => this.load(s.type, s.id)));
    try {
      await this.validate();
      await this.checkIntegrity();
    } catch (e) {
      // Reads are not one snapshot: a refusal based on reads that another writer has since changed
      // is a conflict to retry, not an answer.
      if ((e instanceof ValidationError || e instanceof ObjectInUseError) && (await this.readsChanged())) {
        throw new ZooKeeperError(ZK_BAD_VERSION, 'BAD_VERSION', undefined, 'validation on stale reads');
      }
      throw e;
    }
    const ops = this.buildOps();
    if (ops.length > 0) await this.zk.multi(ops);
  }

  // --- internals ---

  private load(type: TopologyObjectType, id: Id): Promise<Snapshot> {
    const key = refKey(type, id);
    const done = this.reads.get(key);
    if (done !== undefined) return Promise.resolve(done);
    let p = this.pending.get(key);
    if (p === undefined) {
      p = this.zk.getData(this.paths.object(type, id)).then((res) => {
        let snap: Snapshot;
        if (res === undefined) snap = { version: undefined, obj: undefined, raw: undefined };
        else {
          const dec = decodeTopologyObject(type, id, res.data);
          snap = dec.ok
            ? { version: res.stat.version, obj: dec.value, raw: res.data }
            : { version: res.stat.version, obj: undefined, raw: res.data, corrupt: dec.error };
        }
        this.reads.set(key, snap);
        this.pending.delete(key);
        return snap;
      });
      this.pending.set(key, p);
    }
    return p;
  }

  private async readsChanged(): Promise<boolean> {
    const changed = await Promise.all(
      [...this.reads].map(async ([key, snap]) => {
        const [type, id] = splitKey(key);
        const stat = await this.zk.exists(this.paths.object(type, id));
        return stat?.version !== snap.version;
      }),
    );
    return changed.includes(true);
  }

  /** The objects after the transaction, as far as they were read. */
  private overlay(): InMemoryTopology {
    const objects = new Map<string, TopologyObject>();
    for (const [k, s] of this.reads) if (s.obj !== undefined) objects.set(k, s.obj);
    for (const [k, s] of this.staged) {
      if (s.obj === null) objects.delete(k);
      else objects.set(k, s.obj);
    }
    return new InMemoryTopology(objects.values());
  }

  private async validate(): Promise<void> {
    const puts = [...this.staged.values()].filter((s): s is Staged & { obj: TopologyObject } => s.obj !== null);
    if (puts.length === 0) return;
    // Load what the staged objects name (and the jump graph behind chains and rules), level by level.
    let frontier: TopologyObject[] = puts.map((s) => s.obj);
    const seen = new Set<string>(puts.map((s) => refKey(s.type, s.id)));
    for (let depth = 0; depth < VALIDATION_DEPTH && frontier.length > 0; depth++) {
      const next: ObjectRef[] = [];
      for (const obj of frontier) {
        for (const r of followForValidation(obj, depth)) {
          const k = refKey(r.type, r.id);
          if (seen.has(k)) continue;
          seen.add(k);
          next.push(r);
        }
      }
      const snaps = await Promise.all(next.map((r) => (this.staged.has(refKey(r.type, r.id)) ? undefined : this.load(r.type, r.id))));
      frontier = snaps.flatMap((s) => (s?.obj !== undefined ? [s.obj] : []));
    }
    const view = this.overlay();
    const issues: ValidationIssue[] = [];
    for (const s of puts) issues.push(...validateObject(s.obj, view));
    if (issues.length > 0) throw new ValidationError(issues);
  }

  /** A deleted object may still be named only by objects this transaction deletes or changes to stop naming it. */
  private async checkIntegrity(): Promise<void> {
    for (const s of this.staged.values()) {
      if (s.obj !== null) continue;
      const inUse: Referrer[] = [];
      for (const r of await this.referrers(s.type, s.id)) {
        const after = this.staged.get(refKey(r.type, r.id));
        // A referrer this transaction leaves alone keeps its reference znode, so it still names the object.
        const stillNames = after === undefined || (after.obj !== null && refsOf(after.obj).some((x) => x.type === s.type && x.id === s.id));
        if (stillNames) inUse.push({ objectType: r.type, id: r.id });
      }
      if (inUse.length > 0) throw new ObjectInUseError(s.type, s.id, inUse);
    }
  }

  private buildOps(): ZkOp[] {
    const checks: ZkOp[] = [];
    const creates: ZkOp[] = [];
    const updates: ZkOp[] = [];
    const refCreates: ZkOp[] = [];
    const refRemoves: ZkOp[] = [];
    const removes: ZkOp[] = [];
    for (const key of this.checked) {
      if (this.staged.has(key)) continue;
      const snap = this.reads.get(key);
      const [type, id] = splitKey(key);
      if (snap?.version !== undefined) checks.push({ op: 'check', path: this.paths.object(type, id), version: snap.version });
    }
    for (const [key, s] of this.staged) {
      const snap = this.reads.get(key);
      const path = this.paths.object(s.type, s.id);
      const before = snap?.obj;
      if (s.obj === null) {
        if (snap?.version === undefined) continue;
        removes.push({ op: 'remove', path, version: snap.version });
      } else {
        const data = encodeTopologyObject(s.obj);
        if (snap?.version === undefined) creates.push({ op: 'create', path, data });
        else if (snap.raw !== undefined && data.equals(snap.raw)) {
          checks.push({ op: 'check', path, version: snap.version });
          continue;
        } else updates.push({ op: 'setData', path, data, version: snap.version });
      }
      const oldRefs = before === undefined ? [] : refsOf(before);
      const newRefs = s.obj === null ? [] : refsOf(s.obj);
      const oldKeys = new Set(oldRefs.map((r) => refKey(r.type, r.id)));
      const newKeys = new Set(newRefs.map((r) => refKey(r.type, r.id)));
      for (const r of newRefs) {
        if (!oldKeys.has(refKey(r.type, r.id))) refCreates.push({ op: 'create', path: this.paths.ref(r.type, r.id, s.type, s.id) });
      }
      for (const r of oldRefs) {
        if (!newKeys.has(refKey(r.type, r.id))) refRemoves.push({ op: 'remove', path: this.paths.ref(r.type, r.id, s.type, s.id) });
      }
    }
    // Order matters inside a multi: a node before its children, children before their node's removal.
    const writes = [...creates, ...updates, ...refCreates, ...refRemoves, ...removes];
    return writes.length === 0 ? [] : [...checks, ...writes];
  }
}

function splitKey(key: string): [TopologyObjectType, Id] {
  const i = key.indexOf('\u0000');
  return [key.slice(0, i) as TopologyObjectType, key.slice(i + 1)];
}
