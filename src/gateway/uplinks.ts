// Uplinks from the YAML into the store (DESIGN: Gateway roles, Uplinks): the provider router's
// port each uplink carries exists with the configured addresses and MAC, is bound to this host and
// its interface, and is a member of the named ingress set (a stateful port group, created when
// missing). Desired state is computed, then only the difference is written, in one transaction.
import type { TopologyStore } from '../agent-core/store/index.js';
import type { Id, Port, PortGroup } from '../agent-core/topology/index.js';
import type { UplinkConfig } from './config/index.js';

export class UplinkConfigError extends Error {
  override readonly name = 'UplinkConfigError';
}

export interface UplinkReconcileResult {
  /** Ports created or changed. */
  readonly portsWritten: Id[];
  /** Ingress sets created or whose membership changed. */
  readonly groupsWritten: Id[];
}

/** The port an uplink describes, keeping what the store holds beyond the uplink's fields (chains, MTU). */
export function desiredUplinkPort(u: UplinkConfig, hostId: Id, current: Port | undefined): Port {
  return {
    ...current,
    type: 'port', id: u.port.id, deviceId: u.router, deviceType: 'router', adminStateUp: current?.adminStateUp ?? true,
    hostId, interfaceName: u.interface, addresses: [...u.port.address], mac: u.port.mac,
  };
}

/** The ingress set with the uplink's port in it (created stateful when missing). */
export function desiredIngressSet(groupId: Id, portIds: readonly Id[], current: PortGroup | undefined): PortGroup {
  const members = new Set(current?.portIds ?? []);
  for (const p of portIds) members.add(p);
  return { ...current, type: 'portGroup', id: groupId, stateful: true, portIds: [...members] };
}

function samePort(a: Port | undefined, b: Port): boolean {
  return a !== undefined && JSON.stringify({ ...a, addresses: [...(a.addresses ?? [])].sort() }) === JSON.stringify({ ...b, addresses: [...(b.addresses ?? [])].sort() });
}

/**
 * Writes what differs. Uplinks removed from the config are left in the store (their port may be
 * routed to); the agent just stops binding them.
 */
export async function reconcileUplinks(store: TopologyStore, uplinks: readonly UplinkConfig[], hostId: Id): Promise<UplinkReconcileResult> {
  if (uplinks.length === 0) return { portsWritten: [], groupsWritten: [] };
  return store.transact(`reconcile ${uplinks.length} uplinks of ${hostId}`, async (tx) => {
    const portsWritten: Id[] = [];
    const groupsWritten: Id[] = [];
    const byGroup = new Map<Id, Id[]>();
    for (const u of uplinks) {
      const router = await tx.get('router', u.router);
      if (router === undefined) throw new UplinkConfigError(`uplink ${u.name}: router ${u.router} does not exist in the topology`);
      const current = await tx.get('port', u.port.id);
      if (current !== undefined && (current.deviceId !== u.router || current.peerId !== undefined)) {
        throw new UplinkConfigError(`uplink ${u.name}: port ${u.port.id} exists as ${current.peerId !== undefined ? 'an interior port' : `a port of ${current.deviceId}`}, not an exterior port of router ${u.router}`);
      }
      if (current?.hostId !== undefined && current.hostId !== hostId) {
        throw new UplinkConfigError(`uplink ${u.name}: port ${u.port.id} is bound to host ${current.hostId}, not ${hostId}`);
      }
      const want = desiredUplinkPort(u, hostId, current);
      if (!samePort(current, want)) {
        tx.put(want);
        portsWritten.push(want.id);
      }
      if (u.ingressSet !== undefined) byGroup.set(u.ingressSet, [...(byGroup.get(u.ingressSet) ?? []), u.port.id]);
    }
    for (const [groupId, portIds] of byGroup) {
      const current = await tx.get('portGroup', groupId);
      if (current !== undefined && !current.stateful) throw new UplinkConfigError(`ingress set ${groupId} exists as a port group that is not stateful`);
      const want = desiredIngressSet(groupId, portIds, current);
      if (current === undefined || want.portIds.length !== current.portIds.length) {
        tx.put(want);
        groupsWritten.push(groupId);
      }
    }
    return { portsWritten, groupsWritten };
  });
}
