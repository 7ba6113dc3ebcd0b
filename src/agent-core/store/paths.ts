// The znode layout of the network state database under one root (DESIGN: Store (ZooKeeper) table).
// Every id is encoded so that any id text makes one path component.
import type { Id, TopologyObjectType } from '../topology/index.js';
import { InvalidIdError } from './errors.js';

export const DEFAULT_STORE_ROOT = '/tollgate';

/**
 * One path component from an id. encodeURIComponent keeps ordinary ids (uuids, names with dashes)
 * as they are and escapes '/', ',' and ':' — the separators of the layout — so names split safely.
 */
export function encodeId(id: Id): string {
  if (typeof id !== 'string' || id === '' || id === '.' || id === '..') throw new InvalidIdError(id);
  return encodeURIComponent(id);
}

/** The id of a path component; a component that is not valid percent-encoding is taken as it is. */
export function decodeId(component: string): Id {
  try {
    return decodeURIComponent(component);
  } catch {
    return component;
  }
}

/**
 * A reference znode name: "{referrerType}:{encodedReferrerId}", a child of the referenced object's
 * znode. The encoded id never holds ':', so the first ':' splits.
 */
export function refName(type: TopologyObjectType, id: Id): string {
  return `${type}:${encodeId(id)}`;
}

export function parseRefName(name: string): { readonly type: string; readonly id: Id } | undefined {
  const i = name.indexOf(':');
  if (i <= 0) return undefined;
  return { type: name.slice(0, i), id: decodeId(name.slice(i + 1)) };
}

export class StorePaths {
  readonly root: string;

  constructor(root: string = DEFAULT_STORE_ROOT) {
    if (!root.startsWith('/') || (root.length > 1 && root.endsWith('/'))) {
      throw new Error(`store root ${JSON.stringify(root)} must start with '/' and not end with one`);
    }
    this.root = root === '/' ? '' : root;
  }

  // --- topology ---

  topologyDir(): string {
    return `${this.root}/topology`;
  }
  typeDir(type: TopologyObjectType): string {
    return `${this.root}/topology/${type}`;
  }
  object(type: TopologyObjectType, id: Id): string {
    return `${this.root}/topology/${type}/${encodeId(id)}`;
  }
  /** The reference znode recording that `referrer` names `target`. */
  ref(targetType: TopologyObjectType, targetId: Id, referrerType: TopologyObjectType, referrerId: Id): string {
    return `${this.object(targetType, targetId)}/${refName(referrerType, referrerId)}`;
  }

  // --- MAC and ARP tables ---

  macVlanDir(bridgeId: Id, vlanId: number): string {
    return `${this.root}/tables/bridges/${encodeId(bridgeId)}/mac/${vlanId}`;
  }
  arpDir(routerId: Id): string {
    return `${this.root}/tables/routers/${encodeId(routerId)}/arp`;
  }

  // --- learned routes ---

  routesDir(routerId: Id): string {
    return `${this.root}/tables/routers/${encodeId(routerId)}/routes`;
  }
  routesHostDir(routerId: Id, hostId: Id): string {
    return `${this.routesDir(routerId)}/${encodeId(hostId)}`;
  }

  // --- host and port state ---

  hostsDir(): string {
    return `${this.root}/state/hosts`;
  }
  host(hostId: Id): string {
    return `${this.hostsDir()}/${encodeId(hostId)}`;
  }
  portStateDir(portId: Id): string {
    return `${this.root}/state/ports/${encodeId(portId)}`;
  }
  portActive(portId: Id): string {
    return `${this.portStateDir(portId)}/active`;
  }

  // --- NAT leases ---

  natIpDir(deviceId: Id, ipText: string): string {
    return `${this.root}/nat/${encodeId(deviceId)}/${encodeId(ipText)}`;
  }
  natBlock(deviceId: Id, ipText: string, block: number): string {
    return `${this.natIpDir(deviceId, ipText)}/${block}`;
  }
}

/** The last component of a path. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
