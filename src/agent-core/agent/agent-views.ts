// The simulation's views in a running agent: topology from the store's watched cache, MAC and ARP
// tables from the store with this host's own learning visible at once (before ZooKeeper echoes it
// back), conntrack and NAT from the local tables, SNAT ports from the leased blocks.
import type { IpAddr, Mac } from '../packet/index.js';
import type { ArpTableView, MacTableView, NatPortAllocator, SimulationViews } from '../simulation/index.js';
import type { Id, TopologyView } from '../topology/index.js';
import type { LocalTables } from './local-tables.js';

/** Entries this host wrote to a replicated table and has not seen come back yet. */
export class PendingLearned<V> {
  private readonly map = new Map<string, V>();
  set(key: string, v: V): void {
    this.map.set(key, v);
  }
  get(key: string): V | undefined {
    return this.map.get(key);
  }
  /** The store now says something about the key: it wins from here on. */
  settle(key: string): void {
    this.map.delete(key);
  }
  get size(): number {
    return this.map.size;
  }
}

export function macKey(bridgeId: Id, vlanId: number, mac: Mac): string {
  return `${bridgeId}|${vlanId}|${mac}`;
}

export function arpKey(routerId: Id, ip: IpAddr): string {
  return `${routerId}|${ip}`;
}

export interface AgentViewSources {
  readonly topology: TopologyView;
  readonly macs: MacTableView;
  readonly arp: ArpTableView;
  readonly local: LocalTables;
  readonly natPorts: NatPortAllocator;
  readonly pendingMacs: PendingLearned<Id>;
  readonly pendingArp: PendingLearned<Mac>;
}

export function agentViews(s: AgentViewSources): SimulationViews {
  const macs: MacTableView = {
    lookup(bridgeId, vlanId, mac) {
      const pending = s.pendingMacs.get(macKey(bridgeId, vlanId, mac));
      const stored = s.macs.lookup(bridgeId, vlanId, mac);
      if (stored === undefined) return pending ?? undefined;
      return stored ?? pending ?? null;
    },
  };
  const arp: ArpTableView = {
    lookup(routerId, ip) {
      return s.arp.lookup(routerId, ip) ?? s.pendingArp.get(arpKey(routerId, ip));
    },
  };
  return { topology: s.topology, macs, arp, conntrack: s.local, nat: s.local, natPorts: s.natPorts };
}
