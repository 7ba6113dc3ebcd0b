// A TopologyView held in memory, with a mutation API for tests, the lab and the store's cache, and
// change events carrying the flow tags to invalidate. DESIGN: Virtual topology; Flows (tags).
import { isTopologyObjectType, objectTypeOf } from './object-type.js';
import {
  idsDiff,
  OrderedIndex,
  portGroupMemberIds,
  topologyChange,
  TypedTopologyView,
  type TopologyChange,
  type TopologyChangeListener,
  type TopologyObjectOf,
} from './topology-index.js';
import type { Id, Port, Route, TopologyObject, TopologyObjectType } from './types.js';

// Declared with the shared index logic; re-exported for the modules that import them from here.
export {
  topologyChangeTags,
  type TopologyChange,
  type TopologyChangeKind,
  type TopologyChangeListener,
  type TopologyObjectOf,
} from './topology-index.js';

export class InMemoryTopology extends TypedTopologyView {
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
  ruleGeneration = 0;

  constructor(objects: Iterable<TopologyObject> = []) {
    super();
    for (const obj of objects) this.apply(obj);
  }

  // --- TopologyView (the object getters come from TypedTopologyView) ---

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
    if (type === 'rule') this.ruleGeneration++;
    this.reindex(before, undefined);
    const change = topologyChange(type, id, before, undefined);
    if (change !== undefined) this.emit([change]);
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
    if (type === 'rule') this.ruleGeneration++;
    this.reindex(before, obj);
    return topologyChange(type, obj.id, before, obj);
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
      const { added, removed } = idsDiff(portGroupMemberIds(before), portGroupMemberIds(after));
      for (const p of removed) this.groupsByPort.remove(p, obj.id);
      for (const p of added) this.groupsByPort.set(p, obj.id, obj.id);
    }
  }
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
