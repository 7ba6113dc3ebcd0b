// Which stored objects an object names. Each reference is mirrored by a child znode of the named
// object ("{type}:{id}" of the referrer), so ZooKeeper itself refuses to delete an object still named
// (NOT_EMPTY) and to name an object being deleted (NO_NODE), and a device's ports, a router's routes
// and a port's groups are one getChildren away. DESIGN: Store (referential integrity under multi).
import { objectTypeOf, type Id, type TopologyObject, type TopologyObjectType } from '../topology/index.js';

export interface ObjectRef {
  readonly type: TopologyObjectType;
  readonly id: Id;
}

export function refKey(type: TopologyObjectType, id: Id): string {
  return `${type}\u0000${id}`;
}

const str = (v: unknown): v is string => typeof v === 'string' && v !== '';

/** The objects `obj` names, each once (an object naming one chain twice holds one reference). */
export function refsOf(obj: TopologyObject): ObjectRef[] {
  const out = new Map<string, ObjectRef>();
  const add = (type: TopologyObjectType, id: unknown): void => {
    if (str(id)) out.set(refKey(type, id), { type, id });
  };
  const o = obj as unknown as Record<string, unknown>;
  switch (objectTypeOf(obj)) {
    case 'bridge':
      add('chain', o.inboundChainId);
      add('chain', o.outboundChainId);
      break;
    case 'router':
      add('chain', o.preRoutingChainId);
      add('chain', o.postRoutingChainId);
      break;
    case 'port':
      add(o.deviceType === 'router' ? 'router' : 'bridge', o.deviceId);
      add('port', o.peerId);
      add('chain', o.inboundChainId);
      add('chain', o.outboundChainId);
      break;
    case 'chain':
      for (const r of list(o.ruleIds)) add('rule', r);
      break;
    case 'rule': {
      add('chain', o.chainId);
      add('chain', o.jumpChainId);
      const c = (typeof o.condition === 'object' && o.condition !== null ? o.condition : {}) as Record<string, unknown>;
      for (const f of ['inPorts', 'outPorts']) for (const p of list(valueOf(c[f]))) add('port', p);
      add('portGroup', valueOf(c.inPortGroup));
      add('portGroup', valueOf(c.outPortGroup));
      break;
    }
    case 'portGroup':
      for (const p of list(o.portIds)) add('port', p);
      break;
    case 'route':
      add('router', o.routerId);
      add('port', o.egressPortId);
      break;
  }
  // A self-reference (refused by validation anyway) would make the object undeletable.
  out.delete(refKey(objectTypeOf(obj), obj.id));
  return [...out.values()];
}

function list(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : [];
}

function valueOf(v: unknown): unknown {
  return typeof v === 'object' && v !== null ? (v as { value?: unknown }).value : undefined;
}

/**
 * Which references the validator follows beyond the first level: a port's peer's device (VLAN
 * mapping), and the chain/rule graph (jump loops).
 */
export function followForValidation(obj: TopologyObject, depth: number): ObjectRef[] {
  const type = objectTypeOf(obj);
  if (depth === 0) return refsOf(obj);
  if (type === 'chain') return refsOf(obj).filter((r) => r.type === 'rule');
  if (type === 'rule') return refsOf(obj).filter((r) => r.type === 'chain');
  if (type === 'port' && depth === 1) return refsOf(obj).filter((r) => r.type === 'bridge' || r.type === 'router');
  return [];
}
