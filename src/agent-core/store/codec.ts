// What a znode holds: JSON with a schema version. Topology objects are checked on the way in (type,
// id, schema version, validateObject) so that foreign or malformed data is refused, not served.
// DESIGN: Store (ZooKeeper) — /topology/{type}/{id} is one object, JSON with a schema version.
import {
  formatIssues,
  objectTypeOf,
  TOPOLOGY_SCHEMA_VERSION,
  validateObject,
  type Id,
  type TopologyObject,
  type TopologyObjectType,
} from '../topology/index.js';

/** Version of the JSON of the state tables (hosts, ports, learned routes, NAT records). */
export const STATE_SCHEMA_VERSION = 1;

export function encodeTopologyObject(obj: TopologyObject): Buffer {
  return Buffer.from(JSON.stringify({ schemaVersion: TOPOLOGY_SCHEMA_VERSION, object: obj }));
}

export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

/** Parses the envelope {schemaVersion, <field>} written by encodeState/encodeTopologyObject. */
function parseEnvelope(data: Buffer, expectedVersion: number, field: string): Decoded<unknown> {
  if (data.length === 0) return { ok: false, error: 'the znode is empty' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.toString('utf8'));
  } catch (e) {
    return { ok: false, error: `not JSON (${(e as Error).message})` };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { ok: false, error: 'not a JSON object' };
  const env = parsed as Record<string, unknown>;
  if (env.schemaVersion !== expectedVersion) {
    return { ok: false, error: `schema version ${JSON.stringify(env.schemaVersion) ?? 'missing'}, expected ${expectedVersion}` };
  }
  if (!(field in env)) return { ok: false, error: `no "${field}" field` };
  return { ok: true, value: env[field] };
}

/** A stored topology object, or why it cannot be used. Checks the object's own fields only (no references). */
export function decodeTopologyObject(type: TopologyObjectType, id: Id, data: Buffer): Decoded<TopologyObject> {
  const env = parseEnvelope(data, TOPOLOGY_SCHEMA_VERSION, 'object');
  if (!env.ok) return env;
  const obj = env.value;
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return { ok: false, error: '"object" is not a JSON object' };
  const candidate = obj as TopologyObject;
  const actualType = objectTypeOf(candidate);
  if (actualType !== type) return { ok: false, error: `holds a ${String(actualType)}, not a ${type}` };
  if (candidate.id !== id) return { ok: false, error: `holds id ${JSON.stringify(candidate.id)}, not ${JSON.stringify(id)}` };
  const issues = validateObject(candidate);
  if (issues.length > 0) return { ok: false, error: `invalid: ${formatIssues(issues).replace(/\n/g, '; ')}` };
  return { ok: true, value: candidate };
}

export function encodeState(field: string, value: unknown): Buffer {
  return Buffer.from(JSON.stringify({ schemaVersion: STATE_SCHEMA_VERSION, [field]: value }));
}

export function decodeState(data: Buffer, field: string): Decoded<unknown> {
  return parseEnvelope(data, STATE_SCHEMA_VERSION, field);
}
