// What every TopologyView implementation shares (the in-memory view and the store's watched cache):
// typed object access, the derived per-owner indexes and the flow tags of a change. DESIGN: Virtual topology; Flows (tags).
import { objectTypeOf } from './object-type.js';
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
 * The object getters of a TopologyView, served from one typed `get`: a view implements `get` and
 * the derived lists (portsOf, routes, portGroupsOf).
 */
export abstract class TypedTopologyView implements TopologyView {
  protected abstract get<T extends TopologyObjectType>(type: T, id: Id): TopologyObjectOf<T> | undefined;
  abstract portsOf(deviceId: Id): readonly Id[] | undefined;
  abstract routes(routerId: Id): readonly Route[] | undefined;
  abstract portGroupsOf(portId: Id): readonly Id[];

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
}

/**
 * Members per owner in insertion order (an update keeps a member's place), with one frozen snapshot
 * array per owner that is rebuilt only after that owner's members changed: readers can memoize on it.
 */
export class OrderedIndex<V> {
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

/** `prev` itself when `next` holds the same ids in the same order, else `next` frozen: derived lists keep their identity while unchanged. */
export function stableIds(prev: readonly Id[] | undefined, next: Id[]): readonly Id[] {
  return prev !== undefined && sameIds(prev, next) ? prev : Object.freeze(next);
}

export function sameIds(a: readonly Id[], b: readonly Id[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The ids that joined (in `next`'s order) and those that left (in `prev`'s order). */
export function idsDiff(prev: Iterable<Id>, next: Iterable<Id>): { readonly added: Id[]; readonly removed: Id[] } {
  const p = [...prev];
  const n = [...next];
  const pSet = new Set(p);
  const nSet = new Set(n);
  return { added: n.filter((x) => !pSet.has(x)), removed: p.filter((x) => !nSet.has(x)) };
}

/** The change from `before` to `after` (either may be absent) with its tags; undefined when both are absent. */
export function topologyChange(
  objectType: TopologyObjectType,
  id: Id,
  before: TopologyObject | undefined,
  after: TopologyObject | undefined,
): TopologyChange | undefined {
  if (before === undefined && after === undefined) return undefined;
  const change: TopologyChangeKind = before === undefined ? 'created' : after === undefined ? 'deleted' : 'updated';
  return { objectType, id, change, tags: topologyChangeTags(before, after) };
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
    const { added, removed } = idsDiff(portGroupMemberIds(before), portGroupMemberIds(after));
    for (const p of removed) tags.add(`device:${p}`);
    for (const p of added) tags.add(`device:${p}`);
  }
  return [...tags];
}

/** A port group's member ids; tolerant of a malformed group (validation reports it, indexing must not fail). */
export function portGroupMemberIds(group: TopologyObject | undefined): ReadonlySet<Id> {
  const ids: unknown = (group as PortGroup | undefined)?.portIds;
  return new Set(Array.isArray(ids) ? ids.filter((x): x is Id => typeof x === 'string') : []);
}
