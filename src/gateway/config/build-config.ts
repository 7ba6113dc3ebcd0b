// Turns validated, schema-defaulted data into the frozen TollgateConfig: fills the defaults that
// depend on other fields (bind address, keepalive, families), lists addresses, reads the key file.
import { dirname, join, resolve } from 'node:path';
import { addressFamily } from './formats.js';
import { type FieldProblem } from './problems.js';
import { type AddressFamily, type TollgateConfig } from './types.js';

const MIN_CLUSTER_KEY_LENGTH = 16;

export type ReadKeyFile = (path: string) => string;

type Obj = Record<string, unknown>;

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** `data` passed the schema and the rules; it is modified in place, then frozen. */
export function buildConfig(data: Obj, configFile: string, readKeyFile: ReadKeyFile): { config?: TollgateConfig; problems: FieldProblem[] } {
  const host = data.host as Obj;
  const tunnel = data.tunnel as Obj;
  tunnel.bindAddress ??= host.tunnelIp;
  if (data.bgp !== undefined) {
    const bgp = data.bgp as Obj;
    bgp.namespace ??= `tollgate-bgp-${host.id as string}`;
    (bgp.gobgpd as Obj).socket ??= join((data.flowState as Obj).stateDir as string, `gobgpd-${host.id as string}.sock`);
  }
  for (const uplink of data.uplinks as Obj[]) {
    const port = uplink.port as Obj;
    if (typeof port.address === 'string') port.address = [port.address];
    for (const peer of uplink.peers as Obj[]) {
      peer.keepalive ??= Math.floor((peer.holdTime as number) / 3);
      peer.families ??= [addressFamily(peer.address as string) as AddressFamily];
    }
  }
  const problems = readClusterKey(data.flowState as Obj, configFile, readKeyFile);
  if (problems.length > 0) return { problems };
  return { config: deepFreeze(data as unknown as TollgateConfig), problems };
}

function readClusterKey(flowState: Obj, configFile: string, readKeyFile: ReadKeyFile): FieldProblem[] {
  if (typeof flowState.clusterKeyFile !== 'string') return [];
  const path = resolve(dirname(configFile), flowState.clusterKeyFile);
  const at = ['flowState', 'clusterKeyFile'];
  let key: string;
  try {
    key = readKeyFile(path).trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    return [{ path: at, anchor: 'value', message: `cannot read ${path} (${code})` }];
  }
  if (key.length < MIN_CLUSTER_KEY_LENGTH) {
    return [{ path: at, anchor: 'value', message: `${path} holds a key of ${key.length} characters; at least ${MIN_CLUSTER_KEY_LENGTH} are needed` }];
  }
  flowState.clusterKeyFile = path;
  flowState.clusterKey = key;
  return [];
}
