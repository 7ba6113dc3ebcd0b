// Topology storage in ZooKeeper: CRUD of every object type and the multi-object changes users make
// (a device with its ports, peering, rule insertion, cascading deletes), each one optimistic
// transaction retried a bounded number of times on conflict. DESIGN: Store (ZooKeeper) /topology.
import {
  objectTypeOf,
  TOPOLOGY_OBJECT_TYPES,
  type Bridge,
  type Id,
  type Port,
  type Router,
  type Rule,
  type TopologyObject,
  type TopologyObjectOf,
  type TopologyObjectType,
} from '../topology/index.js';
import { decodeTopologyObject } from './codec.js';
import {
  ConcurrentModificationError,
  CorruptObjectError,
  ObjectExistsError,
  ObjectInUseError,
  ObjectNotFoundError,
  PortPeeredError,
  type Referrer,
} from './errors.js';
import { storeLogger, type Logger } from './log.js';
import { decodeId, StorePaths } from './paths.js';
import { TopologyTransaction } from './topology-txn.js';
import { zkErrorCode, ZK_BAD_VERSION, ZK_NO_NODE, ZK_NODE_EXISTS, ZK_NOT_EMPTY, type ZkClient } from './zk-client.js';

export interface TopologyStoreOptions {
  readonly root?: string;
  /** Attempts of one change before ConcurrentModificationError. */
  readonly maxAttempts?: number;
  readonly logger?: Logger;
}

export interface StoredTopologyObject<T extends TopologyObject = TopologyObject> {
  readonly object: T;
  /** The znode's data version (for update's expectedVersion). */
  readonly version: number;
}

/** Codes that mean "someone else changed what this transaction read": read again and retry. */
const CONFLICTS = new Set([ZK_BAD_VERSION, ZK_NODE_EXISTS, ZK_NO_NODE, ZK_NOT_EMPTY]);

export class TopologyStore {
  readonly paths: StorePaths;
  private readonly maxAttempts: number;
  private readonly log: Logger;

  constructor(
    private readonly zk: ZkClient,
    options: TopologyStoreOptions = {},
  ) {
    this.paths = new StorePaths(options.root);
    this.maxAttempts = options.maxAttempts ?? 64;
    this.log = storeLogger(options.logger, 'topology-store');
  }

  /** Creates the type directories (idempotent). */
  async ensureLayout(): Promise<void> {
    for (const type of TOPOLOGY_OBJECT_TYPES) await this.zk.mkdirp(this.paths.typeDir(type));
  }

  // --- reads ---

  async get<T extends TopologyObjectType>(type: T, id: Id): Promise<StoredTopologyObject<TopologyObjectOf<T>> | undefined> {
    const res = await this.zk.getData(this.paths.object(type, id));
    if (res === undefined) return undefined;
    const dec = decodeTopologyObject(type, id, res.data);
    if (!dec.ok) throw new CorruptObjectError(type, id, dec.error);
    return { object: dec.value as TopologyObjectOf<T>, version: res.stat.version };
  }

  /** Ids of every stored object of a type. */
  async list(type: TopologyObjectType): Promise<Id[]> {
    const res = await this.zk.getChildren(this.paths.typeDir(type));
    return (res?.children ?? []).map(decodeId).sort();
  }

  // --- single objects ---

  async create(obj: TopologyObject): Promise<void> {
    await this.transact(`create ${objectTypeOf(obj)} ${obj.id}`, async (tx) => {
      await createIn(tx, obj);
    });
  }

  /**
   * Replaces a stored object; with expectedVersion, only if its znode is still at that version
   * (ConcurrentModificationError otherwise, without retrying over the newer write).
   */
  async update(obj: TopologyObject, expectedVersion?: number): Promise<void> {
    const type = objectTypeOf(obj);
    await this.transact(`update ${type} ${obj.id}`, async (tx, attempt) => {
      const version = await tx.version(type, obj.id);
      if (version === undefined) throw new ObjectNotFoundError(type, obj.id);
      if (expectedVersion !== undefined && version !== expectedVersion) {
        throw new ConcurrentModificationError(attempt, `update of ${type} ${obj.id} at version ${expectedVersion} (it is at ${version})`);
      }
      tx.put(obj);
    });
  }

  /** Creates or replaces. */
  async put(obj: TopologyObject): Promise<void> {
    await this.transact(`put ${objectTypeOf(obj)} ${obj.id}`, async (tx) => {
      await tx.get(objectTypeOf(obj), obj.id);
      tx.put(obj);
    });
  }

  /**
   * Deletes an object with the cascades users expect: a bridge or router takes its ports (and a
   * router its routes) along, a chain its rules, a port the routes through it and its place in port
   * groups, a rule its place in its chain. Refused with PortPeeredError for a peered port and
   * ObjectInUseError while anything else still names what would be deleted.
   */
  async delete(type: TopologyObjectType, id: Id): Promise<void> {
    await this.transact(`delete ${type} ${id}`, async (tx) => {
      if ((await tx.get(type, id)) === undefined) throw new ObjectNotFoundError(type, id);
      await deleteCascade(tx, type, id);
    });
  }

  // --- multi-object changes ---

  /** A bridge or router together with its ports, all or nothing. */
  async createDevice(device: Bridge | Router, ports: readonly Port[]): Promise<void> {
    await this.transact(`create ${device.type} ${device.id} with ${ports.length} ports`, async (tx) => {
      await createIn(tx, device);
      for (const p of ports) await createIn(tx, p);
    });
  }

  /** Links two ports (both updated together). Refused if either is peered to a third port. */
  async peerPorts(portId: Id, peerId: Id): Promise<void> {
    await this.transact(`peer ports ${portId} and ${peerId}`, async (tx) => {
      const [a, b] = await Promise.all([tx.get('port', portId), tx.get('port', peerId)]);
      if (a === undefined) throw new ObjectNotFoundError('port', portId);
      if (b === undefined) throw new ObjectNotFoundError('port', peerId);
      if (a.peerId !== undefined && a.peerId !== peerId) throw new PortPeeredError(portId, a.peerId, `peering it with port ${peerId}`);
      if (b.peerId !== undefined && b.peerId !== portId) throw new PortPeeredError(peerId, b.peerId, `peering it with port ${portId}`);
      tx.put({ ...a, peerId });
      tx.put({ ...b, peerId: portId });
    });
  }

  /** Unlinks a port from its peer (both updated together); a port without a peer is left alone. */
  async unpeerPort(portId: Id): Promise<void> {
    await this.transact(`unpeer port ${portId}`, async (tx) => {
      const a = await tx.get('port', portId);
      if (a === undefined) throw new ObjectNotFoundError('port', portId);
      if (a.peerId === undefined) return;
      const b = await tx.get('port', a.peerId);
      tx.put(withoutKey(a, 'peerId'));
      if (b !== undefined && b.peerId === portId) tx.put(withoutKey(b, 'peerId'));
    });
  }

  /** Creates a rule and lists it in its chain at `position` (default: last), together. */
  async insertRule(rule: Rule, position?: number): Promise<void> {
    await this.transact(`insert rule ${rule.id} into chain ${rule.chainId}`, async (tx) => {
      const chain = await tx.get('chain', rule.chainId);
      if (chain === undefined) throw new ObjectNotFoundError('chain', rule.chainId);
      await createIn(tx, rule);
      const ids = [...chain.ruleIds];
      ids.splice(position === undefined ? ids.length : Math.max(0, Math.min(position, ids.length)), 0, rule.id);
      tx.put({ ...chain, ruleIds: ids });
    });
  }

  /**
   * Runs `fn` in a fresh transaction and commits it; on a conflict (another writer changed what it
   * read) runs it again, up to maxAttempts. `fn` must only read through `tx` and may run several times.
   */
  async transact<T>(what: string, fn: (tx: TopologyTransaction, attempt: number) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const tx = new TopologyTransaction(this.zk, this.paths);
      const result = await fn(tx, attempt);
      try {
        await tx.commit();
        return result;
      } catch (e) {
        const code = zkErrorCode(e);
        if (code === undefined || !CONFLICTS.has(code)) throw e;
        if (attempt >= this.maxAttempts) throw new ConcurrentModificationError(attempt, what);
        this.log.debug({ what, attempt, code }, 'conflict; retrying');
        // Jitter spreads writers that collided so that the next round has a winner.
        await sleep(Math.random() * Math.min(2 ** attempt, 50));
      }
    }
  }
}

async function createIn(tx: TopologyTransaction, obj: TopologyObject): Promise<void> {
  const type = objectTypeOf(obj);
  if ((await tx.get(type, obj.id)) !== undefined) throw new ObjectExistsError(type, obj.id);
  tx.put(obj);
}

async function deleteCascade(tx: TopologyTransaction, type: TopologyObjectType, id: Id): Promise<void> {
  if (tx.isDeleted(type, id)) return;
  const obj = await tx.get(type, id);
  if (obj === undefined) return;
  if (type === 'port' && (obj as Port).peerId !== undefined) throw new PortPeeredError(id, (obj as Port).peerId as Id, 'deleting it');
  tx.delete(type, id);
  const inUse: Referrer[] = [];
  for (const r of await tx.referrers(type, id)) {
    if (tx.isDeleted(r.type, r.id)) continue;
    const ref = await tx.get(r.type, r.id);
    if (ref === undefined) continue;
    const action = cascadeAction(type, id, ref);
    if (action === 'delete') await deleteCascade(tx, r.type, r.id);
    else if (action !== undefined) tx.put(action);
    else inUse.push({ objectType: r.type, id: r.id });
  }
  if (inUse.length > 0) throw new ObjectInUseError(type, id, inUse);
}

/** What happens to `ref`, which names the object being deleted: deleted too, rewritten, or (undefined) it blocks the delete. */
function cascadeAction(type: TopologyObjectType, id: Id, ref: TopologyObject): 'delete' | TopologyObject | undefined {
  const refType = objectTypeOf(ref);
  if ((type === 'bridge' || type === 'router') && refType === 'port' && (ref as Port).deviceId === id) return 'delete';
  if (type === 'router' && refType === 'route' && (ref as { routerId: Id }).routerId === id) return 'delete';
  if (type === 'port' && refType === 'route' && (ref as { egressPortId?: Id }).egressPortId === id) return 'delete';
  if (type === 'port' && refType === 'portGroup') {
    const g = ref as TopologyObjectOf<'portGroup'>;
    return { ...g, portIds: g.portIds.filter((p) => p !== id) };
  }
  if (type === 'chain' && refType === 'rule' && (ref as Rule).chainId === id) return 'delete';
  if (type === 'rule' && refType === 'chain') {
    const c = ref as TopologyObjectOf<'chain'>;
    return { ...c, ruleIds: c.ruleIds.filter((r) => r !== id) };
  }
  return undefined;
}

function withoutKey<T extends object, K extends keyof T>(obj: T, key: K): T {
  const copy = { ...obj };
  delete copy[key];
  return copy;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
