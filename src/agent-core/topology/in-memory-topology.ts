// A TopologyView held in memory, with a mutation API for tests, the lab and the store's cache, and
// change events carrying the flow tags to invalidate. DESIGN: Virtual topology; Flows (tags).
import { isTopologyObjectType, objectTypeOf } from './object-type.js';
import { text } from './validate-common.js';
import type {
  Bridge,
  Chain,
  Id,
  Port,
  PortGroup,
  Route,
  Router,
  Rule,
  TopologyObject,
  TopologyObjectType,
  TopologyView,
} from './types.js';

/** The stored object type for a type name. */
export type TopologyObjectOf<T extends TopologyObjectType> = T extends 'rule' ? Rule : Extract<TopologyObject, { readonly type: T }>;

export type TopologyChangeKind = 'created' | 'updated' | 'deleted';

export interface TopologyChange {
  readonly objectType: TopologyObjectType;
  readonly id: Id;
  readonly change: TopologyChangeKind;
  /**
   * Flow tags (naming of simulation/types.ts) whose flows this change may make wrong: "device:<id>";
   * for a port also its device's, for a rule its chain's, for a route "route:<router>", for a port
   * group the ports that joined or left. Both the old and the new owner when an object moved.
   */
  readonly tags: readonly string[];
}

export type TopologyChangeListener = (change: TopologyChange) => void;

const EMPTY: readonly never[] = Object.freeze([]);

/**
 * Members per owner in insertion order (an update keeps a member's place), with one frozen snapshot
 * array per owner that is rebuilt only after that owner's members changed: readers can memoize on it.
 */
class OrderedIndex<V> {
  private readonly members = new Map<Id, Map<Id, V>>();
  private readonly snapshots = new Map<Id, readonly V[]>();

  set(owner: Id, key: Id, value: V): void {
    let m = this.members.get(owner);
    if (m === undefined) {
      m = new Map();
      this.members.set(owner, m);
    } else if (m.has(key) && m.get(key) === value) {
      return;
    }
    m.set(key, value);
    this.snapshots.delete(owner);
  }

  remove(owner: Id, key: Id): void {
    const m = this.members.get(owner);
    if (m === undefined || !m.delete(key)) return;
    if (m.size === 0) this.members.delete(owner);
    this.snapshots.delete(owner);
  }

  list(owner: Id): readonly V[] {
    let s = this.snapshots.get(owner);
    if (s === undefined) {
      const m = this.members.get(owner);
      s = m === undefined ? EMPTY : Object.freeze([...m.values()]);
      this.snapshots.set(owner, s);
    }
    return s;
  }
}

export class InMemoryTopology implements TopologyView {
  private readonly maps: Readonly<Record<TopologyObjectType, Map<Id, TopologyObject>>> = {
    bridge: new Map(),
    router: new Map(),
    port: new Map(),
    chain: new Map(),
    rule: new Map(),
    portGroup: new Map(),
    route: new Map(),
  };
  private readonly portsByDevice = new OrderedIndex<Id>();
  private readonly routesByRouter = new OrderedIndex<Route>();
  private readonly groupsByPort = new OrderedIndex<Id>();
  private listeners: readonly TopologyChangeListener[] = [];

  constructor(objects: Iterable<TopologyObject> = []) {
    for (const obj of objects) this.apply(obj);
  }

  // --- TopologyView ---

  bridge(id: Id): Bridge | undefined {
    return this.get('bridge', id);
  }
  router(id: Id): Router | undefined {
    return this.get('router', id);
  }
  port(id: Id): Port | undefined {
    return this.get('port', id);
  }
  chain(id: Id): Chain | undefined {
    return this.get('chain', id);
  }
  rule(id: Id): Rule | undefined {
    return this.get('rule', id);
  }
  portGroup(id: Id): PortGroup | undefined {
    return this.get('portGroup', id);
  }

  /** `undefined` while the device itself is absent, even if ports naming it are present. */
  portsOf(deviceId: Id): readonly Id[] | undefined {
    if (!this.maps.bridge.has(deviceId) && !this.maps.router.has(deviceId)) return undefined;
    return this.portsByDevice.list(deviceId);
  }

  /** `undefined` while the router is absent. A new array after any change to one of its routes. */
  routes(routerId: Id): readonly Route[] | undefined {
    if (!this.maps.router.has(routerId)) return undefined;
    return this.routesByRouter.list(routerId);
  }

  portGroupsOf(portId: Id): readonly Id[] {
    return this.groupsByPort.list(portId);
  }

  // --- reading ---

  get<T extends TopologyObjectType>(type: T, id: Id): TopologyObjectOf<T> | undefined {
    // Safe: apply() files every object under objectTypeOf(obj).
    return this.maps[type]?.get(id) as TopologyObjectOf<T> | undefined;
  }

  /** Every object, grouped by type, each type in insertion order. */
  objects(): TopologyObject[] {
    return Object.values(this.maps).flatMap((m) => [...m.values()]);
  }

  get size(): number {
    return Object.values(this.maps).reduce((n, m) => n + m.size, 0);
  }

  // --- mutation ---

  /**
   * Stores an object (no validation: see validateObject). Putting an object equal in content to the
   * stored one keeps the stored one, changes nothing and returns undefined.
   */
  put(obj: TopologyObject): TopologyChange | undefined {
    const change = this.apply(obj);
    if (change !== undefined) this.emit([change]);
    return change;
  }

  /** Stores several objects; listeners hear about the changes once all are applied. */
  putAll(objects: Iterable<TopologyObject>): readonly TopologyChange[] {
    const changes: TopologyChange[] = [];
    for (const obj of objects) {
      const c = this.apply(obj);
      if (c !== undefined) changes.push(c);
    }
    this.emit(changes);
    return changes;
  }

  delete(type: TopologyObjectType, id: Id): TopologyChange | undefined {
    const before = this.maps[type]?.get(id);
    if (before === undefined) return undefined;
    this.maps[type].delete(id);
    this.reindex(before, undefined);
    const change: TopologyChange = { objectType: type, id, change: 'deleted', tags: topologyChangeTags(before, undefined) };
    this.emit([change]);
    return change;
  }

  /**
   * Calls `listener` after each change, in order; returns the unsubscribe function. Listeners added
   * or removed while changes are being delivered take effect from the next change set.
   */
  onChange(listener: TopologyChangeListener): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners = [...this.listeners.slice(0, i), ...this.listeners.slice(i + 1)];
    };
  }

  private emit(changes: readonly TopologyChange[]): void {
    const listeners = this.listeners;
    for (const c of changes) for (const l of listeners) l(c);
  }

  private apply(obj: TopologyObject): TopologyChange | undefined {
    const type = objectTypeOf(obj);
    // An object of no known type cannot be served by the view; validateObject reports it.
    if (!isTopologyObjectType(type)) return undefined;
    const map = this.maps[type];
    const before = map.get(obj.id);
    if (before === obj || (before !== undefined && sameJson(before, obj))) return undefined;
    map.set(obj.id, obj);
    this.reindex(before, obj);
    return {
      objectType: type,
      id: obj.id,
      change: before === undefined ? 'created' : 'updated',
      tags: topologyChangeTags(before, obj),
    };
  }

  /** Moves the object's entries in the derived indexes from `before` to `after` (either may be absent). */
  private reindex(before: TopologyObject | undefined, after: TopologyObject | undefined): void {
    const obj = after ?? before;
    if (obj === undefined) return;
    const type = objectTypeOf(obj);
    if (type === 'port') {
      const b = before as Port | undefined;
      const a = after as Port | undefined;
      if (b !== undefined && b.deviceId !== a?.deviceId) this.portsByDevice.remove(b.deviceId, b.id);
      if (a !== undefined) this.portsByDevice.set(a.deviceId, a.id, a.id);
    } else if (type === 'route') {
      const b = before as Route | undefined;
      const a = after as Route | undefined;
      if (b !== undefined && b.routerId !== a?.routerId) this.routesByRouter.remove(b.routerId, b.id);
      if (a !== undefined) this.routesByRouter.set(a.routerId, a.id, a);
    } else if (type === 'portGroup') {
      const oldPorts = memberIds(before);
      const newPorts = memberIds(after);
      for (const p of oldPorts) if (!newPorts.has(p)) this.groupsByPort.remove(p, obj.id);
      for (const p of newPorts) this.groupsByPort.set(p, obj.id, obj.id);
    }
  }
}

/** The flow tags a change from `before` to `after` touches (see TopologyChange.tags). */
export function topologyChangeTags(before: TopologyObject | undefined, after: TopologyObject | undefined): readonly string[] {
  const obj = after ?? before;
  if (obj === undefined) return EMPTY;
  const tags = new Set<string>([`device:${text(obj.id)}`]);
  const type = objectTypeOf(obj);
  for (const o of [before, after]) {
    if (o === undefined) continue;
    if (type === 'rule') tags.add(`device:${text((o as Rule).chainId)}`);
    else if (type === 'port') tags.add(`device:${text((o as Port).deviceId)}`);
    else if (type === 'route') tags.add(`route:${text((o as Route).routerId)}`);
  }
  if (type === 'portGroup') {
    const oldPorts = memberIds(before);
    const newPorts = memberIds(after);
    for (const p of oldPorts) if (!newPorts.has(p)) tags.add(`device:${p}`);
    for (const p of newPorts) if (!oldPorts.has(p)) tags.add(`device:${p}`);
  }
  return [...tags];
}

/** A port group's member ids; tolerant of a malformed group (validation reports it, indexing must not fail). */
function memberIds(group: TopologyObject | undefined): ReadonlySet<Id> {
  const ids: unknown = (group as PortGroup | undefined)?.portIds;
  return new Set(Array.isArray(ids) ? ids.filter((x): x is Id => typeof x === 'string') : []);
}

/** Equality of JSON-shaped values; a key holding undefined counts as absent, as in stored JSON. */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => sameJson(x, b[i]));
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const ka = Object.keys(ra).filter((k) => ra[k] !== undefined);
  const kb = Object.keys(rb).filter((k) => rb[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => sameJson(ra[k], rb[k]));
}
