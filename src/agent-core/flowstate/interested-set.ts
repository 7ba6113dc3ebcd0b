// Which hosts receive a flow's state (DESIGN: Flow state, Interested set): the hosts binding the
// ingress and egress ports, plus those binding any other member of a stateful port group (ingress set)
// that one of those ports belongs to; never this host. Pure: the caller supplies the views.
import type { Id, TopologyView } from '../topology/index.js';

export interface InterestedSetInput {
  readonly ingressPortId: Id;
  readonly egressPortIds: readonly Id[];
  readonly topology: Pick<TopologyView, 'portGroupsOf' | 'portGroup'>;
  /** The host that binds a port (the port's active state in the store); undefined when unbound or unknown. */
  readonly hostOfPort: (portId: Id) => Id | undefined;
  readonly localHostId: Id;
}

export interface InterestedSet {
  /** Hosts to push to, sorted, without this host. */
  readonly hosts: readonly Id[];
  /** Ports considered whose binding host is unknown: their hosts (if any) cannot be reached now. */
  readonly unboundPorts: readonly Id[];
  /** Port groups named by the topology but not loaded: members of an ingress set may be missing. */
  readonly missingGroups: readonly Id[];
}

export function resolveInterestedSet(input: InterestedSetInput): InterestedSet {
  const ports = new Set<Id>([input.ingressPortId, ...input.egressPortIds]);
  const missingGroups = new Set<Id>();
  const seenGroups = new Set<Id>();
  // Only the flow's own ports pull in groups: a member reached through a group does not pull its other groups.
  for (const portId of [input.ingressPortId, ...input.egressPortIds]) {
    for (const groupId of input.topology.portGroupsOf(portId)) {
      if (seenGroups.has(groupId)) continue;
      seenGroups.add(groupId);
      const group = input.topology.portGroup(groupId);
      if (group === undefined) {
        missingGroups.add(groupId);
        continue;
      }
      if (!group.stateful) continue;
      for (const member of group.portIds) ports.add(member);
    }
  }
  const hosts = new Set<Id>();
  const unboundPorts: Id[] = [];
  for (const portId of ports) {
    const host = input.hostOfPort(portId);
    if (host === undefined) unboundPorts.push(portId);
    else if (host !== input.localHostId) hosts.add(host);
  }
  return { hosts: [...hosts].sort(), unboundPorts: unboundPorts.sort(), missingGroups: [...missingGroups].sort() };
}
