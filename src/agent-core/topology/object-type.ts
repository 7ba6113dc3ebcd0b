// Telling stored objects apart: their type name (as in /topology/{type}/{id}) and a label for people.
// DESIGN: Virtual topology; Store (ZooKeeper) paths.
import type { TopologyObject, TopologyObjectType } from './types.js';

export const TOPOLOGY_OBJECT_TYPES: readonly TopologyObjectType[] = [
  'bridge',
  'router',
  'port',
  'chain',
  'rule',
  'portGroup',
  'route',
];

/** How messages name each type ("port group pg1", not "portGroup pg1"). */
export const OBJECT_TYPE_LABEL: Readonly<Record<TopologyObjectType, string>> = {
  bridge: 'bridge',
  router: 'router',
  port: 'port',
  chain: 'chain',
  rule: 'rule',
  portGroup: 'port group',
  route: 'route',
};

/**
 * Rules have no `type` field (their `kind` says what they do); every other object has one. An
 * object read from outside may carry a type that is none of these: check with isTopologyObjectType.
 */
export function objectTypeOf(obj: TopologyObject): TopologyObjectType {
  return 'type' in obj && obj.type !== undefined ? obj.type : 'rule';
}

export function isTopologyObjectType(s: unknown): s is TopologyObjectType {
  return typeof s === 'string' && (TOPOLOGY_OBJECT_TYPES as readonly string[]).includes(s);
}
